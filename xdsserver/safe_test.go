package xdsserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"

	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/xdsserver"
)

// logBuffer holds what a logger writes; streams log from their own
// goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// jsonLogger is a production-style logger writing JSON lines into buf.
func jsonLogger(buf *logBuffer) *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(buf), zap.DebugLevel))
}

// logEntries decodes every line of a JSON log.
func logEntries(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, entry)
	}
	return out
}

// A key that is not valid UTF-8 (the crash key of issue 17) is rejected,
// and its rejection is logged, exported and listed under a safe name:
// before, the Prometheus label of chancery_object_rejected panicked.
func TestRejectionOfAnInvalidKeyIsReportedSafely(t *testing.T) {
	bad := model.Ref{Kind: model.KindService, Name: "bad\xffx"}
	ctl := model.Ref{Kind: model.KindService, Name: "ctl\x1b[2Jx"}
	res := translate(t, 7, map[model.Ref]string{bad: `{"protocol":"http"}`, ctl: `{"protocol":"http"}`})

	var logs logBuffer
	reg := prometheus.NewRegistry()
	srv := xdsserver.New(context.Background(), xdsserver.Config{Logger: jsonLogger(&logs), Registerer: reg})
	if err := srv.Publish(res); err != nil {
		t.Fatal(err)
	}

	wantKeys := []string{`"services/bad\xffx"`, `"services/ctl\x1b[2Jx"`}
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	labels := map[string]bool{}
	for _, f := range families {
		if f.GetName() != "chancery_object_rejected" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "key" {
					labels[l.GetValue()] = true
				}
			}
		}
	}
	rejections := srv.Rejections()
	for _, key := range wantKeys {
		if !labels[key] {
			t.Errorf("chancery_object_rejected has no key=%s; keys %v", key, labels)
		}
		if !strings.Contains(rejections[key], "name ") {
			t.Errorf("Rejections()[%s] = %q, want the name's rejection; all: %v", key, rejections[key], rejections)
		}
	}

	logged := map[string]bool{}
	for _, entry := range logEntries(t, logs.String()) {
		if entry["msg"] == "object rejected" {
			logged[entry["key"].(string)] = true
		}
	}
	for _, key := range wantKeys {
		if !logged[key] {
			t.Errorf("no rejection logged with key %s; log:\n%s", key, logs.String())
		}
	}
	if strings.Contains(logs.String(), "\x1b") || strings.Contains(logs.String(), `\u001b`) {
		t.Errorf("the log holds the key's escape character:\n%s", logs.String())
	}
}

// What an Envoy says about itself is shown safe: a node id with a terminal
// escape and a NACK whose error holds a NUL and a tab are logged and listed
// escaped, and the NACK keeps its lines.
func TestEnvoyStringsAreShownSafely(t *testing.T) {
	var logs logBuffer
	ctx, cancel := context.WithCancel(context.Background())
	srv := xdsserver.New(ctx, xdsserver.Config{Logger: jsonLogger(&logs)})
	if err := srv.Publish(translate(t, 10, nil)); err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(xdsserver.ServerOptions(xdsserver.GRPCConfig{})...)
	srv.Register(g)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(l) }() // returns when stopped below
	t.Cleanup(func() { g.Stop(); cancel() })

	d := openDelta(t, l.Addr().String())
	d.node = &corev3.Node{Id: "envoy\x1b[31m-1", Cluster: "edge"}
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	r := d.recv()
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResponseNonce: r.GetNonce(),
		ErrorDetail: &rpcstatus.Status{Code: 3, Message: "listener main:\x00 refused\n\tsecond line"}})

	const wantNode, wantNack = `"envoy\x1b[31m-1"`, "\"listener main:\\x00 refused\"\n\"\\tsecond line\""
	deadline := time.Now().Add(5 * time.Second)
	for {
		p := srv.Proxies()
		if len(p) == 1 && p[0].NodeID == wantNode && p[0].Types["listeners"].NackError == wantNack {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxies %+v, want node %s with NACK error %q", p, wantNode, wantNack)
		}
		time.Sleep(5 * time.Millisecond) // polling the server's view: nothing to wait on
	}
	found := false
	for _, e := range logEntries(t, logs.String()) {
		if e["msg"] == "config rejected by Envoy" {
			found = e["node-id"] == wantNode && e["error"] == wantNack
		}
	}
	if !found {
		t.Errorf("no NACK logged with node-id %s and error %q; log:\n%s", wantNode, wantNack, logs.String())
	}
}
