// Package translator turns one model snapshot into the xDS resources each
// node group receives. Translation is a pure function of the snapshot: no
// I/O, no clock, no logging, no randomness and no dependence on map order,
// so every replica that reads the same etcd revision produces byte-identical
// resources and therefore identical versions.
package translator

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/translator/output"
)

// Resources is the translation of one snapshot: the xDS server's part
// (output.Resources: what each node group receives, and what was left out
// as text) and, for the rest of the replica and the CLI, the rejections
// and ignored keys as the model has them.
type Resources struct {
	output.Resources
	Rejected []model.Rejection // snapshot rejections plus the translator's own, sorted by key (Ref.String()), deterministic
	// Ignored is the snapshot's keys of no kind and the endpoints of
	// services that do not exist, sorted by key: reported, never sent.
	Ignored []model.Ignored
}

// GroupResources is one node group's resources (output.Group).
type GroupResources = output.Group

// Translate is pure and deterministic: no I/O, clock, logging, randomness or map-order dependence.
// The error is errors.Join of every rejection (nil if none); Resources is always non-nil and usable.
//
// Resources are shared between groups (the same pointer in several
// GroupResources) so a consumer marshals each one once; callers must not
// modify them.
func Translate(s *model.Snapshot) (*Resources, error) { return translate(s, nil) }

func translate(s *model.Snapshot, m *Memo) (*Resources, error) {
	if s == nil {
		s = model.NewSnapshot(0)
	}
	if res, ok := m.patch(s); ok {
		m.remember(s, res)
		return res, joinRejections(res.Rejected)
	}
	rej := newRejections(s.Rejected)
	// Order matters: a service that fails translation turns the routes and
	// TCP listeners that reach it into rejections, and a route table that
	// fails turns its listeners' routes into a 503 placeholder.
	secrets := buildSecrets(s, rej)
	svcs := buildServices(s, secrets, rej, m)
	in := &policyInputs{jwt: buildJWTProviders(s, svcs, rej)}
	tables := buildRouteTables(s, in, svcs, rej, m)
	lis := buildListeners(s, in, svcs, tables, secrets, rej)

	groups := assembleGroups(lis, svcs, secrets)
	applyPatches(s, groups, rej)
	res := newResources(s.Revision, groups, rej.sorted(), ignored(s, rej))
	m.remember(s, res)
	return res, joinRejections(res.Rejected)
}

func newResources(rev int64, groups map[string]*GroupResources, rejected []model.Rejection, ignored []model.Ignored) *Resources {
	res := &Resources{Resources: output.Resources{Revision: rev, Groups: groups}, Rejected: rejected, Ignored: ignored}
	for _, r := range rejected {
		res.Rejections = append(res.Rejections, output.Problem{Kind: string(r.Ref.Kind), Key: r.Ref.String(), Reason: r.Reason()})
	}
	for _, i := range ignored {
		res.IgnoredKeys = append(res.IgnoredKeys, output.Problem{Key: i.Key, Reason: i.Reason})
	}
	return res
}

// ignored adds to the snapshot's ignored keys the endpoints of services
// that are neither in the snapshot nor rejected.
func ignored(s *model.Snapshot, rej *rejections) []model.Ignored {
	out := slices.Clone(s.Ignored)
	for svc, eps := range s.Endpoints {
		ref := model.Ref{Kind: model.KindService, Name: svc}
		if _, ok := s.Services[svc]; ok {
			continue
		}
		if _, rejected := rej.byRef[ref]; rejected {
			continue
		}
		for id := range eps {
			out = append(out, model.Ignored{
				Key:    model.Ref{Kind: model.KindEndpoint, Name: svc + "/" + id}.String(),
				Reason: fmt.Sprintf("service %q not found; the endpoint is not sent", svc),
			})
		}
	}
	slices.SortFunc(out, func(a, b model.Ignored) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func joinRejections(rejected []model.Rejection) error {
	errs := make([]error, len(rejected))
	for i, r := range rejected {
		errs[i] = r
	}
	return errors.Join(errs...)
}
