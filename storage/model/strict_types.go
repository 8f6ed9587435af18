package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// The strict pass's view of Go types: which JSON a type takes, by
// encoding/json's rules.

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	durationType    = reflect.TypeFor[Duration]()
)

// decodesItself reports whether t has its own UnmarshalJSON.
func decodesItself(t reflect.Type) bool { return reflect.PointerTo(t).Implements(unmarshalerType) }

// numberFits applies encoding/json's rule: an integer type takes only an
// integer literal in its range.
func numberFits(lit []byte, t reflect.Type) bool {
	var err error
	switch t.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		_, err = strconv.ParseUint(string(lit), 10, t.Bits())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		_, err = strconv.ParseInt(string(lit), 10, t.Bits())
	case reflect.Float32, reflect.Float64:
		_, err = strconv.ParseFloat(string(lit), t.Bits())
	case reflect.Interface:
	default:
		return false
	}
	return err == nil
}

// keySet is one object's keys seen so far: kept on the walker's shared
// list from base while the object is small, as it nearly always is, and in
// a map past that, so that an object of many keys still costs linear time.
type keySet struct {
	base int
	set  map[string]struct{}
}

// insert adds key and reports false if it was already there.
func (k *keySet) insert(w *walker, key []byte) bool {
	if k.set != nil {
		if _, dup := k.set[string(key)]; dup {
			return false
		}
		k.set[string(key)] = struct{}{}
		return true
	}
	for _, s := range w.keys[k.base:] {
		if bytes.Equal(s, key) {
			return false
		}
	}
	w.keys = append(w.keys, key)
	if len(w.keys)-k.base > 16 {
		k.set = make(map[string]struct{}, 2*(len(w.keys)-k.base))
		for _, s := range w.keys[k.base:] {
			k.set[string(s)] = struct{}{}
		}
	}
	return true
}

// shape is what JSON a Go type takes, worked out once per type so that
// the walk makes no reflect calls per value. A nil *shape takes any JSON.
type shape struct {
	t      reflect.Type      // with pointers removed
	custom bool              // t has its own UnmarshalJSON
	elem   *shape            // of a slice, array or map
	fields map[string]*shape // of a struct, by exact JSON name; nil otherwise
	names  []string          // the fields' names in declaration order, for suggestions
}

var shapes sync.Map // reflect.Type -> *shape

func shapeOf(t reflect.Type) *shape {
	if sh, ok := shapes.Load(t); ok {
		return sh.(*shape)
	}
	sh := buildShape(t, map[reflect.Type]*shape{})
	shapes.Store(t, sh)
	return sh
}

// buildShape makes t's shape; building holds the shapes being made, so a
// type that contains itself ends the recursion.
func buildShape(t reflect.Type, building map[reflect.Type]*shape) *shape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Interface {
		return nil
	}
	if sh, ok := building[t]; ok {
		return sh
	}
	sh := &shape{t: t, custom: decodesItself(t)}
	building[t] = sh
	switch {
	case sh.custom:
	case t.Kind() == reflect.Slice, t.Kind() == reflect.Array, t.Kind() == reflect.Map:
		sh.elem = buildShape(t.Elem(), building)
	case t.Kind() == reflect.Struct:
		sh.fields = map[string]*shape{}
		sh.collect(t, building)
	}
	return sh
}

// collect follows encoding/json's naming: the tag's name, else the Go
// name; "-" and unexported fields are not members; an untagged embedded
// struct's fields are promoted.
func (sh *shape) collect(t reflect.Type, building map[reflect.Type]*shape) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			sh.collect(f.Type, building)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := sh.fields[name]; !dup {
			sh.fields[name] = buildShape(f.Type, building)
			sh.names = append(sh.names, name)
		}
	}
}

// suggest names the member an unknown key most likely meant: one that
// differs only in case, else one at most two edits away.
func (sh *shape) suggest(key string) string {
	best, bestDist := "", 3
	for _, n := range sh.names {
		if strings.EqualFold(n, key) {
			return fmt.Sprintf(" (did you mean %q?)", n)
		}
		if d := editDistance(strings.ToLower(key), n, bestDist); d < bestDist {
			best, bestDist = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance of a and b, or limit when it is
// limit or more; only unknown keys pay for it.
func editDistance(a, b string, limit int) int {
	if len(a) > 64 || len(b) > 64 || max(len(a)-len(b), len(b)-len(a)) >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}
