package xdsserver

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	streams       *prometheus.GaugeVec
	responses     *prometheus.CounterVec
	acks, nacks   *prometheus.CounterVec
	publishes     *prometheus.CounterVec
	publishErrors *prometheus.CounterVec
	rejected      *prometheus.GaugeVec
	revision      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		streams:       prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "chancery_xds_streams", Help: "Open xDS streams."}, []string{"mode"}),
		responses:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chancery_xds_responses_total", Help: "xDS responses sent."}, []string{"type"}),
		acks:          prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chancery_xds_acks_total", Help: "Responses Envoys accepted."}, []string{"type"}),
		nacks:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chancery_xds_nacks_total", Help: "Responses Envoys rejected."}, []string{"type"}),
		publishes:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chancery_snapshot_publishes_total", Help: "Snapshots published per node group (only when a version changed)."}, []string{"group"}),
		publishErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chancery_snapshot_publish_errors_total", Help: "Snapshots refused by validation; the group kept its last good one."}, []string{"group"}),
		rejected:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "chancery_object_rejected", Help: "1 for each object that is rejected or served only in part."}, []string{"kind", "key"}),
		revision:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "chancery_snapshot_revision", Help: "etcd revision of the last published snapshot."}),
	}
	if reg != nil {
		reg.MustRegister(m.streams, m.responses, m.acks, m.nacks, m.publishes, m.publishErrors, m.rejected, m.revision)
	}
	return m
}
