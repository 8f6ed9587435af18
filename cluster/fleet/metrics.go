package fleet

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the publisher's metrics: a replica's, counted across all its
// sessions.
type Metrics struct {
	// statusWrites counts the status keys this replica wrote or deleted:
	// its registration and its Envoys' records.
	statusWrites  *prometheus.CounterVec // by kind
	statusOverdue prometheus.Gauge
}

// NewMetrics returns the metrics, registered with reg unless it is nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
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
		reg.MustRegister(m.statusWrites, m.statusOverdue)
	}
	return m
}
