package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/cluster/fleet"
	"github.com/chancery-xds/chancery/cluster/readiness"
	"github.com/chancery-xds/chancery/cluster/registry"
	"github.com/chancery-xds/chancery/internal/proxystate"
	"github.com/chancery-xds/chancery/storage/model"
)

const fakePEMKey = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----"

// fakeFleet is n Envoys in 20 groups, as fleet.Read would return
// them: every 100th has NACKed its listeners, every 10th of the rest
// holds stale clusters, the others are in sync.
func fakeFleet(n int) *fleet.View {
	f := &fleet.View{Revision: 4242, Leader: "a", Replicas: []registry.Record{
		{ID: "a", Address: "127.0.0.1:18000", Revision: 4200},
		{ID: "b", Address: "127.0.0.1:18001", Revision: 4190},
	}}
	for i := range n {
		e := fleet.EnvoyStatus{Replica: []string{"a", "b"}[i%2],
			Proxy: fleet.Proxy{NodeID: fmt.Sprintf("envoy-%05d", i), Group: fmt.Sprintf("group-%02d", i%20)}}
		for _, typ := range fleet.Types {
			s := fleet.TypeSync{Type: typ, State: fleet.Synced, TypeStatus: proxystate.TypeStatus{Sent: "v2", Acked: "v2"}, Current: "v2"}
			switch {
			case i%100 == 0 && typ == "listeners":
				s.State, s.Sent, s.NackError = fleet.Nacked, "v3", "listener port 80 in use; key was "+fakePEMKey
			case i%100 != 0 && i%10 == 0 && typ == "clusters":
				s.State, s.Acked = fleet.Stale, "v1"
			}
			e.Sync = append(e.Sync, s)
		}
		f.Envoys = append(f.Envoys, e)
	}
	return f
}

// newTestFleetPage serves view and counts the reads.
func newTestFleetPage(view *fleet.View, reads *atomic.Int64) (*fleetPage, *http.ServeMux) {
	p := &fleetPage{
		read: func(context.Context) (*fleet.View, error) {
			reads.Add(1)
			return view, nil
		},
		replica: "a",
		watch:   func() readiness.WatchState { return readiness.WatchState{Replica: "a", SilentMillis: 250} },
		rejections: func() map[string]string {
			return map[string]string{"services/bad": "field connect_timeout: want a duration", "secrets/web-cert": "private_key: " + fakePEMKey}
		},
		changes: &changeLog{},
	}
	mux := http.NewServeMux()
	p.routes(mux)
	return p, mux
}

func getFeed(t *testing.T, mux *http.ServeMux, query string) (fleetFeed, int) {
	t.Helper()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/fleet.json"+query, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /ui/fleet.json%s: %d %s", query, rec.Code, rec.Body)
	}
	var feed fleetFeed
	if err := json.Unmarshal(rec.Body.Bytes(), &feed); err != nil {
		t.Fatalf("decode feed: %v", err)
	}
	return feed, rec.Body.Len()
}

func TestFleetFeedSummarizesAndPagesTenThousandEnvoys(t *testing.T) {
	var reads atomic.Int64
	_, mux := newTestFleetPage(fakeFleet(10000), &reads)

	feed, size := getFeed(t, mux, "")
	s := feed.Summary
	if s.Envoys != 10000 || s.States["NACKED"] != 100 || s.States["STALE"] != 900 || s.States["SYNCED"] != 9000 {
		t.Errorf("summary %d Envoys, states %v; want 10000: 100 NACKED, 900 STALE, 9000 SYNCED", s.Envoys, s.States)
	}
	if s.GroupsTotal != 20 || len(s.Groups) != 20 || s.Groups[0].Group != "group-00" || s.Groups[0].Envoys != 500 || s.Groups[0].States["NACKED"] != 100 {
		t.Errorf("groups: %d total, first %+v; want 20, group-00 with 500 Envoys, 100 NACKED", s.GroupsTotal, s.Groups[0])
	}
	p := feed.Envoys
	if p.Matching != 10000 || p.Page != 1 || p.Pages != 200 || len(p.Items) != envoyPageDefault || p.Items[0].Node != "envoy-00000" {
		t.Errorf("first page: matching %d, page %d of %d, %d items from %q", p.Matching, p.Page, p.Pages, len(p.Items), p.Items[0].Node)
	}
	// The page holds one page of Envoys, not ten thousand: tens of kB.
	if size > 128<<10 {
		t.Errorf("the feed is %d bytes for a fleet of 10,000 Envoys; want a page, under 128 KiB", size)
	}

	feed, _ = getFeed(t, mux, "?page=3&size=100")
	if p := feed.Envoys; len(p.Items) != 100 || p.Items[0].Node != "envoy-00200" || p.Pages != 100 {
		t.Errorf("page 3 of size 100: %d items from %q, %d pages", len(p.Items), p.Items[0].Node, p.Pages)
	}
	feed, _ = getFeed(t, mux, "?size=100000&page=999999")
	if p := feed.Envoys; p.Size != envoyPageMax || p.Page != p.Pages || len(p.Items) != 10000-(p.Pages-1)*envoyPageMax {
		t.Errorf("size and page past the end: size %d, page %d of %d, %d items; want size %d, the last page", p.Size, p.Page, p.Pages, len(p.Items), envoyPageMax)
	}
}

