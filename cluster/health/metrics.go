package health

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the health checks' metrics: a replica's, counted across all
// its terms.
type Metrics struct {
	targets     prometheus.Gauge
	checks      *prometheus.CounterVec // by result
	transitions *prometheus.CounterVec // by status
	writes      prometheus.Counter
}

// NewMetrics returns the metrics, registered with reg unless it is nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
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
	}
	if reg != nil {
		reg.MustRegister(m.targets, m.checks, m.transitions, m.writes)
	}
	return m
}
