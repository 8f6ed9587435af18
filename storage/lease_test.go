package storage_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/etcdtest"
	"github.com/chancery-xds/chancery/storage/model"
)

var epRef = model.Ref{Kind: model.KindEndpoint, Name: "web/a"}

// runRegistration starts Run and returns its events and its result.
func runRegistration(t *testing.T, cli *clientv3.Client, ctx context.Context) (<-chan storage.RegistrationEvent, <-chan error) {
	t.Helper()
	events := make(chan storage.RegistrationEvent, 16)
	done := make(chan error, 1)
	reg := &storage.Registration{
		Client: cli, Keyspace: storage.NewKeyspace(prefix), Ref: epRef,
		Value: []byte(`{"address":"10.0.0.1","port":8080}`), TTL: 5 * time.Second,
		Notify: func(ev storage.RegistrationEvent) { events <- ev },
	}
	go func() { done <- reg.Run(ctx) }()
	return events, done
}

func nextEvent(t *testing.T, events <-chan storage.RegistrationEvent, want storage.RegistrationEventKind) storage.RegistrationEvent {
	t.Helper()
	for {
		select {
		case ev := <-events:
			if ev.Kind == want {
				return ev
			}
			t.Logf("event %s: %v", ev.Kind, ev.Err)
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s event within 10s", want)
		}
	}
}

func leaseOf(t *testing.T, cli *clientv3.Client) (int64, bool) {
	t.Helper()
	resp, err := cli.Get(context.Background(), prefix+"/endpoints/web/a")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return 0, false
	}
	return resp.Kvs[0].Lease, true
}

// The endpoint lives under the lease while Run runs; ending Run revokes
// the lease, which deletes the key at once.
func TestRegistrationDeregistersOnStop(t *testing.T) {
	_, cli := etcdtest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, done := runRegistration(t, cli, ctx)
	ev := nextEvent(t, events, storage.EventRegistered)
	if ev.TTL != 5 {
		t.Errorf("granted TTL %ds, want 5", ev.TTL)
	}
	if lease, ok := leaseOf(t, cli); !ok || lease != int64(ev.Lease) {
		t.Fatalf("key lease %x (present %v), want %x", lease, ok, int64(ev.Lease))
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	nextEvent(t, events, storage.EventDeregistered)
	if _, ok := leaseOf(t, cli); ok {
		t.Error("the key outlived the registration")
	}
}

// A lost lease (here revoked by someone else) is replaced and the endpoint
// written again.
func TestRegistrationReregistersAfterLeaseLoss(t *testing.T) {
	_, cli := etcdtest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, done := runRegistration(t, cli, ctx)
	first := nextEvent(t, events, storage.EventRegistered)
	if _, err := cli.Revoke(context.Background(), first.Lease); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, events, storage.EventLost)
	second := nextEvent(t, events, storage.EventRegistered)
	if second.Lease == first.Lease {
		t.Fatal("registered again under the revoked lease")
	}
	if lease, ok := leaseOf(t, cli); !ok || lease != int64(second.Lease) {
		t.Fatalf("key lease %x (present %v), want the new lease %x", lease, ok, int64(second.Lease))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestRegistrationRefusesInvalidValue(t *testing.T) {
	_, cli := etcdtest.Start(t)
	reg := &storage.Registration{
		Client: cli, Keyspace: storage.NewKeyspace(prefix), Ref: epRef,
		Value: []byte(`{"address":"not-an-ip","port":8080}`), TTL: time.Second,
	}
	err := reg.Run(context.Background())
	if err == nil {
		t.Fatal("Run accepted an invalid endpoint")
	}
	t.Logf("error: %v", err)
	if _, ok := leaseOf(t, cli); ok {
		t.Error("an invalid endpoint was written")
	}
}
