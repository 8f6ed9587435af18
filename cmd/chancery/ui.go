package main

import (
	"context"
	_ "embed"
	"net/http"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/cluster/fleet"
	"github.com/chancery-xds/chancery/cluster/readiness"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/xdsserver"
)

// fleetPageHTML is the whole fleet page: inline CSS and script, no
// external asset, so it works offline and behind any proxy.
//
//go:embed ui/index.html
var fleetPageHTML []byte

// The fleet is read from etcd at most once per fleetReadEvery, however
// many pages are open; a read that takes longer than fleetReadTimeout
// shows the last fleet read, with the error.
const (
	fleetReadEvery   = time.Second
	fleetReadTimeout = 3 * time.Second
)

// fleetPageCSP lets the page run its own inline script and style and ask
// its own origin for the feed, and nothing else.
const fleetPageCSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; " +
	"img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// fleetPage serves /ui, a read-only view of the fleet, and its feed
// /ui/fleet.json. It shows what `chanceryctl status` shows (fleet.Read),
// the rejections this replica's translator found and its recent changes;
// never an object's value.
type fleetPage struct {
	read       func(context.Context) (*fleet.View, error)
	replica    string
	watch      func() readiness.WatchState
	rejections func() map[string]string // key -> reason, as logged
	changes    *changeLog

	mu   sync.Mutex // held while reading, so that concurrent requests share one read
	view *fleetView
}

// fleetView is one read of the fleet; it is never changed once made.
type fleetView struct {
	fleet  *fleet.View // nil until a read succeeds
	states []fleet.SyncState
	readAt time.Time // when fleet was read
	tried  time.Time // when the last read was tried
	err    error     // of that try
}

func newFleetPage(cli *clientv3.Client, ks storage.Keyspace, replica string, xds *xdsserver.Server, ready readinessRule) *fleetPage {
	return &fleetPage{
		read:       func(ctx context.Context) (*fleet.View, error) { return fleet.Read(ctx, cli, ks) },
		replica:    replica,
		watch:      ready.State,
		rejections: xds.Rejections,
		changes:    &changeLog{},
	}
}

// routes registers the page on the admin mux. It is open like /metrics:
// it shows no secret, and the debug views' token does not guard it.
func (p *fleetPage) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /ui", p.serveHTML)
	mux.HandleFunc("GET /ui/{$}", func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, "/ui", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /ui/fleet.json", p.serveFeed)
}

func (p *fleetPage) serveHTML(rw http.ResponseWriter, _ *http.Request) {
	h := rw.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", fleetPageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	_, _ = rw.Write(fleetPageHTML) // a write error is the client gone: nothing to tell it
}

func (p *fleetPage) serveFeed(rw http.ResponseWriter, r *http.Request) {
	rw.Header().Set("Cache-Control", "no-store")
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	writeJSON(rw, p.feed(p.current(r.Context()), parseFleetQuery(r.URL.Query())))
}

// current returns the fleet as read at most fleetReadEvery ago, reading
// it again if it is older.
func (p *fleetPage) current(ctx context.Context) *fleetView {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.view != nil && time.Since(p.view.tried) < fleetReadEvery {
		return p.view
	}
	// Not the request's context: the read serves every page waiting on it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fleetReadTimeout)
	defer cancel()
	f, err := p.read(ctx)
	now := time.Now()
	if err != nil {
		v := &fleetView{tried: now, err: err}
		if p.view != nil {
			v.fleet, v.states, v.readAt = p.view.fleet, p.view.states, p.view.readAt
		}
		p.view = v
		return v
	}
	states := make([]fleet.SyncState, len(f.Envoys))
	for i, e := range f.Envoys {
		states[i] = overallState(e.Sync)
	}
	p.view = &fleetView{fleet: f, states: states, readAt: now, tried: now}
	return p.view
}

// feed is what the page shows of v: the summary of every Envoy and the
// page of them q asks for.
func (p *fleetPage) feed(v *fleetView, q fleetQuery) fleetFeed {
	f := v.fleet
	if f == nil {
		f = &fleet.View{}
	}
	out := fleetFeed{
		Replica: p.replica, Revision: f.Revision, Leader: f.Leader, ReadAt: v.readAt, Types: fleet.Types,
		Replicas: replicaRows(f, p.replica, p.watch().SilentMillis),
		Summary:  summarize(f.Envoys, v.states),
		Envoys:   pageEnvoys(f.Envoys, v.states, q),
		Rejected: rejectionRows(p.rejections()),
		Changes:  p.changes.recent(),
	}
	if v.err != nil {
		out.Error = shown(v.err.Error())
	}
	return out
}
