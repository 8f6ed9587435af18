package main

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"

	"github.com/chancery-xds/chancery/test/bench/benchapi"
)

// api is the control API the driver uses.
func (f *fleet) api() http.Handler {
	mux := http.NewServeMux()
	// The fleet's own CPU is part of what a run measures: let it be profiled.
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		st := benchapi.Status{
			Clients: len(f.clients), Connected: int(f.connected.Load()), Synced: int(f.synced.Load()),
			Streams: f.streams.Load(), StreamErrors: f.streamErrs.Load(),
		}
		if e := f.lastErr.Load(); e != nil {
			st.LastError = *e
		}
		writeJSON(w, st)
	})
	mux.HandleFunc("POST /writes", func(w http.ResponseWriter, r *http.Request) {
		var ws []benchapi.Write
		if err := json.NewDecoder(r.Body).Decode(&ws); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.ledger.post(ws)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /write", func(w http.ResponseWriter, r *http.Request) {
		seq, err := strconv.ParseUint(r.URL.Query().Get("seq"), 10, 64)
		if err != nil {
			http.Error(w, "seq: "+err.Error(), http.StatusBadRequest)
			return
		}
		// Polling for progress needs only the count; the latencies are read once.
		writeJSON(w, f.ledger.result(seq, r.URL.Query().Get("latencies") == "1"))
	})
	mux.HandleFunc("POST /xds", func(w http.ResponseWriter, r *http.Request) {
		// New addresses apply from each client's next reconnect: the
		// reconnect storm starts the fleet on one replica, then lets it
		// fail over to the other. Their connections are made now.
		var addrs []string
		if err := json.NewDecoder(r.Body).Decode(&addrs); err != nil || len(addrs) == 0 {
			http.Error(w, "want a JSON list of addresses", http.StatusBadRequest)
			return
		}
		if err := f.prepare(addrs); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.addrs.Store(&addrs)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, _ *http.Request) {
		for i := range f.responses {
			f.responses[i].Store(0)
			f.resources[i].Store(0)
		}
		f.ledger.resetHistogram()
		// A measurement starts with the garbage of the clients' initial
		// sync (hundreds of megabytes at 10,000 clients) collected:
		// otherwise the collection it makes due lands in the measurement
		// and takes its CPU from the server. Envoys collect no garbage.
		runtime.GC()
		f.resetAt.Store(nowNs())
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /summary", func(w http.ResponseWriter, _ *http.Request) {
		s := benchapi.Summary{
			Seconds:   float64(nowNs()-f.resetAt.Load()) / 1e9,
			Responses: map[string]int64{}, Resources: map[string]int64{},
			Lag:     f.ledger.lag(),
			Pending: f.ledger.pendingCount(),
		}
		for i, n := range typeNames {
			s.Responses[n] = f.responses[i].Load()
			s.Resources[n] = f.resources[i].Load()
		}
		writeJSON(w, s)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
