package main

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// admin is what both setups show on the admin listener: readiness once the
// first translation is served, the Go runtime's metrics, the rebuild
// histogram and pprof, under the paths Chancery uses.
type admin struct {
	reg     *prometheus.Registry
	ready   atomic.Bool
	rebuild prometheus.Histogram
}

func newAdmin() *admin {
	a := &admin{
		reg: prometheus.NewRegistry(),
		rebuild: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chancery_rebuild_seconds", Help: "Time to translate a snapshot and hand it to the caches.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}),
	}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), a.rebuild)
	return a
}

// rebuilt records one rebuild that began at start and marks the server ready.
func (a *admin) rebuilt(start time.Time) {
	a.ready.Store(true)
	a.rebuild.Observe(time.Since(start).Seconds())
}

func (a *admin) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	return mux
}
