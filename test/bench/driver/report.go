package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/chancery-xds/chancery/test/bench/benchapi"
)

// Metric is one figure of the report: one metric of one server at one scale.
type Metric struct {
	Phase  string  `json:"phase"`            // floor, P1 ... P6
	Name   string  `json:"name"`             // e.g. propagation_p99
	Server string  `json:"server,omitempty"` // chancery, baseline, etcd, envoy, or "chancery/baseline" for a ratio
	Mode   string  `json:"mode,omitempty"`   // delta or sotw
	Scale  string  `json:"scale,omitempty"`  // e.g. clients=1000
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Target string  `json:"target,omitempty"` // e.g. "<= 15 ms", at the scale the issue sets it
	Met    *bool   `json:"met,omitempty"`    // only where the run's scale is the target's
	Note   string  `json:"note,omitempty"`
}

// Report is docs/benchmarks.json.
type Report struct {
	Generated string             `json:"generated"`
	Scale     string             `json:"scale"`
	Command   string             `json:"command"`
	Machine   Machine            `json:"machine"`
	Seconds   map[string]float64 `json:"phase_seconds"`
	// Commits is the commit each phase ran at: they differ after -merge.
	Commits map[string]string `json:"phase_commits,omitempty"`
	// FleetTransport is the simulated Envoys' gRPC client: h2 (the
	// fleet's own) or grpc (gRPC-Go's).
	FleetTransport string   `json:"fleet_transport,omitempty"`
	Metrics        []Metric `json:"metrics"`
	// Series are distributions for the plots: name -> latency (ms) at each
	// percentile 0, 1, ..., 100.
	Series map[string][]float64 `json:"series"`
	Errors []string             `json:"errors,omitempty"`
	Notes  []string             `json:"notes,omitempty"`
}

func newReport(scale string) *Report {
	return &Report{
		Generated: time.Now().UTC().Format(time.RFC3339), Scale: scale,
		Seconds: map[string]float64{}, Commits: map[string]string{}, Series: map[string][]float64{},
	}
}

// add records a metric, judging it against its target when there is one.
func (r *Report) add(m Metric) {
	judge(&m)
	r.Metrics = append(r.Metrics, m)
}

// find returns a recorded metric.
func (r *Report) find(phase, name, server, mode, scale string) (Metric, bool) {
	for _, m := range r.Metrics {
		if m.Phase == phase && m.Name == name && m.Server == server && m.Mode == mode && m.Scale == scale {
			return m, true
		}
	}
	return Metric{}, false
}

// ratio adds chancery/baseline for a metric both servers reported.
func (r *Report) ratio(phase, name, mode, scale string) {
	c, ok1 := r.find(phase, name, chancery, mode, scale)
	b, ok2 := r.find(phase, name, baseline, mode, scale)
	if !ok1 || !ok2 || b.Value == 0 {
		return
	}
	r.add(Metric{Phase: phase, Name: name + "_ratio", Server: "chancery/baseline", Mode: mode, Scale: scale,
		Value: round(c.Value/b.Value, 3), Unit: "x", Note: "below 1 means Chancery is better"})
}

// quantileMetrics adds p50, p99 and max of a latency distribution, in ms.
func (r *Report) quantileMetrics(phase, prefix, server, mode, scale string, q benchapi.Quantiles) {
	r.add(Metric{Phase: phase, Name: prefix + "_p50", Server: server, Mode: mode, Scale: scale, Value: ms(q.P50), Unit: "ms"})
	r.add(Metric{Phase: phase, Name: prefix + "_p99", Server: server, Mode: mode, Scale: scale, Value: ms(q.P99), Unit: "ms"})
	r.add(Metric{Phase: phase, Name: prefix + "_max", Server: server, Mode: mode, Scale: scale, Value: ms(q.Max), Unit: "ms"})
}

// series stores a distribution as 101 percentiles, in ms.
func (r *Report) series(name string, ns []int64) {
	if len(ns) == 0 {
		return
	}
	sorted := slices.Clone(ns)
	slices.Sort(sorted)
	out := make([]float64, 101)
	for p := range out {
		i := min(p*(len(sorted)-1)/100, len(sorted)-1)
		out[p] = ms(sorted[i])
	}
	r.Series[name] = out
}

func (r *Report) errorf(format string, args ...any) {
	r.Errors = append(r.Errors, fmt.Sprintf(format, args...))
}

func ms(ns int64) float64 { return round(float64(ns)/1e6, 3) }

func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}
