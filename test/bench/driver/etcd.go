package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/test/bench/benchapi"
	"github.com/chancery-xds/chancery/test/bench/workload"
)

// etcdServer is the run's one etcd member.
type etcdServer struct {
	p        *proc
	endpoint string
	cli      *clientv3.Client
}

// startEtcd runs bin/etcd on loopback. Without fsync: durability is not
// under test, every figure is measured from the Put returning, and fsync
// on a shared disk would only add noise to the write path.
func (d *driver) startEtcd(ctx context.Context) (*etcdServer, error) {
	for attempt := 1; ; attempt++ {
		client, err := freePort()
		if err != nil {
			return nil, err
		}
		peer, err := freePort()
		if err != nil {
			return nil, err
		}
		e := &etcdServer{endpoint: "http://" + loopback(client)}
		peerURL := "http://" + loopback(peer)
		e.p, _, err = d.procs.start("etcd", d.bin("etcd"), []string{
			"--name", "bench", "--data-dir", filepath.Join(d.dir, "etcd.data"),
			"--listen-client-urls", e.endpoint, "--advertise-client-urls", e.endpoint,
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", "bench=" + peerURL,
			"--unsafe-no-fsync", "--log-level", "warn",
			// Seeding writes thousands of keys per transaction.
			"--max-txn-ops", "20000", "--max-request-bytes", "33554432", "--quota-backend-bytes", "8589934592",
		}, false)
		if err != nil {
			return nil, err
		}
		if err = waitHTTP(ctx, e.p, e.endpoint+"/health", 30*time.Second); err == nil {
			e.cli, err = clientv3.New(clientv3.Config{Endpoints: []string{e.endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
			return e, err
		}
		e.p.kill()
		if attempt == 3 || ctx.Err() != nil {
			return nil, fmt.Errorf("etcd: %w", err)
		}
	}
}

// seed writes objects below prefix, many per transaction.
func (e *etcdServer) seed(ctx context.Context, prefix string, objs []workload.Object) error {
	ks := storage.NewKeyspace(prefix)
	const batch, maxBytes = 2000, 8 << 20
	var ops []clientv3.Op
	size := 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		if _, err := e.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			return fmt.Errorf("seed %s: %w", prefix, err)
		}
		ops, size = ops[:0], 0
		return nil
	}
	for _, o := range objs {
		if len(ops) == batch || size+len(o.Value) > maxBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		ops = append(ops, clientv3.OpPut(ks.Key(o.Ref), string(o.Value)))
		size += len(o.Value)
	}
	return flush()
}

// put writes one object.
func (e *etcdServer) put(ctx context.Context, prefix string, o workload.Object) error {
	_, err := e.cli.Put(ctx, storage.NewKeyspace(prefix).Key(o.Ref), string(o.Value))
	return err
}

// markerWriter writes endpoint changes carrying sequence numbers unique to
// the whole run.
type markerWriter struct {
	etcd   *etcdServer
	prefix string
	seq    *atomic.Uint64
}

// write changes endpoint ep of service svc and returns the write as the
// fleet needs to know it, timed when the Put returned.
func (w markerWriter) write(ctx context.Context, svc, ep int, raw bool) (benchapi.Write, error) {
	seq := w.seq.Add(1)
	if err := w.etcd.put(ctx, w.prefix, workload.Endpoint(svc, ep, seq)); err != nil {
		return benchapi.Write{}, err
	}
	return benchapi.Write{
		Seq: seq, Key: workload.ServiceName(svc) + "/" + workload.EndpointID(ep),
		PutNs: time.Now().UnixNano(), Raw: raw,
	}, nil
}

// waitHTTP polls url until it answers 200, the process exits or timeout.
func waitHTTP(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	hc := &http.Client{Timeout: 2 * time.Second}
	var last string
	for time.Now().Before(deadline) {
		if !p.running() {
			return fmt.Errorf("%s exited (%v); log %s", p.name, p.err, p.log)
		}
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s: %s not ready within %s: %s; log %s", p.name, strings.TrimPrefix(url, "http://"), timeout, last, p.log)
}
