package xdsserver

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// refusedStreams returns chancery_xds_streams_refused_total{reason},
// registered with reg if reg is set: the one in reg already when the
// server's identity rule or its admission (ServerOptions) registered it
// first, as both count into it.
func refusedStreams(reg prometheus.Registerer) *prometheus.CounterVec {
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chancery_xds_streams_refused_total",
		Help: "xDS streams refused, by reason: admission (--xds-stream-rate), or a client certificate that does not allow the node group claimed.",
	}, []string{"reason"})
	if reg == nil {
		return refused
	}
	var dup prometheus.AlreadyRegisteredError
	if err := reg.Register(refused); errors.As(err, &dup) {
		return dup.ExistingCollector.(*prometheus.CounterVec)
	} else if err != nil {
		panic(err) // a metric of ours under the same name: a programming error
	}
	return refused
}

type metrics struct {
	streams       *prometheus.GaugeVec
	publishes     *prometheus.CounterVec
	publishErrors *prometheus.CounterVec
	rejected      *prometheus.GaugeVec
	revision      prometheus.Gauge

	// per type, resolved once: streams count every response and ACK
	responsesByType, resourcesByType, acksByType, nacksByType [numTypes]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	responses := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chancery_xds_responses_total", Help: "xDS responses sent."}, []string{"type"})
	resources := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chancery_xds_resources_sent_total", Help: "Resources carried by xDS responses."}, []string{"type"})
	acks := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chancery_xds_acks_total", Help: "Responses Envoys accepted."}, []string{"type"})
	nacks := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chancery_xds_nacks_total", Help: "Responses Envoys rejected."}, []string{"type"})
	m := &metrics{
		streams:       prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "chancery_xds_streams", Help: "Open xDS streams."}, []string{"mode"}),
		publishes:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chancery_snapshot_publishes_total", Help: "Snapshots published per node group (only when a version changed)."}, []string{"group"}),
		publishErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chancery_snapshot_publish_errors_total", Help: "Snapshots refused by validation; the group kept its last good one."}, []string{"group"}),
		rejected:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "chancery_object_rejected", Help: "1 for each object that is rejected or served only in part."}, []string{"kind", "key"}),
		revision:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "chancery_snapshot_revision", Help: "etcd revision of the last published snapshot."}),
	}
	for typ, name := range typeNames {
		m.responsesByType[typ] = responses.WithLabelValues(name)
		m.resourcesByType[typ] = resources.WithLabelValues(name)
		m.acksByType[typ] = acks.WithLabelValues(name)
		m.nacksByType[typ] = nacks.WithLabelValues(name)
	}
	if reg != nil {
		reg.MustRegister(m.streams, responses, resources, acks, nacks, m.publishes, m.publishErrors, m.rejected, m.revision)
	}
	return m
}
