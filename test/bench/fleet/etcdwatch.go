package main

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/test/bench/workload"
)

// etcdSession is the floor: a bare etcd watcher on the endpoints of the
// keyspace, with no control plane in between. It reads the same marker
// from the written value that an xDS client reads from the endpoint's
// metadata, and delivers it the same way.
func (c *client) etcdSession(ctx context.Context) error {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: c.f.cfg.etcdEndpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
	})
	if err != nil {
		return err
	}
	defer cli.Close()
	prefix := strings.TrimSuffix(c.f.cfg.prefix, "/") + "/" + model.KindEndpoint.Segment() + "/"
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	events := cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	c.f.streams.Add(1)
	c.f.connected.Add(1)
	defer c.f.connected.Add(-1)
	for resp := range events {
		if err := resp.Err(); err != nil {
			return err
		}
		at := nowNs()
		if resp.Created {
			c.markSeen(baseTypes, at) // a watcher holds nothing before its first event
			continue
		}
		c.got++
		c.f.responses[1].Add(1)
		c.f.resources[1].Add(int64(len(resp.Events)))
		for _, ev := range resp.Events {
			if ev.Type != clientv3.EventTypePut {
				continue
			}
			if m, ok := c.etcdMarker(strings.TrimPrefix(string(ev.Kv.Key), prefix), ev.Kv.Value); ok {
				c.deliver([]marker{m}, at)
			}
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("etcd watch channel closed")
}

// etcdMarker reads the marker of one endpoint value; name is
// "<service>/<endpoint id>", the key an xDS client builds from the cluster
// name and the endpoint's id.
func (c *client) etcdMarker(name string, value []byte) (marker, bool) {
	var ep model.Endpoint
	if err := json.Unmarshal(value, &ep); err != nil {
		return marker{}, false
	}
	seq, err := strconv.ParseUint(ep.Metadata[workload.MarkerKey], 10, 64)
	if err != nil {
		return marker{}, false
	}
	return marker{key: c.f.ledger.key(name), seq: seq}, true
}
