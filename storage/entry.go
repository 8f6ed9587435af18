package storage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/chancery-xds/chancery/storage/model"
)

// entry is one object's key as every replica judges it: the decoded live
// value, or why it is rejected and the last accepted version served in
// its place.
type entry struct {
	ref     model.Ref
	obj     model.Object // what is served; nil: nothing
	err     error        // why the live value is rejected, in whole or (obj being it) in part
	serving *model.Accepted
	created int64 // etcd create revision of the key
	mod     int64 // etcd mod revision of the live value
	// named is false for a key whose name is not valid: no version of it
	// can be accepted, so none is looked for.
	named bool
}

// decodeEntry judges one key's live value.
func decodeEntry(ref model.Ref, kv *mvccpb.KeyValue) entry {
	obj, err := model.Decode(ref, kv.Value)
	e := entry{ref: ref, obj: obj, err: err, created: kv.CreateRevision, mod: kv.ModRevision, named: true}
	if err != nil && obj == nil {
		e.named = model.ValidateName(ref) == nil
	}
	return e
}

// wantsFallback reports whether the entry is rejected as a whole with no
// accepted version found yet.
func (e *entry) wantsFallback() bool { return e.obj == nil && e.serving == nil && e.named }

// fallBack serves an earlier value of the key in place of the rejected live
// one, if that value is accepted. It reports whether it did.
func (e *entry) fallBack(revision int64, value []byte) bool {
	obj, err := model.Decode(e.ref, value)
	if obj == nil || err != nil {
		return false // only a version accepted whole stands in
	}
	e.obj = obj
	e.serving = &model.Accepted{Revision: revision, For: e.mod, Value: value}
	return true
}

// addTo puts the entry into a snapshot.
func (e *entry) addTo(s *model.Snapshot) {
	if e.obj != nil {
		s.Add(e.ref, e.obj)
		if e.ref.Kind == model.KindListener {
			s.Created[e.ref.Name] = e.created
		}
	}
	if e.err != nil {
		s.Rejected = append(s.Rejected, model.Rejection{Ref: e.ref, Err: e.err, Serving: e.serving})
	}
}

// servingRecord reads the last accepted version recorded in a status key's
// value, if any (see ObjectStatus.Serving).
func servingRecord(value []byte) (*ServingRecord, bool) {
	if !bytes.Contains(value, []byte(`"serving"`)) {
		return nil, false // most status values: no need to decode them
	}
	var st ObjectStatus
	if err := json.Unmarshal(value, &st); err != nil || st.Serving == nil {
		return nil, false
	}
	return st.Serving, true
}

// keyKind tells what a key below the prefix holds.
type keyKind int

const (
	keyObject  keyKind = iota // a model object
	keyCluster                // what the replicas write: replicas/, proxies/, status/, leader/; and chanceryctl's changes/
	keyUnknown                // nothing Chancery reads: reported as ignored
)

// classify tells what key holds: the object it names, or why it names none.
func (k Keyspace) classify(key string) (model.Ref, keyKind, string) {
	if ref, ok := k.Parse(key); ok {
		return ref, keyObject, ""
	}
	rest := strings.TrimPrefix(key, k.Prefix())
	seg, _, hasName := strings.Cut(rest, "/")
	switch seg {
	case replicasSegment, proxiesSegment, statusSegment, leaderSegment, changesSegment:
		return model.Ref{}, keyCluster, ""
	}
	if _, known := model.KindForSegment(seg); known && !hasName {
		return model.Ref{}, keyUnknown, fmt.Sprintf("no object name after %q", seg+"/")
	}
	return model.Ref{}, keyUnknown, unknownSegment(seg)
}

// unknownSegment says why a key's first segment names no kind, with the
// segment it most likely meant.
func unknownSegment(seg string) string {
	msg := fmt.Sprintf("%q is not a kind of object (want one of %s)", seg, strings.Join(segments(), ", "))
	l := strings.ToLower(seg)
	for _, s := range segments() {
		if l == s || l+"s" == s || l == s+"s" || (l == "route" && s == "routes") {
			return fmt.Sprintf("%q is not a kind of object (did you mean %q?)", seg, s)
		}
	}
	return msg
}

func segments() []string {
	out := make([]string, 0, len(model.Kinds))
	for _, k := range model.Kinds {
		out = append(out, k.Segment())
	}
	return out
}

// SnapshotOf judges the keys of a keyspace read at revision rev (values
// below the prefix, in any order) exactly as the watcher does, except that
// it reads no history: a rejected value falls back only to the last
// accepted version a status record holds. It is the watcher's path for
// tests, fuzzing and tools.
func SnapshotOf(ks Keyspace, rev int64, kvs []*mvccpb.KeyValue) *model.Snapshot {
	entries := map[string]*entry{}
	records := map[model.Ref]*ServingRecord{}
	ignored := map[string]string{}
	for _, kv := range kvs {
		key := string(kv.Key)
		ref, kind, why := ks.classify(key)
		switch kind {
		case keyObject:
			e := decodeEntry(ref, kv)
			entries[key] = &e
		case keyUnknown:
			ignored[strings.TrimPrefix(key, ks.Prefix())] = why
		case keyCluster:
			if ref, ok := ks.ParseStatusKey(key); ok {
				if rec, ok := servingRecord(kv.Value); ok {
					records[ref] = rec
				}
			}
		}
	}
	s := model.NewSnapshot(rev)
	for _, e := range entries {
		if e.wantsFallback() {
			if rec := records[e.ref]; rec != nil && rec.For == e.mod {
				e.fallBack(rec.Revision, rec.Value)
			}
		}
		e.addTo(s)
	}
	s.Ignored = ignoredList(ignored)
	s.SortRejections()
	return s
}

func ignoredList(m map[string]string) []model.Ignored {
	out := make([]model.Ignored, 0, len(m))
	for k, why := range m {
		out = append(out, model.Ignored{Key: k, Reason: why})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
