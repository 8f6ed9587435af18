package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/etcdtest"
	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/xdsserver"
)

// The replica logs one line when it is first ready, with the addresses to
// use next, and never again on later rebuilds.
func TestReadyLineOnce(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	log := zap.New(core)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := prometheus.NewRegistry()
	xds := xdsserver.New(ctx, xdsserver.Config{Logger: zap.NewNop(), Registerer: reg})
	r := newRebuilder(log, reg, xds)
	xdsAddr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 18000}
	adminAddr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9400}
	r.ready = newReadyLine(log, xdsAddr, adminAddr)

	if got := logs.FilterMessage("ready").Len(); got != 0 {
		t.Fatalf("%d ready lines before the first load", got)
	}
	r.apply(model.NewSnapshot(7))
	r.apply(model.NewSnapshot(8))
	lines := logs.FilterMessage("ready").All()
	if len(lines) != 1 {
		t.Fatalf("%d ready lines after two rebuilds, want 1", len(lines))
	}
	fields := lines[0].ContextMap()
	want := map[string]any{"xds-address": "127.0.0.1:18000", "admin-address": "127.0.0.1:9400", "revision": int64(7)}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("ready line: %s = %v, want %v (all: %v)", k, fields[k], v, fields)
		}
	}
}

// An external etcd that refuses the connection is said at once, with its
// address; one that answers is not mentioned.
func TestReportUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String()
	l.Close()
	e, _ := etcdtest.Start(t)
	for _, tc := range []struct {
		endpoint string
		warn     bool
	}{{refused, true}, {e.Endpoint(), false}} {
		core, logs := observer.New(zap.InfoLevel)
		cli, err := storage.Dial(storage.ClientConfig{Endpoints: []string{tc.endpoint}})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		reportUnreachable(context.Background(), zap.New(core), cli)
		took := time.Since(start)
		cli.Close()
		lines := logs.All()
		switch {
		case !tc.warn && len(lines) != 0:
			t.Errorf("%s answers, yet: %v", tc.endpoint, lines)
		case tc.warn && (len(lines) != 1 || !strings.Contains(fmt.Sprint(lines[0].ContextMap()["error"]), "etcd refused the connection at "+refused)):
			t.Errorf("%s refuses: logged %v", tc.endpoint, lines)
		case tc.warn && took > 3*time.Second:
			t.Errorf("the refusal was logged after %v", took)
		}
	}
}
