package main

import (
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chancery-xds/chancery/cluster/fleet"
	"github.com/chancery-xds/chancery/storage/model"
)

// Paging of the fleet page: the page never holds more Envoys, groups or
// rejections than these, whatever the size of the fleet.
const (
	envoyPageDefault = 50
	envoyPageMax     = 200
	groupsShown      = 100
	rejectionsShown  = 100
	uiTextMax        = 2048 // bytes of one NACK error or reason
)

// fleetQuery is what the page asks of the Envoy list: ?page=&size=&state=&group=&node=.
type fleetQuery struct {
	page, size int    // page counts from 1
	state      string // an overall state (SYNCED, STALE, NACKED, NOT SENT); "" for all
	group      string // exact node group; "" for all
	node       string // substring of the node id; "" for all
}

func parseFleetQuery(v url.Values) fleetQuery {
	q := fleetQuery{page: 1, size: envoyPageDefault, state: strings.ToUpper(v.Get("state")), group: v.Get("group"), node: v.Get("node")}
	if n, err := strconv.Atoi(v.Get("page")); err == nil && n > 0 {
		q.page = n
	}
	if n, err := strconv.Atoi(v.Get("size")); err == nil && n > 0 {
		q.size = min(n, envoyPageMax)
	}
	return q
}

// fleetFeed is the JSON the fleet page renders: a summary of the whole
// fleet and one page of its Envoys.
type fleetFeed struct {
	Replica  string        `json:"replica"`  // the replica answering
	Revision int64         `json:"revision"` // etcd revision the fleet was read at
	Leader   string        `json:"leader"`
	ReadAt   time.Time     `json:"read_at"`
	Error    string        `json:"error,omitempty"` // the last read failed: what is shown is as of ReadAt
	Types    []string      `json:"types"`
	Replicas []replicaRow  `json:"replicas"`
	Summary  fleetSummary  `json:"summary"`
	Envoys   envoyPage     `json:"envoys"`
	Rejected rejectionList `json:"rejected"`
	Changes  []change      `json:"changes"`
}

type replicaRow struct {
	ID       string    `json:"id"`
	Address  string    `json:"address"`
	Version  string    `json:"version"`
	Started  time.Time `json:"started"`
	Revision int64     `json:"revision"`
	// Behind is how many revisions it trails the replica that serves the
	// newest one: 0 when it serves what the others do.
	Behind int64 `json:"behind"`
	Leader bool  `json:"leader"`
	// Local marks the replica answering; SilentMillis, for it alone, is how
	// long since its watch last heard from etcd (-1 before the first load).
	Local        bool   `json:"local"`
	SilentMillis *int64 `json:"silent_ms,omitempty"`
}

type fleetSummary struct {
	Envoys      int            `json:"envoys"`
	States      map[string]int `json:"states"` // overall state -> Envoys
	Groups      []groupCount   `json:"groups"` // at most groupsShown, by name
	GroupsTotal int            `json:"groups_total"`
}

type groupCount struct {
	Group  string         `json:"group"`
	Envoys int            `json:"envoys"`
	States map[string]int `json:"states"`
}

type envoyPage struct {
	Matching int        `json:"matching"` // Envoys that pass the filter
	Page     int        `json:"page"`
	Pages    int        `json:"pages"`
	Size     int        `json:"size"`
	Items    []envoyRow `json:"items"`
}

type envoyRow struct {
	Node      string    `json:"node"`
	Group     string    `json:"group"`
	Replica   string    `json:"replica"`
	State     string    `json:"state"` // the worst of its types
	Delta     bool      `json:"delta"`
	Connected time.Time `json:"connected"`
	Types     []typeRow `json:"types"`
}

type typeRow struct {
	Type    string `json:"type"`
	State   string `json:"state"`
	Acked   string `json:"acked,omitempty"`
	Current string `json:"current,omitempty"`
	Error   string `json:"error,omitempty"`
}

type rejectionList struct {
	Total int            `json:"total"`
	Items []rejectionRow `json:"items"` // at most rejectionsShown, by key
}

type rejectionRow struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// overallState is the worst of an Envoy's types: NACKED over STALE over
// SYNCED; NOT SENT only when nothing was sent at all.
func overallState(sync []fleet.TypeSync) fleet.SyncState {
	rank := map[fleet.SyncState]int{fleet.NotSent: 0, fleet.Synced: 1, fleet.Stale: 2, fleet.Nacked: 3}
	worst := fleet.NotSent
	for _, s := range sync {
		if rank[s.State] > rank[worst] {
			worst = s.State
		}
	}
	return worst
}

