package translator

import (
	"fmt"
	"sort"

	"github.com/chancery-xds/chancery/storage/model"
)

// rejections collects the snapshot's rejections and the translator's own.
// The translator's findings about one object are kept together as that
// object's FieldErrors, so every key has a single reason, as status/ needs.
type rejections struct {
	snapshot []model.Rejection
	// model rejections by ref, to say why a referenced object is unusable
	// without a linear scan per reference.
	byRef  map[model.Ref]error
	fields map[model.Ref]model.FieldErrors
	// own holds the translator's refs in first-report order; the final
	// order comes from sorting, this only avoids iterating a map.
	own []model.Ref
}

func newRejections(snapshot []model.Rejection) *rejections {
	r := &rejections{
		snapshot: snapshot,
		byRef:    make(map[model.Ref]error, len(snapshot)),
		fields:   map[model.Ref]model.FieldErrors{},
	}
	for _, rj := range snapshot {
		if _, dup := r.byRef[rj.Ref]; !dup {
			r.byRef[rj.Ref] = rj.Err
		}
	}
	return r
}

// add records a problem the translator found at one field of an object.
func (r *rejections) add(ref model.Ref, field, format string, args ...any) {
	if _, seen := r.fields[ref]; !seen {
		r.own = append(r.own, ref)
	}
	r.fields[ref] = append(r.fields[ref], &model.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// reason says why ref is unusable: its model rejection, else the
// translator's own findings. ok is false if nothing rejected it.
func (r *rejections) reason(ref model.Ref) (string, bool) {
	if err, ok := r.byRef[ref]; ok {
		return err.Error(), true
	}
	if fe, ok := r.fields[ref]; ok {
		return fe.Error(), true
	}
	return "", false
}

// sorted returns every rejection ordered by key, then by message so that
// even two rejections of one key (a snapshot built by hand) sort the same.
func (r *rejections) sorted() []model.Rejection {
	out := make([]model.Rejection, 0, len(r.snapshot)+len(r.own))
	out = append(out, r.snapshot...)
	for _, ref := range r.own {
		out = append(out, model.Rejection{Ref: ref, Err: r.fields[ref]})
	}
	sort.SliceStable(out, func(i, j int) bool {
		ki, kj := out[i].Ref.String(), out[j].Ref.String()
		if ki != kj {
			return ki < kj
		}
		return out[i].Err.Error() < out[j].Err.Error()
	})
	return out
}

// unavailable says why an object another one references cannot be used.
type unavailable struct {
	kind   string // "service" or "route table", as operators write it
	name   string
	reason string // the rejection; empty when the object does not exist
}

// field is the rejection message recorded on the referring object.
func (u *unavailable) field() string {
	if u.reason == "" {
		return fmt.Sprintf("%s %q not found", u.kind, u.name)
	}
	return fmt.Sprintf("%s %q is rejected", u.kind, u.name)
}

// body is the text a 503 answers with, so whoever sees the error learns
// what to fix without access to the control plane.
func (u *unavailable) body() string {
	why := "not found"
	if u.reason != "" {
		why = "rejected: " + u.reason
	}
	return fmt.Sprintf("%s %q is not available: %s", u.kind, u.name, why)
}
