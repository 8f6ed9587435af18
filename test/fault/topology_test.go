// Package fault runs Chancery's fault scenarios on real parts: a 3-member
// etcd, three replicas behind HAProxy (TCP mode, checks on /readyz), two
// Envoys whose bootstraps name only HAProxy, real upstreams, traffic that
// counts every failure and a writer that changes config at a steady rate.
package fault

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

const prefix = "/chancery/v1"

// sessionTTL is the replicas' --session-ttl: a killed replica's records
// are gone within it.
const sessionTTL = 3 * time.Second

// topologyOptions shapes a topology.
type topologyOptions struct {
	// maxWatchLag is the replicas' --max-watch-lag; zero keeps the default.
	maxWatchLag time.Duration
	// linked names the replicas (by index) that reach every etcd member
	// through a TCP proxy the test can cut.
	linked []int
	// etcd configures every etcd member.
	etcd harness.EtcdOptions
}

// topology is the whole system under test.
type topology struct {
	t        *testing.T
	etcd     *harness.EtcdCluster
	cli      *clientv3.Client
	replicas []*harness.Chancery
	links    map[int][]*harness.TCPProxy // replica index -> one proxy per etcd member
	lb       *harness.HAProxy
	envoys   []*harness.Envoy
	ports    []int // each Envoy's HTTP listener, by index
	up       []*harness.Upstream
}

// newTopology starts etcd, three replicas, HAProxy, the upstreams, the
// config and two Envoys, and waits until traffic flows through both.
// HAProxy balances "first": every Envoy lands on the first replica that is
// up, so a scenario knows which replica holds them.
func newTopology(t *testing.T, opts topologyOptions) *topology {
	t.Helper()
	top := &topology{t: t, links: map[int][]*harness.TCPProxy{}}
	top.etcd = harness.StartEtcdClusterWith(t, 3, opts.etcd)
	top.cli = top.etcd.Client(t)
	for _, name := range []string{"up1", "up2"} {
		top.up = append(top.up, harness.StartUpstream(t, name))
	}
	top.ports = []int{harness.FreePort(t), harness.FreePort(t)}
	top.writeConfig()
	var backends []harness.HAProxyBackend
	for i := range 3 {
		r := top.startReplica(i, opts)
		top.replicas = append(top.replicas, r)
		backends = append(backends, harness.HAProxyBackend{Name: r.ReplicaID(), Addr: r.XDSAddress(), CheckPort: adminPort(t, r)})
	}
	top.waitPeers()
	top.lb = harness.StartHAProxy(t, harness.HAProxyOptions{Backends: backends, Balance: "first"})
	top.lb.WaitStatus(t, 20*time.Second, map[string]string{"r1": "UP", "r2": "UP", "r3": "UP"})
	for i, group := range []string{"edge-a", "edge-b"} {
		top.envoys = append(top.envoys, harness.StartEnvoy(t, harness.EnvoyOptions{
			NodeID: "envoy-" + strings.TrimPrefix(group, "edge-"), Group: group,
			XDSAddresses: []string{top.lb.Addr()}, Delta: true,
		}))
		harness.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
			return top.getOK(i, "/")
		})
	}
	return top
}

func (top *topology) startReplica(i int, opts topologyOptions) *harness.Chancery {
	t := top.t
	endpoints := top.etcd.Endpoints()
	if slices.Contains(opts.linked, i) {
		endpoints = nil
		for _, m := range top.etcd.Members {
			p := harness.StartTCPProxy(t, strings.TrimPrefix(m.Endpoint(), "http://"))
			top.links[i] = append(top.links[i], p)
			endpoints = append(endpoints, "http://"+p.Addr())
		}
	}
	args := []string{"--session-ttl", sessionTTL.String()}
	if opts.maxWatchLag != 0 {
		args = append(args, "--max-watch-lag", opts.maxWatchLag.String())
	}
	return harness.StartChancery(t, harness.ChanceryOptions{
		ReplicaID: fmt.Sprintf("r%d", i+1), EtcdEndpoints: endpoints, ExtraArgs: args,
	})
}

// waitPeers waits until every replica knows the two others, as it must to
// tell a silence of its own from one they share (docs/readiness.md).
func (top *topology) waitPeers() {
	top.t.Helper()
	harness.Eventually(top.t, 20*time.Second, 100*time.Millisecond, func() error {
		for _, r := range top.replicas {
			var st struct {
				Peers int `json:"peers"`
			}
			if err := json.Unmarshal(r.Get(top.t, "/watchz"), &st); err != nil {
				return fmt.Errorf("%s /watchz: %w", r.ReplicaID(), err)
			}
			if st.Peers != len(top.replicas)-1 {
				return fmt.Errorf("%s knows %d other replicas, want %d", r.ReplicaID(), st.Peers, len(top.replicas)-1)
			}
		}
		return nil
	})
}

func adminPort(t *testing.T, r *harness.Chancery) int {
	t.Helper()
	_, port, ok := strings.Cut(strings.TrimPrefix(r.AdminURL(), "http://"), ":")
	n, err := strconv.Atoi(port)
	if !ok || err != nil {
		t.Fatalf("admin URL %s: no port", r.AdminURL())
	}
	return n
}