// summarize counts the Envoys per overall state and per group.
func summarize(envoys []fleet.EnvoyStatus, states []fleet.SyncState) fleetSummary {
	out := fleetSummary{Envoys: len(envoys), States: map[string]int{}}
	groups := map[string]*groupCount{}
	for i, e := range envoys {
		st := string(states[i])
		out.States[st]++
		g := groups[e.Group]
		if g == nil {
			g = &groupCount{Group: e.Group, States: map[string]int{}}
			groups[e.Group] = g
		}
		g.Envoys++
		g.States[st]++
	}
	out.GroupsTotal = len(groups)
	for _, name := range slices.Sorted(maps.Keys(groups)) {
		if len(out.Groups) == groupsShown {
			break
		}
		out.Groups = append(out.Groups, *groups[name])
	}
	return out
}

// pageEnvoys filters the Envoys as q asks and returns page q.page of them.
func pageEnvoys(envoys []fleet.EnvoyStatus, states []fleet.SyncState, q fleetQuery) envoyPage {
	var match []int
	for i, e := range envoys {
		if (q.state == "" || string(states[i]) == q.state) && (q.group == "" || e.Group == q.group) &&
			(q.node == "" || strings.Contains(e.NodeID, q.node)) {
			match = append(match, i)
		}
	}
	out := envoyPage{Matching: len(match), Size: q.size, Pages: max(1, (len(match)+q.size-1)/q.size), Items: []envoyRow{}}
	out.Page = min(q.page, out.Pages)
	lo := (out.Page - 1) * q.size
	for _, i := range match[lo:min(lo+q.size, len(match))] {
		out.Items = append(out.Items, envoyRowOf(envoys[i], states[i]))
	}
	return out
}

func envoyRowOf(e fleet.EnvoyStatus, state fleet.SyncState) envoyRow {
	row := envoyRow{Node: shown(e.NodeID), Group: shown(e.Group), Replica: e.Replica, State: string(state),
		Delta: e.Delta, Connected: e.Connected, Types: make([]typeRow, 0, len(e.Sync))}
	for _, s := range e.Sync {
		row.Types = append(row.Types, typeRow{Type: s.Type, State: string(s.State), Acked: s.Acked, Current: s.Current, Error: shown(s.NackError)})
	}
	return row
}

// replicaRows lists the replicas with how far each trails the newest.
func replicaRows(f *fleet.View, local string, silentMillis int64) []replicaRow {
	newest := int64(0)
	for _, r := range f.Replicas {
		newest = max(newest, r.Revision)
	}
	out := make([]replicaRow, 0, len(f.Replicas))
	for _, r := range f.Replicas {
		row := replicaRow{ID: r.ID, Address: r.Address, Version: r.Version, Started: r.Started, Revision: r.Revision,
			Behind: newest - r.Revision, Leader: r.ID == f.Leader, Local: r.ID == local}
		if row.Local {
			row.SilentMillis = &silentMillis
		}
		out = append(out, row)
	}
	return out
}

// rejectionRows lists the first rejectionsShown rejections by key. Only
// keys and reasons: no object's value is ever shown.
func rejectionRows(rejected map[string]string) rejectionList {
	out := rejectionList{Total: len(rejected), Items: []rejectionRow{}}
	keys := slices.Sorted(maps.Keys(rejected))
	for _, k := range keys[:min(len(keys), rejectionsShown)] {
		out.Items = append(out.Items, rejectionRow{Key: shown(k), Reason: shown(rejected[k])})
	}
	return out
}

// pemBlock matches a PEM block, or the start of one cut short.
var pemBlock = regexp.MustCompile(`(?s)-----BEGIN.*?(-----END [A-Z0-9 ]+-----|$)`)

// shown is text from etcd or from an Envoy made fit for the page: bounded,
// valid UTF-8 and, though no reason or NACK error should hold one, with
// any PEM block (a key, a certificate) replaced.
func shown(s string) string {
	if strings.Contains(s, "-----BEGIN") {
		s = pemBlock.ReplaceAllString(s, "<PEM redacted>")
	}
	return model.SafeText(s, uiTextMax)
}
