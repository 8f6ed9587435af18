package xdsserver

import (
	"maps"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/chancery-xds/chancery/internal/safetext"
	"github.com/chancery-xds/chancery/translator/output"
)

// ignoredKeys reports the keys Chancery serves nothing from (keys of no
// kind, endpoints of missing services): a log line once per key and
// reason, and a gauge per key, so that a typo is seen, not silently lost.
type ignoredKeys struct {
	gauge *prometheus.GaugeVec
	last  map[string]string // safe key -> reason, as last logged
}

func newIgnoredKeys(reg prometheus.Registerer) *ignoredKeys {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "chancery_key_ignored",
		Help: "1 for each key under the prefix that Chancery serves nothing from: no kind, or an endpoint of a missing service.",
	}, []string{"key"})
	if reg != nil {
		reg.MustRegister(g)
	}
	return &ignoredKeys{gauge: g, last: map[string]string{}}
}

// report logs what is newly ignored and what no longer is; it runs under
// the server's publish lock.
func (ig *ignoredKeys) report(log *zap.Logger, ignored []output.Problem) {
	now := make(map[string]string, len(ignored))
	ig.gauge.Reset()
	for _, i := range ignored {
		key, reason := safetext.Text(i.Key, safetext.KeyMax), safetext.Text(i.Reason, safetext.ReasonMax)
		now[key] = reason
		ig.gauge.WithLabelValues(key).Set(1)
		if ig.last[key] != reason {
			log.Warn("key ignored", zap.String("key", key), zap.String("reason", reason))
		}
	}
	for key := range ig.last {
		if _, ok := now[key]; !ok {
			log.Info("key no longer ignored", zap.String("key", key))
		}
	}
	ig.last = now
}

// Ignored returns the keys currently ignored, key -> reason, as logged.
func (s *Server) Ignored() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.ignored.last)
}
