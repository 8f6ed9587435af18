package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Stdin is the path that means standard input.
const Stdin = "-"

// maxFileSize bounds what is read from one file: a keyspace value must fit
// etcd's 1.5 MiB request limit, and a manifest is many of them, not a dump.
const maxFileSize = 64 << 20

// Read reads every document of the given paths: files, directories (their
// .yaml, .yml and .json files, sorted; subdirectories too if recursive) and
// "-" for stdin. Problems are collected, not returned at the first.
func Read(paths []string, recursive bool, stdin io.Reader) *Set {
	set := &Set{}
	if len(paths) == 0 {
		set.Errors = append(set.Errors, errors.New("no files given: use -f FILE, -f DIR or -f -"))
		return set
	}
	for _, p := range paths {
		if p == Stdin {
			data, err := io.ReadAll(io.LimitReader(stdin, maxFileSize+1))
			if err != nil {
				set.Errors = append(set.Errors, fmt.Errorf("read standard input: %w", err))
				continue
			}
			readData(set, Stdin, data, looksLikeJSON(data))
			continue
		}
		files, err := expand(p, recursive)
		if err != nil {
			set.Errors = append(set.Errors, err)
			continue
		}
		for _, f := range files {
			readFile(set, f)
		}
	}
	return set
}

func expand(path string, recursive bool) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPathError(err))
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != path && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPathError(err))
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no .yaml, .yml or .json files in the directory", path)
	}
	sort.Strings(files)
	return files, nil
}

// unwrapPathError drops the path an *os.PathError repeats.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func readFile(set *Set, path string) {
	f, err := os.Open(path)
	if err != nil {
		set.Errors = append(set.Errors, fmt.Errorf("%s: %w", path, unwrapPathError(err)))
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		set.Errors = append(set.Errors, fmt.Errorf("%s: %w", path, unwrapPathError(err)))
		return
	}
	readData(set, path, data, strings.EqualFold(filepath.Ext(path), ".json"))
}

func readData(set *Set, name string, data []byte, isJSON bool) {
	if len(data) > maxFileSize {
		set.Errors = append(set.Errors, fmt.Errorf("%s: larger than %d MiB", name, maxFileSize>>20))
		return
	}
	if isJSON {
		readJSON(set, name, data)
		return
	}
	readYAML(set, name, data)
}

func looksLikeJSON(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

// readJSON reads a stream of JSON values, each one document or an array of
// documents.
func readJSON(set *Set, name string, data []byte) {
	dec := json.NewDecoder(bytes.NewReader(data))
	index := 0
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			set.Errors = append(set.Errors, &Error{Source: Source{File: name, Index: index + 1}, Err: fmt.Errorf("invalid JSON: %w", err)})
			return
		}
		index = addValue(set, name, 0, index, raw, nil)
	}
}

// addValue adds one JSON value: a document, or an array of documents;
// text is the YAML it was read from, if any. It returns the index of the
// last document added.
func addValue(set *Set, name string, line, index int, raw []byte, text *yamlText) int {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return index // an empty YAML document: nothing to count
	}
	if t[0] != '[' {
		index++
		set.add(parseDocument(Source{File: name, Index: index, Line: line, yaml: text.ref(-1)}, t))
		return index
	}
	var items []json.RawMessage
	if err := json.Unmarshal(t, &items); err != nil {
		index++
		set.Errors = append(set.Errors, &Error{Source: Source{File: name, Index: index, Line: line}, Err: fmt.Errorf("invalid JSON: %w", err)})
		return index
	}
	for i, it := range items {
		index++
		set.add(parseDocument(Source{File: name, Index: index, Line: line, yaml: text.ref(i)}, it))
	}
	return index
}

// readYAML splits a file into documents at "---" lines, as kubectl does,
// and converts each to JSON strictly (a repeated key is an error).
func readYAML(set *Set, name string, data []byte) {
	index := 0
	for _, chunk := range splitYAML(data) {
		js, err := yaml.YAMLToJSONStrict(chunk.text)
		if err != nil {
			index++
			set.Errors = append(set.Errors, &Error{Source: Source{File: name, Index: index, Line: chunk.line}, Err: yamlError(err, chunk.line)})
			continue
		}
		index = addValue(set, name, chunk.line, index, js, &yamlText{text: chunk.text, first: chunk.line})
	}
}

type yamlChunk struct {
	text []byte
	line int // first line of the chunk in the file, 1-based
}

func splitYAML(data []byte) []yamlChunk {
	var out []yamlChunk
	var cur bytes.Buffer
	start, n := 1, 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), maxFileSize)
	for sc.Scan() {
		n++
		line := sc.Text()
		if isSeparator(line) {
			out = append(out, yamlChunk{text: bytes.Clone(cur.Bytes()), line: start})
			cur.Reset()
			start = n + 1
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	return append(out, yamlChunk{text: cur.Bytes(), line: start})
}

func isSeparator(line string) bool {
	rest, ok := strings.CutPrefix(strings.TrimSuffix(line, "\r"), "---")
	return ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t')
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// yamlError makes the YAML parser's line numbers, which count from the
// document's start, count from the file's, and keeps the message on one line.
func yamlError(err error, first int) error {
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	msg = yamlLineRE.ReplaceAllStringFunc(msg, func(m string) string {
		n, convErr := strconv.Atoi(strings.TrimPrefix(m, "line "))
		if convErr != nil {
			return m
		}
		return "line " + strconv.Itoa(n+first-1)
	})
	// The parser lists several problems on lines of their own.
	lines := strings.Split(msg, "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return fmt.Errorf("invalid YAML: %s", strings.Join(lines, " "))
}
