package cluster

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	leader      prometheus.Gauge
	targets     prometheus.Gauge
	checks      *prometheus.CounterVec // by result
	transitions *prometheus.CounterVec // by status
	writes      prometheus.Counter
	// statusWrites counts the status keys this replica wrote or deleted:
	// its registration and its Envoys' records.
	statusWrites  *prometheus.CounterVec // by kind
	statusOverdue prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chancery_leader", Help: "1 while this replica is the elected leader.",
		}),
		targets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chancery_health_check_targets", Help: "Endpoints the leader checks.",
		}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chancery_health_checks_total", Help: "Active health checks run by this replica as leader, by result (pass, fail).",
		}, []string{"result"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chancery_health_transitions_total", Help: "Endpoint verdicts changed by this replica as leader, by new status.",
		}, []string{"status"}),
		writes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chancery_health_writes_total", Help: "Fenced transactions that wrote health verdicts.",
		}),
		statusWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chancery_status_writes_total", Help: "Status keys this replica wrote or deleted, by kind (registration, proxy).",
		}, []string{"kind"}),
		statusOverdue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chancery_status_overdue_proxies", Help: "Proxy records held back longer than four publish intervals, waiting for the per-interval write budget.",
		}),
	}
	for _, kind := range []string{"registration", "proxy"} {
		m.statusWrites.WithLabelValues(kind) // shown at zero before the first write
	}
	if reg != nil {
		reg.MustRegister(m.leader, m.targets, m.checks, m.transitions, m.writes, m.statusWrites, m.statusOverdue)
	}
	return m
}
