package main

import "fmt"

// target is one of the targets for Chancery on this machine.
type target struct {
	phase, name, mode, scale string
	limit                    float64
	unit                     string
}

// targets are set at full scale; a run at another scale shows them as
// indications only.
var targets = []target{
	{"P1", "propagation_p50", "delta", "clients=1000", 15, "ms"},
	{"P1", "propagation_p99", "delta", "clients=1000", 50, "ms"},
	{"P1", "propagation_p99", "delta", "clients=10000", 250, "ms"},
	{"P2", "full_rebuild", "", "services=10000", 300, "ms"},
	{"P2", "endpoint_change_rebuild", "", "services=10000", 2, "ms"},
	{"P3", "rss_per_client", "delta", "clients=1000", 32, "KiB"},
	{"P3", "rss_per_client", "delta", "clients=10000", 32, "KiB"},
	{"P3", "rss_settled_per_client", "delta", "clients=1000", 32, "KiB"},
	{"P3", "rss_settled_per_client", "delta", "clients=10000", 32, "KiB"},
	{"P4", "all_hold_after_kill", "delta", "clients=5000", 1500, "ms"},
	{"P4", "all_hold_after_kill", "sotw", "clients=5000", 1500, "ms"},
	{"P4", "resources_beyond_changed", "delta", "clients=5000", 0, "resources"},
	{"P4", "resources_beyond_changed", "sotw", "clients=5000", 0, "resources"},
	{"P5", "lag_p99", "delta", "rate=2000/s", 250, "ms"},
}

// judge sets a Chancery metric's target, and whether it is met when the
// metric was measured at the target's scale. A metric at another scale
// shows the target when only one applies to it, as an indication.
func judge(m *Metric) {
	if m.Server != chancery {
		return
	}
	var same []target
	for _, t := range targets {
		if t.phase == m.Phase && t.name == m.Name && (t.mode == "" || t.mode == m.Mode) {
			same = append(same, t)
		}
	}
	for _, t := range same {
		if t.scale == m.Scale {
			m.Target = fmt.Sprintf("<= %g %s", t.limit, t.unit)
			met := m.Value <= t.limit
			m.Met = &met
			return
		}
	}
	if len(same) == 1 {
		m.Target = fmt.Sprintf("<= %g %s at %s", same[0].limit, same[0].unit, same[0].scale)
	}
}
