package main

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chancery-xds/chancery/test/bench/benchapi"
)

// Metric is one figure of the report: one metric of one server at one scale.
type Metric struct {
	Phase  string `json:"phase"`            // floor, P1 ... P6
	Name   string `json:"name"`             // e.g. propagation_p99
	Server string `json:"server,omitempty"` // chancery, baseline, baseline-best, etcd, envoy, or "chancery/baseline" ... for a ratio
	Mode   string `json:"mode,omitempty"`   // delta or sotw
	Scale  string `json:"scale,omitempty"`  // e.g. clients=1000
	// Transport is the fleet's gRPC client in P1, P3 and P4, which run on
	// each of the run's transports: h2 or grpc.
	Transport string  `json:"transport,omitempty"`
	Value     float64 `json:"value"`
	Unit      string  `json:"unit"`
	Target    string  `json:"target,omitempty"` // e.g. "<= 15 ms", at the scale the issue sets it
	Met       *bool   `json:"met,omitempty"`    // only where the run's scale is the target's
	Note      string  `json:"note,omitempty"`
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
	// FleetTransport is the simulated Envoys' gRPC client in every phase:
	// h2 (the fleet's own) or grpc (gRPC-Go's).
	FleetTransport string `json:"fleet_transport,omitempty"`
	// ExtraTransports are the clients P1 (with P3) and P4 also ran on.
	ExtraTransports []string `json:"extra_fleet_transports,omitempty"`
	Metrics         []Metric `json:"metrics"`
	// Series are distributions for the plots: name -> latency (ms) at each
	// percentile 0, 1, ..., 100. A series of an extra transport ends in
	// "/fleet=<transport>".
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

// row is what identifies a measured run's metrics: phase, server, mode,
// scale and fleet transport (as far as they apply).
type row struct{ phase, server, mode, scale, transport string }

// metric is one figure of the run.
func (k row) metric(name string, v float64, unit, note string) Metric {
	return Metric{Phase: k.phase, Name: name, Server: k.server, Mode: k.mode, Scale: k.scale, Transport: k.transport, Value: v, Unit: unit, Note: note}
}

func (m Metric) row() row { return row{m.Phase, m.Server, m.Mode, m.Scale, m.Transport} }

// find returns a recorded metric.
func (r *Report) find(k row, name string) (Metric, bool) {
	for _, m := range r.Metrics {
		if m.Name == name && m.row() == k {
			return m, true
		}
	}
	return Metric{}, false
}

// references are the servers Chancery is compared with, each in a ratio
// "chancery/<reference>".
var references = []string{baselineBest, baseline}

// ratioMetrics are the metrics compared with each reference, by phase.
var ratioMetrics = map[string][]string{
	"P1": {"propagation_p50", "propagation_p99", "propagation_max", "last_client_p50"},
	"P3": {"rss_per_client", "rss_settled_per_client", "goroutines_per_client"},
	"P4": {"all_hold_after_kill", "resources_beyond_changed", "b_peak_cpu", "b_peak_rss", "b_cpu"},
}

// isRatio reports whether a metric is a ratio of two servers' figures.
func isRatio(m Metric) bool { return strings.Contains(m.Server, "/") }

// compare works out, afresh, every Chancery / reference ratio the
// report's rows allow, whichever runs measured them (-merge).
func (r *Report) compare() {
	r.Metrics = slices.DeleteFunc(r.Metrics, isRatio)
	for _, m := range slices.Clone(r.Metrics) {
		if m.Server == chancery && slices.Contains(ratioMetrics[m.Phase], m.Name) {
			r.ratios(m.row(), m.Name)
		}
	}
}

// ratios adds chancery/<reference> for a metric of k (whose server is
// ignored) wherever Chancery and the reference both reported it.
func (r *Report) ratios(k row, name string) {
	k.server = chancery
	c, ok := r.find(k, name)
	if !ok {
		return
	}
	for _, ref := range references {
		k.server = ref
		b, ok := r.find(k, name)
		if !ok || b.Value == 0 {
			continue
		}
		k.server = chancery + "/" + ref
		r.add(k.metric(name+"_ratio", round(c.Value/b.Value, 3), "x", "below 1 means Chancery is better"))
	}
}

// quantileMetrics adds p50, p99 and max of a latency distribution, in ms.
func (r *Report) quantileMetrics(k row, prefix string, q benchapi.Quantiles) {
	r.add(k.metric(prefix+"_p50", ms(q.P50), "ms", ""))
	r.add(k.metric(prefix+"_p99", ms(q.P99), "ms", ""))
	r.add(k.metric(prefix+"_max", ms(q.Max), "ms", ""))
}

// perTransport reports whether a phase runs on each of the run's fleet
// transports (P3 is measured in P1's runs).
func perTransport(phase string) bool {
	switch strings.ToLower(phase) {
	case "p1", "p3", "p4":
		return true
	}
	return false
}

// seriesName names a distribution of a run; one of an extra transport
// ends in "/fleet=<transport>".
func (r *Report) seriesName(k row) string {
	name := strings.Join(slices.DeleteFunc([]string{k.phase, k.server, k.mode, k.scale}, func(p string) bool { return p == "" }), "/")
	if k.transport != "" && k.transport != r.FleetTransport {
		name += "/fleet=" + k.transport
	}
	return name
}

// seriesRow parses a series name back into the row it is of, as far as
// the merge needs it (seriesName).
func (r *Report) seriesRow(name string) row {
	parts := strings.Split(name, "/")
	k := row{phase: parts[0]}
	if !perTransport(k.phase) || len(parts) < 4 {
		return k
	}
	k.server, k.mode, k.scale, k.transport = parts[1], parts[2], parts[3], r.FleetTransport
	if len(parts) > 4 {
		k.transport = strings.TrimPrefix(parts[4], "fleet=")
	}
	return k
}

// normalize labels the P1, P3 and P4 metrics of a report written before
// metrics carried their transport with the report's: its fleet's, or
// gRPC-Go's before the fleet had its own.
func (r *Report) normalize() {
	if r.FleetTransport == "" {
		r.FleetTransport = "grpc"
	}
	for i, m := range r.Metrics {
		if m.Transport == "" && perTransport(m.Phase) {
			r.Metrics[i].Transport = r.FleetTransport
		}
	}
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

// order sorts the metrics as a run makes them, whichever runs made them
// (-merge): by phase and, in the phases a merge may keep part of (P1, P3,
// P4), by fleet transport (the report's first), server, mode and scale; a
// metric's place among those of its row stays.
func (r *Report) order() {
	index := func(list []string, v string) int {
		if i := slices.Index(list, v); i >= 0 {
			return i
		}
		return len(list)
	}
	phases := []string{"floor", "P1", "P2", "P3", "P4", "P5", "P6"}
	transports := append([]string{r.FleetTransport}, r.ExtraTransports...)
	slices.SortStableFunc(r.Metrics, func(a, b Metric) int {
		if c := cmp.Compare(index(phases, a.Phase), index(phases, b.Phase)); c != 0 || !perTransport(a.Phase) {
			return c
		}
		return cmp.Or(
			cmp.Compare(index(transports, a.Transport), index(transports, b.Transport)),
			cmp.Compare(index(servers, a.Server), index(servers, b.Server)),
			strings.Compare(a.Server, b.Server),
			strings.Compare(a.Mode, b.Mode),
			cmp.Compare(scaleSize(a.Scale), scaleSize(b.Scale)),
			strings.Compare(a.Scale, b.Scale),
		)
	})
}

// scaleSize is the number in a scale ("clients=1000" → 1000), or 0.
func scaleSize(scale string) int {
	_, v, _ := strings.Cut(scale, "=")
	n, _ := strconv.Atoi(strings.TrimSuffix(v, "/s"))
	return n
}
