package harness

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Leader returns the member that the running members' maintenance Status
// names as their raft leader; an error while they name none, or name
// different ones (an election under way). Members without TLS only.
func (c *EtcdCluster) Leader() (*Etcd, error) {
	var running []*Etcd
	for _, m := range c.Members {
		if m.Running() {
			running = append(running, m)
		}
	}
	if len(running) == 0 {
		return nil, errors.New("no etcd member is running")
	}
	var leader uint64
	byID := map[uint64]*Etcd{}
	for _, m := range running {
		id, named, err := m.status()
		if err != nil {
			return nil, err
		}
		byID[id] = m
		if named == 0 || (leader != 0 && named != leader) {
			return nil, fmt.Errorf("no agreed leader: %s names %x, another %x", m.name, named, leader)
		}
		leader = named
	}
	m, ok := byID[leader]
	if !ok {
		return nil, fmt.Errorf("the leader %x is no running member", leader)
	}
	return m, nil
}

// status asks the member for its own id and the leader it knows (0: none).
func (e *Etcd) status() (id, leader uint64, err error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.clientURL}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return 0, 0, fmt.Errorf("etcd client for %s: %w", e.name, err)
	}
	defer cli.Close() // closing reports only requests it cancelled, and there are none
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := cli.Status(ctx, e.clientURL)
	if err != nil {
		return 0, 0, fmt.Errorf("status of %s: %w", e.name, err)
	}
	return resp.Header.MemberId, resp.Leader, nil
}

// Stop sends SIGTERM to the given members at once and waits until they
// have all exited, as when several hosts shut down together; with no
// arguments it stops every running member. A member drains its client
// streams for etcd's request timeout (about 7s) before it exits, so
// stopping members one after the other would take that long each.
func (c *EtcdCluster) Stop(members ...*Etcd) {
	if len(members) == 0 {
		for _, m := range c.Members {
			if m.Running() {
				members = append(members, m)
			}
		}
	}
	if len(members) == 0 {
		return
	}
	t := members[0].t
	t.Helper()
	errs := make([]error, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() {
			if err := m.proc.stop(etcdReadyTimeout); err != nil && !isSignalExit(err) {
				errs[i] = fmt.Errorf("stop %s: %w", m.name, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}
