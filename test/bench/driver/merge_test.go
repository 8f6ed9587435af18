package main

import "testing"

// TestMergeKnowsWhatThisRunMeasured: a merge keeps an earlier row exactly
// when this run did not measure it, whether the row is a metric, a series
// or an error, and whatever transport it ran on.
func TestMergeKnowsWhatThisRunMeasured(t *testing.T) {
	d := &driver{cfg: config{
		only:            map[string]bool{"p1": true, "p4": true},
		fleetTransports: []string{"h2", "grpc"},
		p1Runs:          set("baseline-best/delta/1000,chancery/sotw/100/grpc"),
	}}
	r := &Report{FleetTransport: "h2"}
	p1 := func(server, mode string, n, transport string) row {
		return row{phase: "P1", server: server, mode: mode, scale: "clients=" + n, transport: transport}
	}
	for _, c := range []struct {
		k    row
		want bool
	}{
		{p1(baselineBest, "delta", "1000", "h2"), true},
		{p1(baselineBest, "delta", "1000", "grpc"), true},
		{p1(baselineBest, "delta", "100", "h2"), false},
		{p1(chancery, "sotw", "100", "grpc"), true},
		{p1(chancery, "sotw", "100", "h2"), false},
		{row{phase: "P3", server: chancery, mode: "sotw", scale: "clients=100", transport: "grpc"}, true},
		{row{phase: "P4", server: baseline, mode: "delta", scale: "clients=5000", transport: "grpc"}, true},
		{row{phase: "P4", server: baseline, mode: "delta", scale: "clients=5000", transport: "xds"}, false},
		{row{phase: "P5", server: chancery, mode: "delta", scale: "rate=100/s"}, false},
		{row{phase: "P1"}, true}, // a phase's own error
	} {
		if got := d.measured(c.k); got != c.want {
			t.Errorf("measured(%+v) = %t, want %t", c.k, got, c.want)
		}
		if c.k.server == "" || c.k.phase == "P5" {
			continue
		}
		if got := r.seriesRow(r.seriesName(c.k)); got != c.k {
			t.Errorf("series %q reads back as %+v, want %+v", r.seriesName(c.k), got, c.k)
		}
	}
	if got, want := errorRow("P1 chancery sotw clients=100 fleet=grpc: write 3 reached 99 of 100 clients"), p1(chancery, "sotw", "100", "grpc"); got != want {
		t.Errorf("errorRow = %+v, want %+v", got, want)
	}
	if got, want := errorRow("P4 baseline-best delta fleet=h2: 19 of 20 clients connected to A"), (row{phase: "P4", server: baselineBest, mode: "delta", transport: "h2"}); got != want {
		t.Errorf("errorRow = %+v, want %+v", got, want)
	}
	if r.seriesName(p1(chancery, "delta", "100", "h2")) != "P1/chancery/delta/clients=100" {
		t.Errorf("a series of the report's transport is named as before transports: %q", r.seriesName(p1(chancery, "delta", "100", "h2")))
	}
}