// writeConfig writes service web with both upstreams, the route table at
// generation 0 and one HTTP listener per Envoy group.
func (top *topology) writeConfig() {
	top.put("services/web", map[string]any{"protocol": "http"})
	for _, u := range top.up {
		host, port := u.Addr()
		top.put("endpoints/web/"+u.Name(), map[string]any{"address": host, "port": port})
	}
	top.put("routes/web", routeTable(0))
	for i, group := range []string{"edge-a", "edge-b"} {
		top.put("listeners/"+group, map[string]any{"address": "127.0.0.1", "port": top.ports[i], "protocol": "http",
			"route_table": "web", "groups": []string{group}})
	}
}

// routeTable is the route table at generation gen: /gen answers "gen-<gen>"
// straight from Envoy, everything else goes to web, retried on a refused
// or reset connection.
func routeTable(gen int) map[string]any {
	return map[string]any{"virtual_hosts": []any{map[string]any{"name": "all", "domains": []string{"*"}, "routes": []any{
		map[string]any{"match": map[string]any{"path": "/gen"}, "direct_response": map[string]any{"status": 200, "body": "gen-" + strconv.Itoa(gen)}},
		map[string]any{"match": map[string]any{"prefix": "/"}, "service": "web",
			"retries": map[string]any{"retry_on": "connect-failure,reset", "num_retries": 3}},
	}}}}
}

func (top *topology) put(key string, spec any) {
	top.t.Helper()
	if err := putSpec(top.cli, key, spec); err != nil {
		top.t.Fatal(err)
	}
}

func putSpec(cli *clientv3.Client, key string, spec any) error {
	b, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, prefix+"/"+key, string(b)); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// url is Envoy i's listener URL for path.
func (top *topology) url(i int, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", top.ports[i], path)
}

func (top *topology) getOK(i int, path string) error {
	status, body, err := harness.HTTPGet(top.url(i, path), "")
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("GET %s: %d %q", top.url(i, path), status, body)
	}
	return nil
}

// proxyStatus is one Envoy as a replica's /debug/proxies shows it.
type proxyStatus struct {
	NodeID string `json:"node_id"`
	Group  string `json:"group"`
	Types  map[string]struct {
		Sent      string `json:"sent"`
		Acked     string `json:"acked"`
		NackError string `json:"nack_error"`
	} `json:"types"`
}

// proxiesOf returns the Envoys connected to a running replica; an error
// if its admin server does not answer.
func proxiesOf(r *harness.Chancery) ([]proxyStatus, error) {
	status, body, err := harness.HTTPGet(r.AdminURL()+"/debug/proxies", "")
	if err != nil {
		return nil, err
	}
	if status != 200 {
		return nil, fmt.Errorf("%s /debug/proxies: %d %q", r.ReplicaID(), status, body)
	}
	var out []proxyStatus
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		return nil, fmt.Errorf("%s /debug/proxies: %w", r.ReplicaID(), err)
	}
	return out, nil
}

// holders returns, for each Envoy node id, the running replicas that have
// it connected and in sync: every type it was sent ACKed, no NACK.
func (top *topology) holders() (map[string][]string, error) {
	out := map[string][]string{}
	for _, r := range top.replicas {
		if !r.Running() {
			continue
		}
		proxies, err := proxiesOf(r)
		if err != nil {
			return nil, err
		}
		for _, p := range proxies {
			if synced(p) {
				out[p.NodeID] = append(out[p.NodeID], r.ReplicaID())
			}
		}
	}
	return out, nil
}

func synced(p proxyStatus) bool {
	if len(p.Types) == 0 {
		return false
	}
	for _, ts := range p.Types {
		if ts.Acked == "" || ts.NackError != "" {
			return false
		}
	}
	return true
}

// waitHolder waits until both Envoys are connected, in sync, to one and
// the same replica other than those in not, and returns it.
func (top *topology) waitHolder(timeout time.Duration, not ...string) *harness.Chancery {
	top.t.Helper()
	var id string
	harness.Eventually(top.t, timeout, 50*time.Millisecond, func() error {
		h, err := top.holders()
		if err != nil {
			return err
		}
		a, b := h[top.envoys[0].NodeID()], h[top.envoys[1].NodeID()]
		if len(a) != 1 || len(b) != 1 || a[0] != b[0] || slices.Contains(not, a[0]) {
			return fmt.Errorf("envoys held by %v and %v, want one replica, not %v", a, b, not)
		}
		id = a[0]
		return nil
	})
	return top.replica(id)
}

func (top *topology) replica(id string) *harness.Chancery {
	for _, r := range top.replicas {
		if r.ReplicaID() == id {
			return r
		}
	}
	top.t.Fatalf("no replica %s", id)
	return nil
}

// readyz returns a replica's /readyz status and body.
func readyz(r *harness.Chancery) (int, string, error) {
	return harness.HTTPGet(r.AdminURL()+"/readyz", "")
}
