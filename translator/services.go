package translator

import (
	"maps"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/chancery-xds/chancery/internal/parallel"
	"github.com/chancery-xds/chancery/storage/model"
)

// parallelMin is the number of services below which translating them on
// more than one goroutine costs more than it saves.
const parallelMin = 256

// serviceSet holds the cluster and load assignment of every service that
// translated cleanly, and answers why any other service cannot be used.
type serviceSet struct {
	clusters map[string]*clusterv3.Cluster
	loads    map[string]*endpointv3.ClusterLoadAssignment
	secrets  map[string][]string // the secrets each service's TLS names
	rej      *rejections
}

// buildServices translates every accepted service. A service whose output
// Envoy would refuse is rejected here, before anything references it, so
// that routes to it answer 503 instead of pointing at a missing cluster.
func buildServices(s *model.Snapshot, secrets *secretSet, rej *rejections, m *Memo) *serviceSet {
	set := &serviceSet{
		clusters: make(map[string]*clusterv3.Cluster, len(s.Services)),
		loads:    make(map[string]*endpointv3.ClusterLoadAssignment, len(s.Services)),
		secrets:  map[string][]string{},
		rej:      rej,
	}
	m.forget(s)
	names := slices.Sorted(maps.Keys(s.Services))
	parts := make([]*servicePart, len(names))
	var todo []int // services the memo does not hold, translated on every core
	for i, name := range names {
		if parts[i] = m.cached(name, s); parts[i] == nil {
			todo = append(todo, i)
		}
	}
	parallel.For(len(todo), parallelMin, func(j int) {
		i := todo[j]
		parts[i] = translateService(names[i], s, m.previous(names[i]))
	})
	for _, i := range todo {
		m.keep(names[i], parts[i])
	}
	for i, name := range names {
		p := parts[i]
		ref := model.Ref{Kind: model.KindService, Name: name}
		if p.err != nil {
			rej.add(ref, "", "not sent: %v", p.err)
			continue
		}
		// Secrets are checked here, not in the memo's part: a cluster
		// names its secrets, so it does not change when one does.
		if fe := serviceSecretsMissing(s.Services[name], secrets); fe != nil {
			rej.add(ref, fe.Field, "%s; service not sent", fe.Msg)
			continue
		}
		set.clusters[name] = p.cluster
		set.loads[name] = p.load
		if names := serviceSecrets(s.Services[name]); names != nil {
			set.secrets[name] = names
		}
	}
	return set
}

// unavailable reports why the named service cannot take traffic, or nil if
// it can.
func (ss *serviceSet) unavailable(name string) *unavailable {
	if _, ok := ss.clusters[name]; ok {
		return nil
	}
	reason, _ := ss.rej.reason(model.Ref{Kind: model.KindService, Name: name})
	return &unavailable{kind: "service", name: name, reason: reason}
}

// serviceSecretsMissing reports the first secret of a service's TLS that
// cannot be used, or nil.
func serviceSecretsMissing(svc *model.Service, secrets *secretSet) *model.FieldError {
	if svc.TLS == nil {
		return nil
	}
	if fe := secrets.use("tls.ca", svc.TLS.CA, model.SecretValidationContext); fe != nil {
		return fe
	}
	if svc.TLS.ClientCertificate == "" {
		return nil
	}
	return secrets.use("tls.client_certificate", svc.TLS.ClientCertificate, model.SecretTLSCertificate)
}
