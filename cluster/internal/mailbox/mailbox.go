// Package mailbox hands the newest of a stream of values from a producer
// that must never wait to one consumer that only ever needs the latest.
package mailbox

import "sync"

// Mailbox holds the newest value for one consumer. Putting never blocks and
// replaces what the consumer has not taken yet: the leader only ever needs
// the latest view, and the watcher must never wait for it.
type Mailbox[T any] struct {
	mu     sync.Mutex
	latest T
	ready  chan struct{} // holds a token while latest is unseen
}

// New returns an empty mailbox.
func New[T any]() *Mailbox[T] { return &Mailbox[T]{ready: make(chan struct{}, 1)} }

// Put replaces the value held.
func (m *Mailbox[T]) Put(v T) {
	m.mu.Lock()
	m.latest = v
	m.mu.Unlock()
	select {
	case m.ready <- struct{}{}:
	default: // a token is waiting already
	}
}

// Take returns the newest value (the zero value before the first) and
// clears the token. A consumer that starts late takes what is there, then
// waits on Ready.
func (m *Mailbox[T]) Take() T {
	select {
	case <-m.ready:
	default:
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.latest
}

// Ready holds a token while the newest value has not been taken.
func (m *Mailbox[T]) Ready() <-chan struct{} { return m.ready }
