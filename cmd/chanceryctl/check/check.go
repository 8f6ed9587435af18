// Package check judges documents before anything is written: it builds the
// snapshot the keyspace would hold and runs the translator over it, exactly
// as every replica will, so what a replica would reject is refused first.
package check

import (
	"fmt"
	"sort"
	"strings"

	"github.com/chancery-xds/chancery/cmd/chanceryctl/manifest"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/translator"
)

// Finding is one problem with one object.
type Finding struct {
	Ref model.Ref
	Doc *manifest.Document // the document defining Ref; nil for an object only in etcd
	Err error              // the reason; it names the field, not the key
}

// Error names the document (file, index, object, line) or the object in
// etcd, then the reason.
func (f Finding) Error() string {
	if f.Doc != nil {
		return (&manifest.Error{Source: f.Doc.Source, Ref: f.Ref, Err: f.Err}).Error()
	}
	return fmt.Sprintf("%s (in etcd): %v", f.Ref, f.Err)
}

// Report is the verdict on a set of documents.
type Report struct {
	// Errors are rejections: the write must not happen.
	Errors []Finding
	// Consequences are rejections that only follow from Errors: a
	// listener whose route table is rejected, a route to a rejected
	// service. Fixing the errors fixes them.
	Consequences []Finding
	// Warnings are worth knowing but do not stop the write.
	Warnings []Finding
	// Resources is the translation of the keyspace as it would be.
	Resources *translator.Resources
}

// OK reports whether nothing was rejected.
func (r *Report) OK() bool { return len(r.Errors) == 0 }

// Online judges documents overlaid on what etcd holds: every document must
// be accepted, dangling references included, and no object in etcd that is
// accepted now may become rejected.
func Online(cur *storage.Contents, docs []manifest.Document) *Report {
	overlay := map[model.Ref][]byte{}
	for _, d := range docs {
		overlay[d.Ref] = d.Value
	}
	ix := indexDocs(docs)
	after := cur.Overlay(overlay)
	r := judge(cur.Snapshot(), after, ix)
	r.Warnings = append(r.Warnings, orphanEndpoints(after, ix)...)
	return r
}

// Delete judges deleting ref: nothing accepted now may become rejected,
// as a route to a deleted service would.
func Delete(cur *storage.Contents, ref model.Ref) *Report {
	return judge(cur.Snapshot(), cur.Overlay(map[model.Ref][]byte{ref: nil}), indexDocs(nil))
}

// Offline judges documents on their own, without etcd. A reference to an
// object the documents do not define cannot be judged: it is a warning,
// and a stand-in is translated in its place so that the referring
// object's other problems are still found.
func Offline(docs []manifest.Document) *Report {
	values := map[model.Ref][]byte{}
	for _, d := range docs {
		values[d.Ref] = d.Value
	}
	ix := indexDocs(docs)
	snap := snapshotOf(0, values)
	warnings := addStandIns(snap, ix.byRef)
	r := judge(nil, snap, ix)
	r.Warnings = append(warnings, orphanEndpoints(snap, ix)...)
	ix.sort(r.Warnings)
	return r
}

// snapshotOf decodes values as the watcher does, in key order.
func snapshotOf(rev int64, values map[model.Ref][]byte) *model.Snapshot {
	refs := make([]model.Ref, 0, len(values))
	for ref := range values {
		refs = append(refs, ref)
	}
	sortRefs(refs)
	s := model.NewSnapshot(rev)
	for _, ref := range refs {
		s.Put(ref, values[ref])
	}
	s.SortRejections()
	return s
}

// judge translates after (and before, if given) and reports every
// rejection of a document, and every object not in the documents that is
// rejected after but was not before.
func judge(before, after *model.Snapshot, ix docIndex) *Report {
	// The joined error repeats Rejected, which is what is read here.
	res, _ := translator.Translate(after)
	r := &Report{Resources: res}
	var was map[model.Ref]bool
	if before != nil {
		prev, _ := translator.Translate(before)
		was = map[model.Ref]bool{}
		for _, rj := range prev.Rejected {
			was[rj.Ref] = true
		}
	}
	for _, rj := range res.Rejected {
		if d, ok := ix.byRef[rj.Ref]; ok {
			r.Errors = append(r.Errors, Finding{Ref: rj.Ref, Doc: d, Err: rj.Err})
			continue
		}
		if was != nil && !was[rj.Ref] {
			r.Errors = append(r.Errors, Finding{Ref: rj.Ref, Err: fmt.Errorf("would be rejected after this change: %w", rj.Err)})
		}
	}
	r.Errors, r.Consequences = splitConsequences(after, r.Errors)
	ix.sort(r.Errors)
	ix.sort(r.Consequences)
	return r
}

// docIndex finds documents by object and knows their order.
type docIndex struct {
	byRef map[model.Ref]*manifest.Document
	pos   map[model.Ref]int
}

func indexDocs(docs []manifest.Document) docIndex {
	ix := docIndex{byRef: map[model.Ref]*manifest.Document{}, pos: map[model.Ref]int{}}
	for i := range docs {
		ix.byRef[docs[i].Ref] = &docs[i]
		ix.pos[docs[i].Ref] = i
	}
	return ix
}

// sort puts findings about documents first, in the order the documents
// were read, then findings about objects only in etcd, by key.
func (ix docIndex) sort(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		pi, iDoc := ix.pos[fs[i].Ref]
		pj, jDoc := ix.pos[fs[j].Ref]
		switch {
		case iDoc && jDoc:
			return pi < pj
		case iDoc != jDoc:
			return iDoc
		}
		return fs[i].Ref.String() < fs[j].Ref.String()
	})
}

// orphanEndpoints warns of endpoints in the documents whose service does
// not exist: valid, and served as soon as the service is defined, but
// more often a typo.
func orphanEndpoints(s *model.Snapshot, ix docIndex) []Finding {
	var out []Finding
	for _, ref := range sortedDocRefs(ix.byRef) {
		if ref.Kind != model.KindEndpoint {
			continue
		}
		svc := serviceOf(ref)
		if _, ok := s.Services[svc]; ok {
			continue
		}
		if _, rejected := s.RejectionOf(model.Ref{Kind: model.KindService, Name: svc}); rejected {
			continue
		}
		out = append(out, Finding{Ref: ref, Doc: ix.byRef[ref], Err: fmt.Errorf("service %q is not defined; Envoys receive this endpoint once it is", svc)})
	}
	return out
}

func serviceOf(endpoint model.Ref) string {
	svc, _, _ := strings.Cut(endpoint.Name, "/")
	return svc
}

func sortedDocRefs(docs map[model.Ref]*manifest.Document) []model.Ref {
	refs := make([]model.Ref, 0, len(docs))
	for ref := range docs {
		refs = append(refs, ref)
	}
	sortRefs(refs)
	return refs
}

func sortRefs(refs []model.Ref) {
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
}
