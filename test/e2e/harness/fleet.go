package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/test/bench/benchapi"
)

// FleetOptions configures StartFleet.
type FleetOptions struct {
	// Clients is how many simulated Envoys run.
	Clients int
	// XDSAddresses are the xDS addresses a client tries in turn, moving on
	// after each failure (one, a load balancer, in most tests).
	XDSAddresses []string
	// Groups is how many node groups the clients are spread over
	// (group-00, group-01, ...: test/bench/workload's); zero means 10.
	Groups int
	// ConnectRate is how many clients start per second; zero means 2000.
	ConnectRate float64
	// NodePrefix names the clients <prefix>-<i>; empty means "node".
	NodePrefix string
}

// Fleet is bin/bench-fleet: simulated delta-ADS Envoys, each with its own
// node id and connection, that ACK every response and record which marked
// endpoint changes (test/bench/workload) reached them. The test reads its
// progress over the fleet's control API (package benchapi).
type Fleet struct {
	t    testing.TB
	base string // the control API, http://127.0.0.1:port
	n    int
	proc *process
}

// fleetLifetime bounds a fleet that its test lost track of.
const fleetLifetime = 30 * time.Minute

// StartFleet starts bin/bench-fleet and waits until its control API answers;
// the clients start at the configured rate from then on.
func StartFleet(t testing.TB, opts FleetOptions) *Fleet {
	t.Helper()
	bin := binary(t, "bench-fleet")
	if opts.Groups == 0 {
		opts.Groups = 10
	}
	if opts.ConnectRate == 0 {
		opts.ConnectRate = 2000
	}
	if opts.NodePrefix == "" {
		opts.NodePrefix = "node"
	}
	dir := t.TempDir()
	var f *Fleet
	startRetrying(t, "bench-fleet", func() ([]*process, error) {
		listen := loopback(FreePort(t))
		f = &Fleet{t: t, base: "http://" + listen, n: opts.Clients}
		args := []string{"-mode", "delta", "-clients", strconv.Itoa(opts.Clients),
			"-xds", strings.Join(opts.XDSAddresses, ","), "-groups", strconv.Itoa(opts.Groups),
			"-node-prefix", opts.NodePrefix, "-connect-rate", strconv.FormatFloat(opts.ConnectRate, 'f', -1, 64),
			"-listen", listen, "-lifetime", fleetLifetime.String()}
		f.proc = newProcess(t, "bench-fleet", bin, filepath.Join(dir, "bench-fleet.log"), args)
		if err := f.proc.start(); err != nil {
			return []*process{f.proc}, err
		}
		return []*process{f.proc}, f.proc.waitUntil(10*time.Second, "control API", func() error {
			_, err := f.Status()
			return err
		})
	})
	return f
}

// Clients returns how many clients the fleet runs.
func (f *Fleet) Clients() int { return f.n }

// PID returns the fleet's process ID.
func (f *Fleet) PID() int { return f.proc.run.cmd.Process.Pid }

// Status returns how many clients are connected and synced, and how many
// streams they opened and lost.
func (f *Fleet) Status() (benchapi.Status, error) {
	var st benchapi.Status
	return st, f.call(http.MethodGet, "/status", nil, &st)
}

// WaitSynced waits until every client has received its whole configuration
// and holds a stream, and returns the fleet's status then.
func (f *Fleet) WaitSynced(t testing.TB, timeout time.Duration) benchapi.Status {
	t.Helper()
	var st benchapi.Status
	Eventually(t, timeout, 100*time.Millisecond, func() error {
		if !f.proc.running() {
			t.Fatalf("bench-fleet exited: %v; log %s", f.proc.run.err, f.proc.logPath)
		}
		var err error
		if st, err = f.Status(); err != nil {
			return err
		}
		if st.Synced < f.n || st.Connected < f.n {
			return fmt.Errorf("%d of %d clients synced, %d connected (last error %q)", st.Synced, f.n, st.Connected, st.LastError)
		}
		return nil
	})
	return st
}

// Post tells the fleet of writes made, so that it can tell who got them.
func (f *Fleet) Post(ws ...benchapi.Write) error { return f.call(http.MethodPost, "/writes", ws, nil) }

// Delivered returns how many clients hold the posted Raw write seq and, with
// latencies, each one's latency from the write to its ACK.
func (f *Fleet) Delivered(seq uint64, latencies bool) (benchapi.WriteResult, error) {
	var r benchapi.WriteResult
	path := "/write?seq=" + strconv.FormatUint(seq, 10)
	if latencies {
		path += "&latencies=1"
	}
	return r, f.call(http.MethodGet, path, nil, &r)
}

// WaitDelivered waits until every client holds the posted Raw write seq,
// and returns the latencies.
func (f *Fleet) WaitDelivered(t testing.TB, seq uint64, timeout time.Duration) []int64 {
	t.Helper()
	Eventually(t, timeout, 5*time.Millisecond, func() error {
		r, err := f.Delivered(seq, false)
		if err != nil {
			return err
		}
		if r.Delivered < f.n {
			return fmt.Errorf("write %d reached %d of %d clients", seq, r.Delivered, f.n)
		}
		return nil
	})
	r, err := f.Delivered(seq, true)
	if err != nil {
		t.Fatal(err)
	}
	return r.LatenciesNs
}

// fleetClient bounds one control-API call: the fleet answers from memory.
var fleetClient = &http.Client{Timeout: 10 * time.Second}

func (f *Fleet) call(method, path string, in, out any) error {
	var body bytes.Buffer
	if in != nil {
		if err := json.NewEncoder(&body).Encode(in); err != nil {
			return fmt.Errorf("bench-fleet %s: encode: %w", path, err)
		}
	}
	req, err := http.NewRequest(method, f.base+path, &body)
	if err != nil {
		return err
	}
	resp, err := fleetClient.Do(req)
	if err != nil {
		return fmt.Errorf("bench-fleet %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("bench-fleet %s: %s", path, resp.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("bench-fleet %s: %w", path, err)
	}
	return nil
}

// PID returns the replica's process ID while it runs, 0 otherwise: what
// ReadProcFigures reads.
func (c *Chancery) PID() int {
	if !c.proc.running() {
		return 0
	}
	return c.proc.run.cmd.Process.Pid
}

// ProcFigures are a process's resource figures as Linux keeps them.
type ProcFigures struct {
	CPU     time.Duration // user + system time since it started
	RSS     int64         // resident memory now, bytes (VmRSS)
	PeakRSS int64         // highest resident memory since it started, bytes (VmHWM)
}

// ReadProcFigures reads /proc/<pid>/stat and /proc/<pid>/status.
func ReadProcFigures(pid int) (ProcFigures, error) {
	var pf ProcFigures
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return pf, err
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: utime and stime are the 12th and 13th.
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return pf, fmt.Errorf("/proc/%d/stat: %d fields after the name, want at least 13", pid, len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return pf, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	const userHZ = 100 // USER_HZ on every Linux this runs on
	pf.CPU = time.Duration(ticks) * time.Second / userHZ
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return pf, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return pf, fmt.Errorf("/proc/%d/status %s: %w", pid, name, err)
		}
		if name == "VmRSS" {
			pf.RSS = kb << 10
		} else {
			pf.PeakRSS = kb << 10
		}
	}
	if pf.RSS == 0 || pf.PeakRSS == 0 {
		return pf, fmt.Errorf("/proc/%d/status: no VmRSS or VmHWM", pid)
	}
	return pf, nil
}
