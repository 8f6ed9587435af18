package fault

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The long form of every scenario runs under make fault
// (CHANCERY_FAULT=long): the durations the issue names, more clients, and
// a report. make test runs the short form.
func long() bool { return os.Getenv("CHANCERY_FAULT") == "long" }

// pick returns short in the short form and long in the long form.
func pick[T any](short, long_ T) T {
	if long() {
		return long_
	}
	return short
}

// result is one row of docs/reliability.md: what a scenario sent and lost
// and how long it took to recover. Every figure is also asserted by the
// scenario that reports it.
type result struct {
	Scenario string        `json:"scenario"`
	Test     string        `json:"test"`
	Sent     int64         `json:"sent"`     // requests sent through the Envoys
	Failed   int64         `json:"failed"`   // of those, non-2xx or connection errors
	Recovery time.Duration `json:"recovery"` // fault to everything in sync again
	Lost     int64         `json:"lost"`     // updates written and never served
	Note     string        `json:"note"`     // the scenario's other figures
	Duration time.Duration `json:"duration"` // the scenario, start to end
	Failures bool          `json:"failures"` // the test failed
	Date     string        `json:"date"`     // of the run, UTC, YYYY-MM-DD
}

var (
	resultsMu sync.Mutex
	results   []result
	started   = map[string]time.Time{}
)

// begin marks the start of a scenario, for its duration in the report.
func begin(t *testing.T) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	started[t.Name()] = time.Now()
}

// report logs a scenario's figures and keeps them for the report.
func report(t *testing.T, r result) {
	t.Helper()
	r.Test = t.Name()
	r.Date = time.Now().UTC().Format(time.DateOnly)
	resultsMu.Lock()
	if s, ok := started[t.Name()]; ok {
		r.Duration = time.Since(s)
	}
	resultsMu.Unlock()
	t.Logf("%s: sent %d, failed %d, recovered in %v, updates lost %d; %s",
		r.Scenario, r.Sent, r.Failed, r.Recovery.Round(time.Millisecond), r.Lost, r.Note)
	t.Cleanup(func() {
		r.Failures = t.Failed()
		resultsMu.Lock()
		defer resultsMu.Unlock()
		results = append(results, r)
	})
}

// TestMain writes the report when CHANCERY_FAULT_REPORT names a file.
func TestMain(m *testing.M) {
	code := m.Run()
	if path := os.Getenv("CHANCERY_FAULT_REPORT"); path != "" {
		if err := writeReport(path); err != nil {
			fmt.Fprintln(os.Stderr, "fault report:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// writeReport writes the report of this run's scenarios, keeping from the
// report already at path the rows of scenarios this run did not run
// (make fault FAULT_RUN=... reruns one).
func writeReport(path string) error {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	jsonPath := strings.TrimSuffix(path, ".md") + ".json"
	if raw, err := os.ReadFile(jsonPath); err == nil {
		var earlier []result
		if err := json.Unmarshal(raw, &earlier); err != nil {
			return fmt.Errorf("read %s: %w", jsonPath, err)
		}
		for _, e := range earlier {
			if !slices.ContainsFunc(results, func(r result) bool { return r.Test == e.Test }) {
				results = append(results, e)
			}
		}
	}
	slices.SortStableFunc(results, func(a, b result) int { return strings.Compare(a.Scenario, b.Scenario) })
	var b strings.Builder
	form := "short"
	if long() {
		form = "long"
	}
	fmt.Fprintf(&b, "# Reliability\n\n")
	fmt.Fprintf(&b, "Written by `make fault` (the %s form; each row's date is its run's) on %s: the fault scenarios of `test/fault` on real parts\n", form, time.Now().UTC().Format(time.DateOnly))
	fmt.Fprintf(&b, "(a 3-member etcd of real binaries, three replicas behind HAProxy in TCP mode\n")
	fmt.Fprintf(&b, "checking `/readyz`, two real Envoys whose bootstraps name only HAProxy, real\n")
	fmt.Fprintf(&b, "upstreams) on a 2-core machine. Every figure here is also asserted by its test.\n\n")
	fmt.Fprintf(&b, "| scenario | requests sent | failed | time to recover | updates lost | other figures | passed | run |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		pass := "yes"
		if r.Failures {
			pass = "**no**"
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %v | %d | %s | %s | %s |\n", r.Scenario, r.Sent, r.Failed,
			r.Recovery.Round(time.Millisecond), r.Lost, strings.ReplaceAll(r.Note, "|", "\\|"), pass, r.Date)
	}
	fmt.Fprintf(&b, "\nTo reproduce one scenario:\n\n")
	for _, r := range results {
		fmt.Fprintf(&b, "- %s: `CHANCERY_FAULT=long CHANCERY_E2E=required go test -count=1 -v -run '^%s$' ./test/fault/`\n",
			r.Scenario, strings.SplitN(r.Test, "/", 2)[0])
	}
	fmt.Fprintf(&b, "\nAll of them: `make fault` (the long form; `make test` runs the short form).\n")
	raw, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(jsonPath, append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", jsonPath, err)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
