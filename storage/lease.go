package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/storage/model"
)

// Registration keeps one object, typically an endpoint, in the keyspace
// under an etcd lease for as long as Run runs: when the process or its
// machine dies the lease expires and etcd deletes the key.
type Registration struct {
	Client   *clientv3.Client
	Keyspace Keyspace
	Ref      model.Ref
	Value    []byte
	// TTL is the lease's time to live, rounded up to whole seconds (etcd
	// may raise it to its own minimum; the event says what was granted).
	TTL time.Duration
	// RequestTimeout bounds each etcd request of a (re)registration and of
	// the final deregistration (default 5s).
	RequestTimeout time.Duration
	// Notify, if set, is told about every registration, loss and retry.
	// It runs on Run's goroutine.
	Notify func(RegistrationEvent)
}

// RegistrationEventKind says what happened to a registration.
type RegistrationEventKind string

// The events of a registration's life.
const (
	EventRegistered   RegistrationEventKind = "registered"
	EventLost         RegistrationEventKind = "lost"  // keep-alive ended: lease expired or revoked, or etcd unreachable for a TTL
	EventRetry        RegistrationEventKind = "retry" // an attempt to register failed; another follows after Backoff
	EventDeregistered RegistrationEventKind = "deregistered"
)

// RegistrationEvent is one event of a registration.
type RegistrationEvent struct {
	Kind    RegistrationEventKind
	Lease   clientv3.LeaseID
	TTL     int64 // seconds granted
	Err     error // why, for lost and retry
	Backoff time.Duration
}

// Backoff between failed registration attempts: quick at first, since the
// endpoint is out of every Envoy meanwhile, and bounded so that a fleet
// whose etcd returns does not wait long.
const (
	minRegistrationBackoff = 200 * time.Millisecond
	maxRegistrationBackoff = 2 * time.Second
)

// Run registers the object and keeps its lease alive until ctx ends, then
// revokes the lease, which deletes the key at once. A lost lease (expired
// during an etcd outage, or revoked) is replaced and the object written
// again. It returns nil after a clean deregistration, or why the object
// could not be deregistered (it then expires with its lease).
func (r *Registration) Run(ctx context.Context) error {
	if _, err := model.Decode(r.Ref, r.Value); err != nil {
		return fmt.Errorf("%s: %w", r.Ref, err)
	}
	backoff := minRegistrationBackoff
	for {
		lessor, id, ttl, err := r.register(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// Jitter spreads a fleet's registrations out when etcd returns.
			wait := backoff/2 + rand.N(backoff/2+1)
			r.notify(RegistrationEvent{Kind: EventRetry, Err: err, Backoff: wait})
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
			backoff = min(backoff*2, maxRegistrationBackoff)
			continue
		}
		backoff = minRegistrationBackoff
		r.notify(RegistrationEvent{Kind: EventRegistered, Lease: id, TTL: ttl})
		lost := keepAlive(ctx, lessor, id, ttl)
		if ctx.Err() != nil {
			return r.deregister(lessor, id)
		}
		closeLessor(lessor)
		r.notify(RegistrationEvent{Kind: EventLost, Lease: id, TTL: ttl, Err: lost})
	}
}

func (r *Registration) notify(ev RegistrationEvent) {
	if r.Notify != nil {
		r.Notify(ev)
	}
}

func (r *Registration) timeout() time.Duration {
	if r.RequestTimeout > 0 {
		return r.RequestTimeout
	}
	return 5 * time.Second
}

// register grants a lease and writes the object under it. Each attempt has
// its own lessor: a lessor whose keep-alive loop halted refuses new
// keep-alives for good, and a fresh one costs nothing.
func (r *Registration) register(ctx context.Context) (clientv3.Lease, clientv3.LeaseID, int64, error) {
	lessor := clientv3.NewLease(r.Client)
	rctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	seconds := int64((r.TTL + time.Second - 1) / time.Second)
	grant, err := lessor.Grant(rctx, max(seconds, 1))
	if err != nil {
		closeLessor(lessor)
		return nil, 0, 0, fmt.Errorf("grant lease: %w", err)
	}
	if _, err := r.Client.Put(rctx, r.Keyspace.Key(r.Ref), string(r.Value), clientv3.WithLease(grant.ID)); err != nil {
		// The lease would expire on its own; revoking it spares etcd the wait.
		// If etcd cannot be reached for this either, expiry it is.
		rctx2, cancel2 := context.WithTimeout(context.Background(), r.timeout())
		if _, rerr := lessor.Revoke(rctx2, grant.ID); rerr != nil {
			err = fmt.Errorf("%w (and revoking lease %x: %v)", err, int64(grant.ID), rerr)
		}
		cancel2()
		closeLessor(lessor)
		return nil, 0, 0, fmt.Errorf("write %s: %w", r.Ref, err)
	}
	return lessor, grant.ID, grant.TTL, nil
}

// keepAlive keeps the lease alive until ctx ends or the lease is lost, and
// says how it was lost.
func keepAlive(ctx context.Context, lessor clientv3.Lease, id clientv3.LeaseID, ttl int64) error {
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := lessor.KeepAlive(kctx, id)
	if err != nil {
		return fmt.Errorf("keep lease %x alive: %w", int64(id), err)
	}
	// The client closes the channel when etcd says the lease is gone, or
	// when no answer has come for a whole TTL; responses must be drained.
	for range ch {
	}
	return fmt.Errorf("lease %x lost: expired, revoked, or etcd unreachable for %ds", int64(id), ttl)
}

// deregister revokes the lease, which deletes the object with it.
func (r *Registration) deregister(lessor clientv3.Lease, id clientv3.LeaseID) error {
	defer closeLessor(lessor)
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout())
	defer cancel()
	if _, err := lessor.Revoke(ctx, id); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("deregister %s: revoke lease %x: %w; the key expires with the lease", r.Ref, int64(id), err)
	}
	r.notify(RegistrationEvent{Kind: EventDeregistered, Lease: id})
	return nil
}

// closeLessor stops a lessor's keep-alive goroutines; it leaves the leases
// themselves alone. clientv3's lessor Close always returns nil.
func closeLessor(l clientv3.Lease) {
	_ = l.Close()
}
