package xdsserver_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"

	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/test/xdsclient"
	"github.com/chancery-xds/chancery/translator/output"
	"github.com/chancery-xds/chancery/xdsserver"
)

// meteredReplica is startReplica with the server's metrics in reg.
func meteredReplica(t *testing.T, res *output.Resources, reg prometheus.Registerer) (*xdsserver.Server, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := xdsserver.New(ctx, xdsserver.Config{Logger: zaptest.NewLogger(t), Registerer: reg})
	if err := srv.Publish(res); err != nil {
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
	return srv, l.Addr().String()
}

// groupSeries lists the groups that have a series of a per-group metric.
func groupSeries(t *testing.T, reg *prometheus.Registry, name string) []string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "group" {
					out = append(out, l.GetValue())
				}
			}
		}
	}
	return out
}

// emptySync opens a stream of group and waits for an empty answer to every
// type.
func emptySync(t *testing.T, addr, group string) *xdsclient.Client {
	t.Helper()
	c := dial(t, addr, xdsclient.Options{NodeID: "n", Group: group})
	for seen := map[string]bool{}; len(seen) < len(xdsclient.Types); {
		select {
		case r, open := <-c.Responses():
			if !open {
				t.Fatalf("stream of %s ended: %v", group, c.Err())
			}
			if len(r.Resources) != 0 {
				t.Errorf("%s: %d resources for a group no listener names", r.TypeURL, len(r.Resources))
			}
			seen[r.TypeURL] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: only %d of %d types answered", group, len(seen), len(xdsclient.Types))
		}
	}
	return c
}

func waitGroups(t *testing.T, srv *xdsserver.Server, has bool, group string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); slices.Contains(srv.Groups(), group) != has; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("group %s published: %v, want %v (groups %v)", group, !has, has, srv.Groups())
		}
	}
}

// A group no listener names gets an empty snapshot while it has streams;
// with its last stream its snapshot and its metric series go, and a later
// publish does not bring them back. A named group keeps its snapshot with
// no stream; one that no listener names any more goes at the next publish.
func TestMadeUpGroupLeavesWithItsLastStream(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, addr := meteredReplica(t, translate(t, 10, nil), reg)
	const series = "chancery_snapshot_publishes_total"
	first := emptySync(t, addr, "made-up")
	second := emptySync(t, addr, "made-up")
	if !slices.Contains(srv.Groups(), "made-up") || !slices.Contains(groupSeries(t, reg, series), "made-up") {
		t.Fatalf("while streams use it: groups %v, series %v", srv.Groups(), groupSeries(t, reg, series))
	}
	if err := srv.Publish(translate(t, 11, nil)); err != nil {
		t.Fatal(err)
	}
	first.Close()
	if err := srv.Publish(translate(t, 12, nil)); err != nil {
		t.Fatal(err)
	}
	waitGroups(t, srv, true, "made-up") // second still uses it
	second.Close()
	waitGroups(t, srv, false, "made-up")
	if got := groupSeries(t, reg, series); slices.Contains(got, "made-up") {
		t.Errorf("series of made-up left after its last stream: %v", got)
	}
	if err := srv.Publish(translate(t, 13, nil)); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(srv.Groups(), "made-up") || slices.Contains(groupSeries(t, reg, series), "made-up") {
		t.Errorf("a publish brought made-up back: groups %v", srv.Groups())
	}
	if !slices.Contains(srv.Groups(), "internal") {
		t.Errorf("named group internal, without streams, lost its snapshot: groups %v", srv.Groups())
	}
	// A stream of it again gets an empty snapshot, as the first did.
	emptySync(t, addr, "made-up").Close()
	waitGroups(t, srv, false, "made-up")

	// No listener names internal any more, and no stream uses it.
	moved := map[model.Ref]string{{Kind: model.KindListener, Name: "internal"}: `{"address":"127.0.0.1","port":10001,"protocol":"tcp","service":"unused","groups":["edge"]}`}
	if err := srv.Publish(translate(t, 14, moved)); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(srv.Groups(), "internal") || slices.Contains(groupSeries(t, reg, series), "internal") {
		t.Errorf("internal, named by no listener and used by no stream, kept: groups %v", srv.Groups())
	}
}

// Streams joining and leaving a made-up group while publishes run: each
// gets its empty snapshot, and the group goes with the last of them.
func TestMadeUpGroupChurnsWithPublishes(t *testing.T) {
	srv, addr := meteredReplica(t, translate(t, 10, nil), prometheus.NewRegistry())
	stop := make(chan struct{})
	published := make(chan error, 1)
	go func() {
		rev := int64(11)
		for {
			select {
			case <-stop:
				published <- nil
				return
			default:
			}
			if err := srv.Publish(translate(t, rev, nil)); err != nil {
				published <- err
				return
			}
			rev++
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 8*4)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 4 {
				c, err := xdsclient.Dial(addr, xdsclient.Options{NodeID: fmt.Sprintf("n%d-%d", i, j), Group: "churn"})
				if err != nil {
					errs <- err
					return
				}
				if err := answeredEmpty(c); err != nil {
					errs <- err
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitGroups(t, srv, false, "churn")
}

// answeredEmpty waits for an empty answer to every type.
func answeredEmpty(c *xdsclient.Client) error {
	timeout := time.After(10 * time.Second)
	for seen := map[string]bool{}; len(seen) < len(xdsclient.Types); {
		select {
		case r, open := <-c.Responses():
			if !open {
				return fmt.Errorf("stream ended: %w", c.Err())
			}
			if len(r.Resources) != 0 {
				return fmt.Errorf("%s: %d resources for a group no listener names", r.TypeURL, len(r.Resources))
			}
			seen[r.TypeURL] = true
		case <-timeout:
			return fmt.Errorf("only %d of %d types answered", len(seen), len(xdsclient.Types))
		}
	}
	return nil
}
