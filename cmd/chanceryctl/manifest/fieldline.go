package manifest

import (
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/chancery-xds/chancery/storage/model"
)

// yamlText is one YAML document of a file as written, kept so that an
// error naming a field can name the field's line too. It is parsed only
// when an error asks.
type yamlText struct {
	text  []byte
	first int // line of text's first line in the file, 1-based

	once sync.Once
	root *yaml.Node // the document's top node; nil if it does not parse
}

// yamlRef is one document of a yamlText: the text itself, or one item of
// a top-level list of documents.
type yamlRef struct {
	doc  *yamlText
	item int // -1: the whole text
}

func (t *yamlText) top() *yaml.Node {
	t.once.Do(func() {
		var n yaml.Node
		if yaml.Unmarshal(t.text, &n) == nil && n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
			t.root = n.Content[0]
		}
	})
	return t.root
}

// fieldLine is the line in the file of the field a model.FieldError
// names: under spec, where the model's paths start, or else at the top
// of the document (the envelope's own fields). A field that is missing
// gets the line of its nearest ancestor that is there. 0 if unknown.
func (r *yamlRef) fieldLine(field string) int {
	if r == nil || field == "" {
		return 0
	}
	node := r.doc.top()
	if r.item >= 0 {
		if node == nil || node.Kind != yaml.SequenceNode || r.item >= len(node.Content) {
			return 0
		}
		node = node.Content[r.item]
	}
	path, ok := parseFieldPath(field)
	if !ok || node == nil {
		return 0
	}
	line := 0
	if spec, _ := child(node, pathStep{name: "spec"}); spec != nil {
		line = lineOf(spec, path)
	}
	if line == 0 {
		line = lineOf(node, path)
	}
	if line == 0 {
		return 0
	}
	return r.doc.first + line - 1
}

// pathStep is one step of a model field path: a field or map key, or a
// list index.
type pathStep struct {
	name    string
	index   int
	isIndex bool
}

// parseFieldPath reads the paths the model writes:
// virtual_hosts[0].routes[1].retries, metadata["team"], "odd key".x.
func parseFieldPath(p string) ([]pathStep, bool) {
	var steps []pathStep
	for p != "" {
		switch {
		case p[0] == '.' && len(steps) > 0:
			p = p[1:]
			continue
		case p[0] == '[' && len(p) > 1 && p[1] == '"':
			q, err := strconv.QuotedPrefix(p[1:])
			if err != nil || !strings.HasPrefix(p[1+len(q):], "]") {
				return nil, false
			}
			key, _ := strconv.Unquote(q) // QuotedPrefix found a valid literal
			steps = append(steps, pathStep{name: key})
			p = p[len(q)+2:]
		case p[0] == '[':
			end := strings.IndexByte(p, ']')
			i, err := strconv.Atoi(p[1:max(end, 1)])
			if end < 0 || err != nil {
				return nil, false
			}
			steps = append(steps, pathStep{index: i, isIndex: true})
			p = p[end+1:]
		case p[0] == '"':
			q, err := strconv.QuotedPrefix(p)
			if err != nil {
				return nil, false
			}
			name, _ := strconv.Unquote(q)
			steps = append(steps, pathStep{name: name})
			p = p[len(q):]
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			steps = append(steps, pathStep{name: p[:end]})
			p = p[end:]
		}
	}
	return steps, len(steps) > 0
}

// lineOf follows path from node and returns the line of the last step
// found (a map key's line for a field), or 0 if not even the first is.
func lineOf(node *yaml.Node, path []pathStep) int {
	line := 0
	for _, step := range path {
		next, at := child(node, step)
		if next == nil {
			break
		}
		node, line = next, at
	}
	return line
}

// child returns the value at one step from node and the line that names
// it: the key's line in a mapping, the item's in a list.
func child(node *yaml.Node, step pathStep) (*yaml.Node, int) {
	if node.Kind == yaml.AliasNode && node.Alias != nil {
		node = node.Alias
	}
	switch {
	case step.isIndex && node.Kind == yaml.SequenceNode:
		if step.index < 0 || step.index >= len(node.Content) {
			return nil, 0
		}
		item := node.Content[step.index]
		return item, item.Line
	case !step.isIndex && node.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			if k := node.Content[i]; k.Value == step.name {
				return node.Content[i+1], k.Line
			}
		}
	}
	return nil, 0
}

// annotate writes each field error of err with its line:
// "field routes[1].retries.num_retry (line 20): unknown field".
func (r *yamlRef) annotate(err error) string {
	msg := err.Error()
	if r == nil {
		return msg
	}
	seen := map[string]bool{}
	for _, fe := range fieldErrors(err, nil) {
		if seen[fe.Field] {
			continue
		}
		seen[fe.Field] = true
		if line := r.fieldLine(fe.Field); line > 0 {
			at := &model.FieldError{Field: fe.Field + " (line " + strconv.Itoa(line) + ")", Msg: fe.Msg}
			msg = strings.ReplaceAll(msg, fe.Error(), at.Error())
		}
	}
	return msg
}

// fieldErrors collects every model.FieldError in err's tree.
func fieldErrors(err error, out []*model.FieldError) []*model.FieldError {
	switch e := err.(type) {
	case nil:
	case *model.FieldError:
		out = append(out, e)
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			out = fieldErrors(inner, out)
		}
	case interface{ Unwrap() error }:
		out = fieldErrors(e.Unwrap(), out)
	}
	return out
}

// ref is the item'th document of t (-1: t itself); nil without a text.
func (t *yamlText) ref(item int) *yamlRef {
	if t == nil {
		return nil
	}
	return &yamlRef{doc: t, item: item}
}
