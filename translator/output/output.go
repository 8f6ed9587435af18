// Package output is what the translator hands the xDS server: each node
// group's Envoy resources and, as text, what was left out. It holds Envoy's
// API types and strings only, so the server that streams it depends on
// nothing of the model it was translated from.
package output

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// Resources is the translation of one etcd revision.
type Resources struct {
	Revision int64
	Groups   map[string]*Group // node group (Envoy node.cluster) -> its resources
	// Rejections is every object left out in whole or in part, sorted by
	// key: reported, never sent.
	Rejections []Problem
	// IgnoredKeys is every key Chancery serves nothing from (no kind, an
	// endpoint of a missing service), sorted by key.
	IgnoredKeys []Problem
}

// Group is one node group's resources, each slice sorted by resource
// name. A resource may be shared by several groups (the same pointer), so
// it is marshalled once; consumers must not modify it.
type Group struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	Secrets   []*tlsv3.Secret // SDS: only the secrets the group's listeners and clusters name
}

// Problem is one key left out and why.
type Problem struct {
	Kind   string // the object's kind; empty for a key of no kind
	Key    string // below the prefix, as etcd holds it: it may not be valid UTF-8
	Reason string
}
