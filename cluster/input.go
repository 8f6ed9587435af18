package cluster

import (
	"sync"

	"github.com/chancery-xds/chancery/storage/model"
)

// input is what the leader works from: one model snapshot, as the replica's
// watcher built it, and the rejections the translator found in it.
type input struct {
	Snapshot *model.Snapshot
	Rejected []model.Rejection
}

// mailbox holds the newest input for one consumer. Putting never blocks and
// replaces what the consumer has not taken yet: the leader only ever needs
// the latest view, and the watcher must never wait for it.
type mailbox struct {
	mu     sync.Mutex
	latest *input
	ready  chan struct{} // holds a token while latest is unseen
}

func newMailbox() *mailbox { return &mailbox{ready: make(chan struct{}, 1)} }

func (m *mailbox) put(in *input) {
	m.mu.Lock()
	m.latest = in
	m.mu.Unlock()
	select {
	case m.ready <- struct{}{}:
	default: // a token is waiting already
	}
}

// take returns the newest input (nil before the first) and clears the token.
// A consumer that starts late takes what is there, then waits on ready.
func (m *mailbox) take() *input {
	select {
	case <-m.ready:
	default:
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.latest
}