func TestFleetFeedFilters(t *testing.T) {
	var reads atomic.Int64
	_, mux := newTestFleetPage(fakeFleet(10000), &reads)

	feed, _ := getFeed(t, mux, "?state=nacked&size=200")
	if p := feed.Envoys; p.Matching != 100 || len(p.Items) != 100 {
		t.Fatalf("state=nacked: %d matching, %d items; want 100", p.Matching, len(p.Items))
	}
	e := feed.Envoys.Items[0]
	if e.State != "NACKED" || e.Types[2].Type != "listeners" || e.Types[2].State != "NACKED" || !strings.Contains(e.Types[2].Error, "port 80 in use") {
		t.Errorf("a NACKED Envoy: %+v", e)
	}
	// group-00 is every 20th Envoy: 100 of its 500 NACKED, the other 400 stale.
	feed, _ = getFeed(t, mux, "?state=STALE&group=group-00")
	if p := feed.Envoys; p.Matching != 400 || p.Items[0].Group != "group-00" || p.Items[0].State != "STALE" {
		t.Errorf("state=STALE&group=group-00: %d matching, first %+v; want 400 stale Envoys of group-00", p.Matching, p.Items[0])
	}
	feed, _ = getFeed(t, mux, "?node=envoy-0999")
	if p := feed.Envoys; p.Matching != 10 {
		t.Errorf("node=envoy-0999: %d matching, want 10", p.Matching)
	}
	if reads.Load() != 1 {
		t.Errorf("%d etcd reads for requests within %s; want 1", reads.Load(), fleetReadEvery)
	}
}

func TestFleetFeedShowsNoKeyMaterial(t *testing.T) {
	var reads atomic.Int64
	_, mux := newTestFleetPage(fakeFleet(200), &reads)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/fleet.json?state=NACKED", nil))
	body := rec.Body.String()
	if strings.Contains(body, "PRIVATE KEY") || strings.Contains(body, "MIGHAgEA") {
		t.Fatalf("the feed shows key material:\n%s", body)
	}
	if !strings.Contains(body, "PEM redacted") || !strings.Contains(body, "services/bad") {
		t.Errorf("want the rejections and NACK errors, with the PEM blocks replaced:\n%s", body)
	}
}

func TestFleetFeedKeepsLastFleetWhenEtcdFails(t *testing.T) {
	var reads atomic.Int64
	p, mux := newTestFleetPage(fakeFleet(10), &reads)
	getFeed(t, mux, "")
	p.read = func(context.Context) (*fleet.View, error) {
		return nil, errors.New("read fleet status: context deadline exceeded")
	}
	p.view.tried = time.Now().Add(-2 * fleetReadEvery) // due for a new read
	feed, _ := getFeed(t, mux, "")
	if !strings.Contains(feed.Error, "deadline exceeded") || feed.Summary.Envoys != 10 || feed.ReadAt.IsZero() {
		t.Errorf("after a failed read: error %q, %d Envoys read at %s; want the error and the last fleet", feed.Error, feed.Summary.Envoys, feed.ReadAt)
	}
	if r := feed.Replicas; len(r) != 2 || r[1].Behind != 10 || !r[0].Local || r[0].SilentMillis == nil || !r[0].Leader {
		t.Errorf("replicas: %+v", r)
	}
}

func TestChangeLogKeepsTheNewest(t *testing.T) {
	var l changeLog
	now := time.Now()
	l.observe(&model.Snapshot{Revision: 10}, now) // a load: changes unknown
	var refs []model.Ref
	for i := range 2 * recentChangesKept {
		refs = append(refs, model.Ref{Kind: model.KindService, Name: fmt.Sprintf("svc-%03d", i)})
	}
	l.observe(&model.Snapshot{Revision: 11, Changed: refs[:3]}, now)
	if got := l.recent(); len(got) != 4 || got[0].Key != "services/svc-002" || got[3].Key != "(full load)" || got[3].Revision != 10 {
		t.Fatalf("recent after a load and 3 changes: %+v", got)
	}
	l.observe(&model.Snapshot{Revision: 12, Changed: refs}, now)
	got := l.recent()
	if len(got) != recentChangesKept || got[0].Key != fmt.Sprintf("services/svc-%03d", 2*recentChangesKept-1) || got[0].Revision != 12 {
		t.Errorf("recent after a burst: %d kept, newest %+v", len(got), got[0])
	}
}

func TestFleetPageIsSelfContained(t *testing.T) {
	var reads atomic.Int64
	_, mux := newTestFleetPage(fakeFleet(1), &reads)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /ui: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	body := rec.Body.String()
	for _, external := range []string{"http://", "https://", "<script src", "<link", "@import", "url("} {
		if strings.Contains(body, external) {
			t.Errorf("the page refers to an external asset (%q); it must work offline", external)
		}
	}
	if reads.Load() != 0 {
		t.Errorf("serving the page read the fleet %d times; only the feed reads it", reads.Load())
	}
}
