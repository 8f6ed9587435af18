package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"
)

// dependentTypes are the types whose names a type's resources decide:
// clusters name the endpoints to fetch, listeners the route configurations
// and the secrets their TLS presents.
func dependentTypes(typeURL string) []string {
	switch typeURL {
	case resourcev3.ClusterType:
		return clusterDependents
	case resourcev3.ListenerType:
		return listenerDependents
	}
	return nil
}

var (
	clusterDependents  = []string{resourcev3.EndpointType}
	listenerDependents = []string{resourcev3.RouteType, resourcev3.SecretType}
)

func isNamed(typeURL string) bool {
	return typeURL == resourcev3.EndpointType || typeURL == resourcev3.RouteType || typeURL == resourcev3.SecretType
}

// deltaSession runs one delta ADS stream until it ends. It subscribes as
// Envoy does (clusters and listeners by wildcard, endpoints, routes and
// secrets by name) and, on a reconnect, claims what it holds with
// initial_resource_versions, so a server with the same content sends
// nothing. (test/xdsclient's delta client subscribes to everything by
// wildcard and queues every response; ten thousand of those would cost the
// fleet more than the server under test.)
func (c *client) deltaSession(ctx context.Context, conn grpc.ClientConnInterface) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(sctx)
	if err != nil {
		return err
	}
	node := &corev3.Node{Id: c.nodeID, Cluster: c.group}
	for _, typ := range typeURLs {
		req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: typ}
		if isNamed(typ) {
			if len(c.subs[typ]) == 0 {
				continue // subscribed once clusters or listeners name something
			}
			req.ResourceNamesSubscribe = c.subs[typ]
		}
		req.Node, node = node, nil // the node goes on the first message only
		if err := st.SendMsg(&claimRequest{req, c.heldOf(typ), &c.f.names}); err != nil {
			return recvErr(st, err)
		}
	}
	c.f.streams.Add(1)
	c.f.connected.Add(1)
	defer c.f.connected.Add(-1)
	var recv deltaResponse
	defer recv.release()
	for {
		if err := st.RecvMsg(&recv); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		resp := &recv.DeltaDiscoveryResponse
		anys, err := c.applyDelta(st, resp)
		if err != nil {
			return err
		}
		if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()}); err != nil {
			return err
		}
		c.observe(resp.GetTypeUrl(), anys, nowNs())
		recv.release() // nothing the client keeps points into it
	}
}

// applyDelta records a response and, like Envoy, subscribes to what it
// newly needs before ACKing it.
func (c *client) applyDelta(st discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient, resp *discoveryv3.DeltaDiscoveryResponse) ([]*anypb.Any, error) {
	typ := resp.GetTypeUrl()
	held := c.heldOf(typ)
	if held == nil {
		return nil, fmt.Errorf("a response of type %q, which the client did not ask for", typ)
	}
	deps := dependentTypes(typ)
	for _, dep := range deps {
		if c.deps[dep] == nil {
			c.deps[dep] = map[string][]string{}
		}
	}
	anys := make([]*anypb.Any, 0, len(resp.GetResources()))
	for _, r := range resp.GetResources() {
		held.set(&c.f.names, r.GetName(), r.GetVersion())
		anys = append(anys, r.GetResource())
		if len(deps) > 0 {
			d := c.f.decoder.decode(typ, r.GetResource())
			if d.err != nil {
				return nil, d.err
			}
			for _, dep := range deps {
				c.deps[dep][r.GetName()] = d.namesOf(dep)
			}
		}
	}
	for _, n := range resp.GetRemovedResources() {
		held.drop(&c.f.names, n)
		for _, dep := range deps {
			delete(c.deps[dep], n)
		}
	}
	for _, dep := range deps {
		if err := c.resubscribe(st, dep, c.deps[dep]); err != nil {
			return nil, err
		}
	}
	c.wantSecrets = len(c.subs[resourcev3.SecretType]) > 0
	return anys, nil
}

// heldOf returns what the client holds of a type; nil for a type it does
// not subscribe to.
func (c *client) heldOf(typeURL string) *versions {
	if ti, ok := typeIndex[typeURL]; ok {
		return &c.held[ti]
	}
	return nil
}

// resubscribe sends the names of typ that were added or dropped.
func (c *client) resubscribe(st discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient, typ string, deps map[string][]string) error {
	set := map[string]bool{}
	for _, names := range deps {
		for _, n := range names {
			set[n] = true
		}
	}
	want := slices.Sorted(maps.Keys(set))
	have := c.subs[typ]
	var add, drop []string
	for _, n := range want {
		if _, found := slices.BinarySearch(have, n); !found {
			add = append(add, n)
		}
	}
	for _, n := range have {
		if !set[n] {
			drop = append(drop, n)
			c.heldOf(typ).drop(&c.f.names, n)
		}
	}
	if len(add) == 0 && len(drop) == 0 {
		return nil
	}
	c.subs[typ] = want
	return st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: typ, ResourceNamesSubscribe: add, ResourceNamesUnsubscribe: drop})
}

// recvErr prefers the server's status (why it ended the stream) to the
// bare EOF a failed Send reports.
func recvErr(st grpc.ClientStream, sendErr error) error {
	var m discoveryv3.DeltaDiscoveryResponse
	if err := st.RecvMsg(&m); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return sendErr
}
