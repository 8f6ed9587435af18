package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chancery-xds/chancery/storage/model"
)

// secretExpiry exports when each served secret's first certificate
// expires, so that an alert fires before a certificate does. It runs on
// the watcher's goroutine only, one call per rebuild.
type secretExpiry struct {
	gauge *prometheus.GaugeVec
	last  map[string]bool // secrets with a series
}

func newSecretExpiry(reg prometheus.Registerer) *secretExpiry {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "chancery_secret_expiry_timestamp_seconds",
		Help: "Unix time at which the earliest certificate of each served secret expires (its not_after).",
	}, []string{"secret"})
	if reg != nil {
		reg.MustRegister(g)
	}
	return &secretExpiry{gauge: g, last: map[string]bool{}}
}

// observe sets the series of every served secret and removes those of
// secrets no longer served. Served: in the snapshot (its live value, or
// its last accepted version standing in for a rejected one) and not
// refused by the translator. Series are set and deleted one by one, never
// reset, so a scrape during a rebuild does not see them missing.
func (se *secretExpiry) observe(snap *model.Snapshot, rejected []model.Rejection) {
	refused := map[string]bool{}
	for _, rj := range rejected {
		if rj.Ref.Kind == model.KindSecret && rj.Serving == nil {
			refused[rj.Ref.Name] = true
		}
	}
	now := make(map[string]bool, len(snap.Secrets))
	for name, sec := range snap.Secrets {
		if refused[name] || sec.NotAfter().IsZero() {
			continue
		}
		label := model.SafeText(name, model.KeyTextMax)
		now[label] = true
		se.gauge.WithLabelValues(label).Set(float64(sec.NotAfter().Unix()))
	}
	for label := range se.last {
		if !now[label] {
			se.gauge.DeleteLabelValues(label)
		}
	}
	se.last = now
}
