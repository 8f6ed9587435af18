package model

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// encoding/json is lenient where Chancery must not be: it matches field
// names case-insensitively ("PROTOCOL" sets protocol), keeps the last of
// duplicate keys and replaces invalid UTF-8 with U+FFFD, each silently. The
// strict pass below walks a value along the Go type it decodes into and
// refuses all three before encoding/json sees the value, with the full
// field path (virtual_hosts[0].routes[1].retries). It also checks each
// value's JSON type, so a wrong type names its path with list indexes,
// which encoding/json's own error leaves out.
//
// It scans the bytes itself (strict_scan.go) rather than reading
// json.Decoder's tokens: the token API allocates for every token, and a
// pass on it cost more than encoding/json's whole decode of a typical route
// table (BenchmarkDecodeRouteTable compares the two). Anything that is not
// well-formed JSON stops the pass, and encoding/json reports the syntax
// error as it always has.

// strictCheck returns every field error of data against t's JSON shape, or
// ok false if data does not start with one well-formed JSON value.
func strictCheck(data []byte, t reflect.Type) (errs FieldErrors, ok bool) {
	w := &walker{data: data}
	if !w.value(shapeOf(t)) {
		return nil, false
	}
	return w.errs, true
}

// walker reads one JSON value byte by byte. Its methods report false on
// malformed JSON, which ends the walk.
type walker struct {
	data  []byte
	pos   int
	stack []pathElem
	keys  [][]byte // the keys of the objects being read, outermost first
	errs  FieldErrors
}

// pathElem is one step of the path to the value being read: a struct
// field, a map key or a list index. The walker keeps the path as a stack
// and writes it out only when an error needs it.
type pathElem struct {
	name  []byte // a field name or a map key; nil for a list index
	index int
	isKey bool // name is a map key
}

// path writes the current path, e.g. virtual_hosts[0].routes[1].retries.
func (w *walker) path() string {
	var b strings.Builder
	for _, e := range w.stack {
		switch {
		case e.name == nil && !e.isKey:
			b.WriteString("[" + strconv.Itoa(e.index) + "]")
		case e.isKey:
			b.WriteString("[" + strconv.QuoteToASCII(string(e.name)) + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			if name := string(e.name); plainName(name) {
				b.WriteString(name)
			} else {
				b.WriteString(strconv.QuoteToASCII(name))
			}
		}
	}
	return b.String()
}

// plainName reports whether a field name can stand unquoted in a path.
func plainName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		ok := c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !ok {
			return false
		}
	}
	return true
}

// maxFieldErrors bounds the errors one value reports: a value of many bad
// keys must not make an error of megabytes.
const maxFieldErrors = 100

// maxDepth is encoding/json's nesting limit: past it the walk stops, and
// encoding/json reports the value, before recursion costs a deep stack.
const maxDepth = 10000

func (w *walker) add(format string, args ...any) {
	switch {
	case len(w.errs) < maxFieldErrors:
		w.errs = append(w.errs, &FieldError{Field: w.path(), Msg: fmt.Sprintf(format, args...)})
	case len(w.errs) == maxFieldErrors:
		w.errs = append(w.errs, &FieldError{Msg: "and more errors"})
	}
}

// value reads one value that decodes into a Go value of shape sh (nil:
// any JSON).
func (w *walker) value(sh *shape) bool {
	w.skipSpace()
	if w.pos >= len(w.data) {
		return false
	}
	if sh != nil && sh.custom {
		return w.custom(sh)
	}
	switch c := w.data[w.pos]; c {
	case '{', '[':
		return w.composite(c, sh)
	case '"':
		_, invalid, ok := w.str(false)
		if invalid != "" {
			w.add("%s", invalid)
		}
		w.checkKind(sh, reflect.String, "string")
		return ok
	case 't', 'f':
		if !w.literal("true") && !w.literal("false") {
			return false
		}
		w.checkKind(sh, reflect.Bool, "bool")
		return true
	case 'n':
		return w.literal("null") // null leaves a Go value as it is
	}
	lit, ok := w.number()
	if ok && sh != nil && !numberFits(lit, sh.t) {
		w.add("want %s, got JSON number %s", sh.t, lit)
	}
	return ok
}

// checkKind reports a string or bool where sh wants something else.
func (w *walker) checkKind(sh *shape, want reflect.Kind, got string) {
	if sh != nil && sh.t.Kind() != want {
		w.add("want %s, got JSON %s", sh.t, got)
	}
}

// custom checks a value of a type that decodes itself (a time): its bytes
// as any JSON, then its own UnmarshalJSON, so that its error carries the
// path. Duration's never fails (Validate reports a bad one, by path).
func (w *walker) custom(sh *shape) bool {
	start := w.pos
	if !w.value(nil) {
		return false
	}
	if sh.t == durationType {
		return true
	}
	if err := reflect.New(sh.t).Interface().(json.Unmarshaler).UnmarshalJSON(w.data[start:w.pos]); err != nil {
		w.add("invalid value: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return true
}

// composite reads an object or list, which opens with c.
func (w *walker) composite(c byte, sh *shape) bool {
	if len(w.stack) >= maxDepth {
		return false
	}
	var kind reflect.Kind
	if sh != nil {
		kind = sh.t.Kind()
	}
	switch {
	case c == '[' && (kind == reflect.Slice || kind == reflect.Array):
		return w.list(sh.elem)
	case c == '{' && (kind == reflect.Struct || kind == reflect.Map):
		return w.object(sh)
	case sh != nil:
		got := "object"
		if c == '[' {
			got = "array"
		}
		w.add("want %s, got JSON %s", sh.t, got)
	}
	if c == '[' {
		return w.list(nil)
	}
	return w.object(nil)
}

func (w *walker) list(elem *shape) bool {
	w.pos++ // '['
	w.skipSpace()
	if w.skip(']') {
		return true
	}
	w.stack = append(w.stack, pathElem{})
	defer w.pop()
	for i := 0; ; i++ {
		w.stack[len(w.stack)-1].index = i
		if !w.value(elem) {
			return false
		}
		switch w.next() {
		case ',':
		case ']':
			return true
		default:
			return false
		}
	}
}

// object reads the members of an object: a struct's fields when sh is a
// struct's shape, else a map's (or any object's) keys.
func (w *walker) object(sh *shape) bool {
	isStruct := sh != nil && sh.fields != nil
	w.pos++ // '{'
	w.skipSpace()
	if w.skip('}') {
		return true
	}
	keys := keySet{base: len(w.keys)}
	defer func() { w.keys = w.keys[:keys.base] }()
	// A map's keys are data, written in brackets (metadata["team"]); the
	// keys of an object of no Go type (a document's spec) read as fields.
	w.stack = append(w.stack, pathElem{isKey: sh != nil && !isStruct})
	defer w.pop()
	for {
		w.skipSpace()
		if !w.skip('"') {
			return false
		}
		w.pos-- // str reads the quote
		key, invalid, ok := w.str(true)
		if !ok {
			return false
		}
		w.stack[len(w.stack)-1].name = key
		if invalid != "" {
			w.add("key %s", invalid)
		}
		if !keys.insert(w, key) {
			w.add("duplicate key")
		}
		var vs *shape // nil for an unknown field or any object: its value is only read
		switch {
		case isStruct:
			f, known := sh.fields[string(key)]
			if !known {
				w.add("unknown field%s", sh.suggest(string(key)))
			}
			vs = f
		case sh != nil:
			vs = sh.elem
		}
		if w.next() != ':' || !w.value(vs) {
			return false
		}
		switch w.next() {
		case ',':
		case '}':
			return true
		default:
			return false
		}
	}
}
