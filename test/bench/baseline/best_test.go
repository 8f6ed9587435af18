package main

import (
	"context"
	"maps"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	stream "github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	"go.uber.org/zap"

	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/test/bench/workload"
)

// TestBestHandsTheCachesOnlyWhatChanged: after one endpoint write, a
// state-of-the-world client of every load assignment is sent that
// service's alone, and no group's snapshot is replaced; a group seen on a
// stream that the translation has nothing for is given an empty snapshot.
func TestBestHandsTheCachesOnlyWhatChanged(t *testing.T) {
	spec := workload.Spec{Services: 3, EndpointsPer: 2, Groups: workload.Groups(2)}
	b := newBest(context.Background(), zap.NewNop())
	s1 := workload.Snapshot(1, workload.Objects(spec))
	b.apply(s1)
	if n := b.eds.NumResources(); n != spec.Services {
		t.Fatalf("LinearCache holds %d load assignments, want %d", n, spec.Services)
	}
	snaps := map[string]any{}
	for _, g := range spec.Groups {
		snap, err := b.snaps.GetSnapshot(g)
		if err != nil {
			t.Fatalf("group %s: %v", g, err)
		}
		if n := len(snap.GetResources(resourcev3.ClusterType)); n != spec.Services {
			t.Fatalf("group %s: %d clusters, want %d", g, n, spec.Services)
		}
		if n := len(snap.GetResources(resourcev3.ListenerType)); n != 1 {
			t.Fatalf("group %s: %d listeners, want 1", g, n)
		}
		if v := snap.GetVersion(resourcev3.ClusterType); v == "" {
			t.Fatalf("group %s: no cluster version", g)
		}
		snaps[g] = snap
	}
	var names []string
	for i := range spec.Services {
		names = append(names, workload.ServiceName(i))
	}
	sub := stream.NewSotwSubscription(names, false) // the server's own record of a client's subscription
	first := sotwWatch(t, b, &cachev3.Request{TypeUrl: resourcev3.EndpointType, ResourceNames: names}, sub)
	if n := len(first.GetReturnedResources()); n != spec.Services {
		t.Fatalf("first response: %d load assignments, want %d", n, spec.Services)
	}

	// One endpoint rewritten, the rest the same objects, as the watcher
	// hands them over.
	svc := workload.ServiceName(1)
	ep := workload.Endpoint(1, 0, 7)
	_, id, _ := strings.Cut(ep.Ref.Name, "/")
	s2 := *s1
	s2.Revision, s2.Base, s2.Changed = 2, 1, []model.Ref{ep.Ref}
	s2.Endpoints = maps.Clone(s1.Endpoints)
	s2.Endpoints[svc] = maps.Clone(s1.Endpoints[svc])
	s2.Endpoints[svc][id] = workload.Snapshot(2, []workload.Object{ep}).Endpoints[svc][id]
	b.apply(&s2)

	sub.SetReturnedResources(first.GetReturnedResources())
	next := sotwWatch(t, b, &cachev3.Request{TypeUrl: resourcev3.EndpointType, ResourceNames: names, VersionInfo: first.GetResponseVersion()}, sub)
	resp, err := next.GetDiscoveryResponse()
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	for _, a := range resp.GetResources() {
		var cla endpointv3.ClusterLoadAssignment
		if err := a.UnmarshalTo(&cla); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, cla.GetClusterName())
	}
	if len(sent) != 1 || sent[0] != svc {
		t.Errorf("after a write to %s the client was sent %v", svc, sent)
	}
	for _, g := range spec.Groups {
		if snap, _ := b.snaps.GetSnapshot(g); snap != snaps[g] {
			t.Errorf("group %s: snapshot replaced after an endpoint write", g)
		}
	}

	b.seen(&corev3.Node{Id: "n-1", Cluster: "unserved"})
	snap, err := b.snaps.GetSnapshot("unserved")
	if err != nil {
		t.Fatalf("group seen on a stream: %v", err)
	}
	if n := len(snap.GetResources(resourcev3.ClusterType)); n != 0 {
		t.Fatalf("group with nothing translated: %d clusters", n)
	}
}

// sotwWatch opens a state-of-the-world watch on the LinearCache and
// returns the response it must give at once.
func sotwWatch(t *testing.T, b *best, req *cachev3.Request, sub stream.Subscription) cachev3.Response {
	t.Helper()
	ch := make(chan cachev3.Response, 1)
	if _, err := b.eds.CreateWatch(req, sub, ch); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ch:
		return r
	default:
		t.Fatal("no response to a client missing load assignments")
		return nil
	}
}
