package main

import (
	"context"
	"errors"
	"net"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/chancery-xds/chancery/storage"
)

// readyLine logs one line, the first time the replica is ready, with the
// addresses an operator needs next: where Envoys connect and where the
// admin API answers.
type readyLine struct {
	log        *zap.Logger
	xds, admin net.Addr
	logged     bool // only the watcher's goroutine calls observe
}

func newReadyLine(log *zap.Logger, xds, admin net.Addr) *readyLine {
	return &readyLine{log: log, xds: xds, admin: admin}
}

// observe is called after each publish with whether the xDS server is
// ready; it logs on the first ready call only.
func (r *readyLine) observe(ready bool, revision int64) {
	if r == nil || r.logged || !ready {
		return
	}
	r.logged = true
	r.log.Info("ready", zap.String("xds-address", r.xds.String()), zap.String("admin-address", r.admin.String()),
		zap.Int64("revision", revision))
}

// unreachableAtStart bounds the check of an external etcd at start: past
// it, the watcher's own errors tell the story.
const unreachableAtStart = 10 * time.Second

// reportUnreachable says at once, not after a request's timeout, that
// etcd does not accept connections; the replica keeps trying and becomes
// ready once etcd answers.
func reportUnreachable(ctx context.Context, log *zap.Logger, cli *clientv3.Client) {
	ctx, cancel := context.WithTimeout(ctx, unreachableAtStart)
	defer cancel()
	err := storage.CheckReachable(ctx, cli)
	if errors.Is(err, storage.ErrUnreachable) {
		log.Warn("etcd does not accept connections; retrying, ready once it answers", zap.Error(err))
	}
}
