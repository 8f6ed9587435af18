package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/chancery-xds/chancery/internal/names"
)

// FieldError is a validation failure at one field of an object.
type FieldError struct {
	Field string // dotted path, e.g. "virtual_hosts[0].routes[1].match.regex"
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return "field " + e.Field + ": " + e.Msg
}

// FieldErrors is every field error of one object, in field order.
type FieldErrors []*FieldError

func (e FieldErrors) Error() string {
	msgs := make([]string, len(e))
	for i, fe := range e {
		msgs[i] = fe.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap lets errors.As find each FieldError.
func (e FieldErrors) Unwrap() []error {
	out := make([]error, len(e))
	for i, fe := range e {
		out[i] = fe
	}
	return out
}

// validator collects every field error of one object.
type validator struct{ errs FieldErrors }

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return v.errs
}

// Object is what every kind implements.
type Object interface {
	Validate() error
}

// New returns an empty object of kind k.
func New(k Kind) (Object, error) {
	switch k {
	case KindService:
		return &Service{}, nil
	case KindEndpoint:
		return &Endpoint{}, nil
	case KindRouteTable:
		return &RouteTable{}, nil
	case KindListener:
		return &Listener{}, nil
	case KindHealth:
		return &Health{}, nil
	case KindSecret:
		return &Secret{}, nil
	case KindJWTProvider:
		return &JWTProvider{}, nil
	case KindPatch:
		return &Patch{}, nil
	}
	return nil, fmt.Errorf("unknown kind %q", k)
}

// Decode strictly decodes one object's JSON value and validates it. An
// unknown field, a wrong type, trailing data or an invalid value is an error
// that names the field; it does not repeat the object's key, which callers
// carry in a Rejection (whose Error names it) or add themselves. An object
// usable in part (a route table with some bad routes) is returned together
// with the error that says which parts are left out.
func Decode(ref Ref, data []byte) (Object, error) {
	if err := ValidateName(ref); err != nil {
		return nil, err
	}
	obj, err := New(ref.Kind)
	if err != nil {
		return nil, err
	}
	if err := DecodeStrict(data, obj); err != nil {
		return nil, err
	}
	if err := obj.Validate(); err != nil {
		if p, ok := obj.(partial); ok && p.keepPart(err) {
			return obj, err
		}
		return nil, err
	}
	return obj, nil
}

// partial is a kind whose objects can be served in part: a route table
// whose errors are confined to some routes or virtual hosts.
type partial interface {
	// keepPart marks the parts err rejects and reports whether the rest
	// is worth serving.
	keepPart(err error) bool
}

// DecodeStrict decodes JSON into v, refusing unknown fields, field names in
// another case, duplicate keys, invalid UTF-8, wrong types and trailing
// data; every field error names the field's full path (strict.go).
func DecodeStrict(data []byte, v any) error {
	if errs, ok := strictCheck(data, reflect.TypeOf(v)); ok && len(errs) > 0 {
		return errs
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("invalid JSON: data after the object")
	}
	return nil
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return &FieldError{Field: typeErr.Field, Msg: fmt.Sprintf("want %s, got JSON %s", typeErr.Type, typeErr.Value)}
	case errors.As(err, &syntaxErr):
		return fmt.Errorf("invalid JSON at byte %d: %s", syntaxErr.Offset, strings.TrimPrefix(syntaxErr.Error(), "json: "))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("invalid JSON: empty or truncated value")
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if f, ok := strings.CutPrefix(msg, "unknown field "); ok {
		return &FieldError{Field: strings.Trim(f, `"`), Msg: "unknown field"}
	}
	return errors.New(msg)
}

// ValidateName checks that an object's name has the right number of parts
// and that each part is a safe resource name: letters, digits, '.', '_', '-'.
func ValidateName(ref Ref) error {
	parts := strings.Split(ref.Name, "/")
	if len(parts) != ref.Kind.NameParts() {
		if ref.Kind.NameParts() == 2 {
			return fmt.Errorf("name %q: want <service>/<id>", ref.Name)
		}
		return fmt.Errorf("name %q: must not contain '/'", ref.Name)
	}
	for _, p := range parts {
		if !names.Valid(p) {
			return fmt.Errorf("name %q: each part must be 1-253 letters, digits, '.', '_' or '-', starting and ending with a letter or digit", ref.Name)
		}
	}
	return nil
}

// ValidName reports whether s is a valid single-part object name.
func ValidName(s string) bool { return names.Valid(s) }
