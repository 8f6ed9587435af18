// Package manifest reads the files operators give chanceryctl: YAML or JSON
// documents of the form {kind, name, spec}. It checks only the envelope;
// the spec is judged by the model and the translator, the same code every
// replica runs, so a tool never holds a second copy of the rules.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

// Source is where a document came from, for messages.
type Source struct {
	File  string   // path, or "-" for standard input
	Index int      // 1-based position among the file's documents
	Line  int      // line the YAML document starts on; 0 for JSON
	yaml  *yamlRef // the YAML document as written, to find a field's line; nil for JSON
}

// String is "file: document N (line L)".
func (s Source) String() string {
	if s.Line > 0 {
		return fmt.Sprintf("%s: document %d (line %d)", s.File, s.Index, s.Line)
	}
	return fmt.Sprintf("%s: document %d", s.File, s.Index)
}

// Document is one object to write.
type Document struct {
	Source Source
	Ref    model.Ref
	// Value is the spec in storage.CanonicalJSON form: exactly what apply
	// writes to etcd.
	Value []byte
}

// Error is a problem with one document. Its message names the file, the
// document and, when known, the object; Err (from the model) names the field.
type Error struct {
	Source Source
	Ref    model.Ref // zero if the envelope did not say
	Err    error
}

// Error is "file: document N (kind/name, line L): reason", on one line.
func (e *Error) Error() string {
	where := e.Source.String()
	if e.Ref.Name != "" {
		// "fleet.yaml: document 3 (services/web, line 12)"
		where = fmt.Sprintf("%s: document %d (%s", e.Source.File, e.Source.Index, e.Ref)
		if e.Source.Line > 0 {
			where += fmt.Sprintf(", line %d", e.Source.Line)
		}
		where += ")"
	}
	return where + ": " + e.Source.yaml.annotate(e.Err)
}

// Unwrap returns the reason, so errors.As finds a model.FieldError.
func (e *Error) Unwrap() error { return e.Err }

// envelope is a document's top level. Status is what `get` prints beside
// the spec; it is output only and ignored here, so that get's output can
// be applied again.
type envelope struct {
	Kind   string          `json:"kind"`
	Name   string          `json:"name"`
	Spec   json.RawMessage `json:"spec"`
	Status json.RawMessage `json:"status,omitempty"`
}

// parseDocument checks one document's envelope and encodes its spec.
func parseDocument(src Source, raw []byte) (Document, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return Document{}, &Error{Source: src, Err: errors.New("want an object with kind, name and spec")}
	}
	var env envelope
	if err := model.DecodeStrict(raw, &env); err != nil {
		return Document{}, &Error{Source: src, Err: err}
	}
	fail := func(ref model.Ref, format string, args ...any) (Document, error) {
		return Document{}, &Error{Source: src, Ref: ref, Err: fmt.Errorf(format, args...)}
	}
	if env.Kind == "" {
		return fail(model.Ref{}, "field kind: required (Service, Endpoint, RouteTable, Listener or Secret)")
	}
	kind, err := model.ParseKind(env.Kind)
	if err != nil {
		return fail(model.Ref{}, "field kind: %v", err)
	}
	ref := model.Ref{Kind: kind, Name: env.Name}
	if kind == model.KindHealth {
		return fail(ref, "field kind: Health verdicts are written by the elected replica, not applied")
	}
	if env.Name == "" {
		return fail(model.Ref{}, "field name: required")
	}
	if err := model.ValidateName(ref); err != nil {
		return fail(ref, "field name: %v", err)
	}
	spec := bytes.TrimSpace(env.Spec)
	if len(spec) == 0 || string(spec) == "null" {
		return fail(ref, "field spec: required")
	}
	if spec[0] != '{' {
		return fail(ref, "field spec: want an object")
	}
	if kind == model.KindSecret {
		if spec, err = inlineSecretFiles(documentDir(src.File), spec); err != nil {
			return fail(ref, "%w", err)
		}
	}
	value, err := storage.CanonicalJSON(spec)
	if err != nil {
		return fail(ref, "field spec: %v", err)
	}
	return Document{Source: src, Ref: ref, Value: value}, nil
}

// Set is every document read, in order, and every problem found.
type Set struct {
	Documents []Document
	Errors    []error // *Error values, in input order
}

// add records a document unless another one defines the same object.
func (s *Set) add(d Document, err error) {
	if err != nil {
		s.Errors = append(s.Errors, err)
		return
	}
	for _, o := range s.Documents {
		if o.Ref == d.Ref {
			s.Errors = append(s.Errors, &Error{Source: d.Source, Ref: d.Ref,
				Err: fmt.Errorf("defined twice: also in %s", o.Source)})
			return
		}
	}
	s.Documents = append(s.Documents, d)
}

// Err joins every problem into one error (nil if none).
func (s *Set) Err() error { return errors.Join(s.Errors...) }
