package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chancery-xds/chancery/test/bench/benchapi"
)

// fleetOptions say what fleet to start.
type fleetOptions struct {
	name    string
	mode    string // delta, sotw or etcd
	clients int
	xds     []string // addresses, the first one first
	prefix  string   // etcd mode
	// transport is the fleet's gRPC client (not in etcd mode); empty means
	// the run's (the first -fleet-transport).
	transport string
}

// fleetProc is a running bench-fleet and its API.
type fleetProc struct {
	p    *proc
	base string
	hc   *http.Client
	n    int
}

func (d *driver) startFleet(ctx context.Context, o fleetOptions) (*fleetProc, error) {
	args := []string{"-mode", o.mode, "-clients", strconv.Itoa(o.clients), "-groups", strconv.Itoa(d.scale.groups),
		"-node-prefix", o.name, "-connect-rate", strconv.Itoa(d.scale.connectRate)}
	if o.mode == "etcd" {
		args = append(args, "-etcd", d.etcd.endpoint, "-prefix", o.prefix)
	} else {
		args = append(args, "-xds", strings.Join(o.xds, ","), "-transport", cmp.Or(o.transport, d.cfg.transport()))
	}
	p, line, err := d.procs.start(o.name, d.bin("bench-fleet"), args, true)
	if err != nil {
		return nil, err
	}
	var hello struct{ HTTP string }
	if err := json.Unmarshal([]byte(line), &hello); err != nil || hello.HTTP == "" {
		p.kill()
		return nil, fmt.Errorf("fleet %s said %q, want {\"http\":...}", o.name, line)
	}
	return &fleetProc{p: p, base: "http://" + hello.HTTP, n: o.clients,
		hc: &http.Client{Timeout: 30 * time.Second}}, nil
}

func (f *fleetProc) stop() { f.p.stop(10 * time.Second) }

// get fetches a path of the fleet's API as it is (a pprof profile).
func (f *fleetProc) get(path string) ([]byte, error) {
	resp, err := f.hc.Get(f.base + path)
	if err != nil {
		return nil, fmt.Errorf("fleet %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fleet %s: %s", path, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

func (f *fleetProc) do(method, path string, body, out any) error {
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, f.base+path, rd)
	if err != nil {
		return err
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return fmt.Errorf("fleet %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("fleet %s: %s", path, resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (f *fleetProc) status() (benchapi.Status, error) {
	var s benchapi.Status
	return s, f.do("GET", "/status", nil, &s)
}

func (f *fleetProc) post(ws []benchapi.Write) error { return f.do("POST", "/writes", ws, nil) }

// setXDS replaces the addresses clients move to after a failure.
func (f *fleetProc) setXDS(addrs []string) error { return f.do("POST", "/xds", addrs, nil) }

func (f *fleetProc) reset() error { return f.do("POST", "/reset", nil, nil) }

func (f *fleetProc) summary() (benchapi.Summary, error) {
	var s benchapi.Summary
	return s, f.do("GET", "/summary", nil, &s)
}

func (f *fleetProc) result(seq uint64, latencies bool) (benchapi.WriteResult, error) {
	var r benchapi.WriteResult
	q := "/write?seq=" + strconv.FormatUint(seq, 10)
	if latencies {
		q += "&latencies=1"
	}
	return r, f.do("GET", q, nil, &r)
}

// waitSynced waits until every client has received its whole initial
// configuration.
func (f *fleetProc) waitSynced(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var st benchapi.Status
	var err error
	for time.Now().Before(deadline) {
		if !f.p.running() {
			return fmt.Errorf("fleet exited (%v); log %s", f.p.err, f.p.log)
		}
		if st, err = f.status(); err == nil && st.Synced >= f.n {
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("fleet: %d of %d clients synced within %s (status %+v, %v)", st.Synced, f.n, timeout, st, err)
}

// waitDelivered waits until n clients hold write seq, polling fast: the
// poll interval bounds nothing measured (latencies are stamped by the
// clients), only how soon the next write may start.
func (f *fleetProc) waitDelivered(ctx context.Context, seq uint64, n int, timeout time.Duration) (benchapi.WriteResult, error) {
	deadline := time.Now().Add(timeout)
	for {
		r, err := f.result(seq, false)
		if err != nil {
			return r, err
		}
		if r.Delivered >= n {
			return f.result(seq, true)
		}
		if time.Now().After(deadline) {
			full, err := f.result(seq, true)
			if err != nil {
				return r, err
			}
			return full, fmt.Errorf("write %d reached %d of %d clients within %s", seq, r.Delivered, n, timeout)
		}
		if err := sleep(ctx, 2*time.Millisecond); err != nil {
			return r, err
		}
	}
}

// checkInitialSync waits until the fleet, synced, has received at least
// every resource of the keyspace (spec) once per client: a server that
// answered each type but left resources out fails the run here. Resources
// received more than once (state-of-the-world resends) count again, so
// this is a lower bound, not an exact count.
func (d *driver) checkInitialSync(ctx context.Context, f *fleetProc, n int) error {
	spec := d.spec()
	want := map[string]int64{"clusters": int64(spec.Services), "endpoints": int64(spec.Services), "listeners": 1, "routes": 1}
	if spec.Certificate != nil {
		want["secrets"] = 1
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		sum, err := f.summary()
		if err != nil {
			return err
		}
		short := ""
		for _, t := range slices.Sorted(maps.Keys(want)) {
			if got := sum.Resources[t]; got < want[t]*int64(n) {
				short += fmt.Sprintf(" %s %d of %d", t, got, want[t]*int64(n))
			}
		}
		if short == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("fleet synced, but received fewer resources than %d clients need:%s", n, short)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}
