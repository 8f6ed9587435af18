package xdsserver

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// wireShell returns a message that marshals to the encoding b of m by
// copying it: an empty message of m's type holding b as unknown fields,
// plus m's name so go-control-plane can index it.
//
// go-control-plane marshals each resource again for every stream it sends
// it on (a change to one group's load assignment costs one marshal per
// Envoy). Handing it shells makes that a copy of bytes marshalled once per
// publish. The name field appears twice on the wire, with the same value;
// a protobuf parser keeps the last, so Envoy reads exactly m.
func wireShell(m proto.Message, b []byte) (proto.Message, bool) {
	var shell proto.Message
	switch r := m.(type) {
	case *clusterv3.Cluster:
		shell = &clusterv3.Cluster{Name: r.GetName()}
	case *endpointv3.ClusterLoadAssignment:
		shell = &endpointv3.ClusterLoadAssignment{ClusterName: r.GetClusterName()}
	case *listenerv3.Listener:
		shell = &listenerv3.Listener{Name: r.GetName()}
	case *routev3.RouteConfiguration:
		shell = &routev3.RouteConfiguration{Name: r.GetName()}
	default:
		return nil, false
	}
	shell.ProtoReflect().SetUnknown(protoreflect.RawFields(b))
	return shell, true
}
