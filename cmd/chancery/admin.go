package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/chancery-xds/chancery/cluster/readiness"
	"github.com/chancery-xds/chancery/xdsserver"
)

// readinessRule judges a quiet watch with what the other replicas hear
// (docs/readiness.md).
type readinessRule interface {
	Verdict(now time.Time) readiness.Verdict
	State() readiness.WatchState
}

// adminHandler serves health, readiness, metrics and debugging views; the
// debugging views only as debug allows.
func adminHandler(reg *prometheus.Registry, xds *xdsserver.Server, ready readinessRule, draining *atomic.Bool, maxLag time.Duration,
	debug debugAccess, more ...func(*http.ServeMux)) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(rw, "ok")
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, _ *http.Request) {
		switch {
		case draining.Load():
			http.Error(rw, "draining", http.StatusServiceUnavailable)
		case !xds.Ready():
			http.Error(rw, "not ready: the keyspace has not been loaded yet", http.StatusServiceUnavailable)
		default:
			readyz(rw, ready, maxLag)
		}
	})
	// Always served, like /readyz: the other replicas ask it (readiness.Readiness).
	mux.HandleFunc("GET "+readiness.WatchStatePath, func(rw http.ResponseWriter, _ *http.Request) {
		writeJSON(rw, ready.State())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/debug/", debugHandler(xds, debug)) // see admindebug.go
	for _, register := range more {
		register(mux) // e.g. the fleet page, /ui (ui.go)
	}
	return mux
}

// readyz answers for a loaded replica that is not draining: it leaves the
// load balancer only when its watch has been quiet for over maxLag while
// another replica hears from etcd.
func readyz(rw http.ResponseWriter, ready readinessRule, maxLag time.Duration) {
	st, v := ready.State(), ready.Verdict(time.Now())
	switch {
	case v.Behind:
		http.Error(rw, fmt.Sprintf("not ready: no word from etcd for %s (over --max-watch-lag %s) while replica %s hears from it at revision %d",
			v.Silent.Round(time.Millisecond), maxLag, v.Witness.Replica, v.Witness.Revision), http.StatusServiceUnavailable)
	case v.Shared:
		fmt.Fprintf(rw, "ready: serving revision %d; no word from etcd for %s, nor for any other replica reached: serving the last snapshot until etcd returns\n",
			st.Revision, v.Silent.Round(time.Millisecond))
	default:
		fmt.Fprintf(rw, "ready: revision %d, last word from etcd %s ago\n", st.Revision, v.Silent.Round(time.Millisecond))
	}
}

// debugSnapshot shows one group's versions and resources (?group=G), or
// every group's versions, the current rejections and the ignored keys.
func debugSnapshot(rw http.ResponseWriter, r *http.Request, xds *xdsserver.Server) {
	group, ok := r.URL.Query()["group"]
	if !ok {
		out := struct {
			Groups   []xdsserver.GroupVersions `json:"groups"`
			Rejected map[string]string         `json:"rejected"`
			Ignored  map[string]string         `json:"ignored"`
		}{Rejected: xds.Rejections(), Ignored: xds.Ignored()}
		for _, g := range xds.Groups() {
			if v, ok := xds.Versions(g); ok {
				out.Groups = append(out.Groups, v)
			}
		}
		writeJSON(rw, out)
		return
	}
	v, found := xds.Versions(group[0])
	if !found {
		http.Error(rw, fmt.Sprintf("no snapshot for group %q", group[0]), http.StatusNotFound)
		return
	}
	out := struct {
		xdsserver.GroupVersions
		Resources map[string][]json.RawMessage `json:"resources"`
	}{GroupVersions: v, Resources: map[string][]json.RawMessage{}}
	for typ := range v.Versions {
		items, _ := xds.Resources(group[0], typ)
		for _, it := range items {
			b, err := protojson.Marshal(xdsserver.Redact(it))
			if err != nil {
				http.Error(rw, err.Error(), http.StatusInternalServerError)
				return
			}
			out.Resources[typ] = append(out.Resources[typ], b)
		}
	}
	writeJSON(rw, out)
}

func writeJSON(rw http.ResponseWriter, v any) {
	rw.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(rw)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(rw, err.Error(), http.StatusInternalServerError)
	}
}
