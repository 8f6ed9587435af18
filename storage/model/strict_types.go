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

// keySet holds an object's keys seen so far: a slice while the object is
// small, as it nearly always is, and a map past that, so that an object of
// many keys still costs linear time.
type keySet struct {
	list [][]byte
	set  map[string]struct{}
}

// insert adds key and reports false if it was already there.
func (k *keySet) insert(key []byte) bool {
	if k.set != nil {
		if _, dup := k.set[string(key)]; dup {
			return false
		}
		k.set[string(key)] = struct{}{}
		return true
	}
	for _, s := range k.list {
		if bytes.Equal(s, key) {
			return false
		}
	}
	k.list = append(k.list, key)
	if len(k.list) > 16 {
		k.set = make(map[string]struct{}, 2*len(k.list))
		for _, s := range k.list {
			k.set[string(s)] = struct{}{}
		}
	}
	return true
}

// structInfo is a struct's JSON members by their exact names.
type structInfo struct {
	fields map[string]reflect.Type
	names  []string // in declaration order, for suggestions
}

var structCache sync.Map // reflect.Type -> *structInfo

func structOf(t reflect.Type) *structInfo {
	if si, ok := structCache.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{fields: map[string]reflect.Type{}}
	si.collect(t)
	structCache.Store(t, si)
	return si
}

// collect follows encoding/json's naming: the tag's name, else the Go
// name; "-" and unexported fields are not members; an untagged embedded
// struct's fields are promoted.
func (si *structInfo) collect(t reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			si.collect(f.Type)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := si.fields[name]; !dup {
			si.fields[name] = f.Type
			si.names = append(si.names, name)
		}
	}
}

// suggest names the member an unknown key most likely meant: one that
// differs only in case, else one at most two edits away.
func (si *structInfo) suggest(key string) string {
	best, bestDist := "", 3
	for _, n := range si.names {
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
