package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// cli is one etcd and one or more replicas, driven with bin/chanceryctl.
type cli struct {
	t        *testing.T
	etcd     *harness.Etcd
	replicas []*harness.Chancery
}

func newCLI(t *testing.T, replicas int) *cli {
	t.Helper()
	c := &cli{t: t, etcd: harness.StartEtcd(t)}
	for range replicas {
		c.replicas = append(c.replicas, harness.StartChancery(t, harness.ChanceryOptions{EtcdEndpoints: []string{c.etcd.Endpoint()}}))
	}
	return c
}

// args prefixes the global flags that point chanceryctl at this etcd.
func (c *cli) args(args ...string) []string {
	return append([]string{"--etcd-endpoints", c.etcd.Endpoint()}, args...)
}

func (c *cli) run(args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	return harness.Chanceryctl(c.t, c.args(args...)...)
}

func (c *cli) must(args ...string) string {
	c.t.Helper()
	return harness.MustChanceryctl(c.t, c.args(args...)...)
}

// applyStdin applies YAML given on stdin.
func (c *cli) applyStdin(yaml string) string {
	c.t.Helper()
	out, errOut, code := harness.ChanceryctlInput(c.t, yaml, c.args("apply", "-f", "-")...)
	if code != 0 {
		c.t.Fatalf("apply -f -: status %d\n%s%s", code, out, errOut)
	}
	return out
}

func (c *cli) revision() int64 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.etcd.Client(c.t).Get(ctx, "revision-probe")
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.Header.Revision
}

// envoy starts an Envoy of group from a bootstrap chanceryctl generates,
// listing every replica.
func (c *cli) envoy(nodeID, group string) *harness.Envoy {
	c.t.Helper()
	var xds []string
	for _, r := range c.replicas {
		xds = append(xds, r.XDSAddress())
	}
	dir := c.t.TempDir()
	return harness.StartEnvoyWithBootstrap(c.t, nodeID, func(adminPort int) string {
		path := filepath.Join(dir, nodeID+".yaml")
		harness.MustChanceryctl(c.t, "bootstrap", "--node-id", nodeID, "--group", group,
			"--xds", strings.Join(xds, ","), "--admin-port", strconv.Itoa(adminPort), "--reconnect-max", "1s", "-o", path)
		return path
	})
}

// Every bootstrap chanceryctl generates passes Envoy's own validation:
// one replica or several, by IP or by name, IPv6, TLS and mTLS.
func TestCLIBootstrapPassesEnvoyValidate(t *testing.T) {
	dir := t.TempDir()
	cert, key := harness.SelfSignedCert(t, dir, "xds.test")
	ca := cert // a self-signed certificate is its own CA
	for name, args := range map[string][]string{
		"one replica":     {"--xds", "127.0.0.1:18000"},
		"three replicas":  {"--xds", "10.0.0.5:18000,10.0.0.6:18000", "--xds", "10.0.0.7:18000"},
		"by name":         {"--xds", "localhost:18000,127.0.0.1:18001"},
		"IPv6":            {"--xds", "[::1]:18000", "--admin-address", "::1"},
		"everything":      {"--xds", "127.0.0.1:18000", "--zone", "z1", "--metadata", "team=edge", "--metadata", "rack=r7", "--max-connections", "0", "--reconnect-max", "30s", "--connect-timeout", "250ms"},
		"TLS":             {"--xds", "localhost:18000", "--xds-ca", ca},
		"mTLS":            {"--xds", "127.0.0.1:18000", "--xds-ca", ca, "--xds-cert", cert, "--xds-key", key, "--xds-sni", "xds.test"},
		"default node id": {"--xds", "127.0.0.1:18000"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
			base := []string{"bootstrap", "--group", "edge", "-o", path}
			if name != "default node id" {
				base = append(base, "--node-id", "node-"+strings.ReplaceAll(name, " ", "-"))
			}
			harness.MustChanceryctl(t, append(base, args...)...)
			if out, ok := harness.EnvoyValidate(t, path); !ok {
				t.Errorf("envoy --mode validate refused the bootstrap:\n%s\n%s", out, readFile(t, path))
			}
		})
	}
}

// A real Envoy started from a generated bootstrap connects to the replicas
// and serves a route of examples/.
func TestCLIEnvoyFromBootstrapServesExamples(t *testing.T) {
	c := newCLI(t, 2)
	root := harness.RepoRoot(t)
	c.must("apply", "-f", filepath.Join(root, "examples"))
	// The example listens on 8080 on every address; move it to a free
	// loopback port so the test does not depend on 8080 being free.
	port := harness.FreePort(t)
	out := c.applyStdin(fmt.Sprintf("kind: Listener\nname: edge-http\nspec: {address: 127.0.0.1, port: %d, protocol: http, route_table: edge, groups: [edge]}\n", port))
	if !strings.Contains(out, "listeners/edge-http configured") {
		t.Fatalf("moving the listener: %s", out)
	}
	envoy := c.envoy("edge-1", "edge")
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
	harness.Eventually(t, 20*time.Second, 10*time.Millisecond, func() error {
		st, body, err := harness.HTTPGet(url, "anything.example.net")
		if err != nil || st != 200 || body != "ok\n" {
			return fmt.Errorf("GET /healthz: %d %q %v", st, body, err)
		}
		return nil
	})
	if st, body, err := harness.HTTPGet(fmt.Sprintf("http://127.0.0.1:%d/", port), "unknown.example.net"); err != nil || st != 404 || body != "unknown host\n" {
		t.Errorf("catch-all route: %d %q %v", st, body, err)
	}
	info := string(envoy.Get(t, "/server_info"))
	for _, want := range []string{`"generated_by": "chanceryctl"`, `"cluster": "edge"`, `"id": "edge-1"`} {
		if !strings.Contains(info, want) {
			t.Errorf("server_info lacks %s", want)
		}
	}
	// Both replicas are in the xds cluster.
	clusters := envoy.Clusters(t)
	for _, r := range c.replicas {
		if !strings.Contains(clusters, "xds::"+r.XDSAddress()) {
			t.Errorf("xds cluster lacks replica %s", r.XDSAddress())
		}
	}
}

// apply of examples/ then get round-trips; a second apply reports every
// object unchanged and writes nothing.
func TestCLIApplyGetRoundTrip(t *testing.T) {
	c := newCLI(t, 0)
	examples := filepath.Join(harness.RepoRoot(t), "examples")
	out := c.must("apply", "-f", examples)
	created := strings.Count(out, " created\n")
	if created < 15 || !strings.Contains(out, fmt.Sprintf("%d created; etcd at revision", created)) {
		t.Fatalf("first apply:\n%s", out)
	}
	rev := c.revision()
	got := c.must("get", "all", "-o", "yaml")
	if n := strings.Count(got, "accepted: true"); n != created {
		t.Errorf("get: %d objects accepted, want %d", n, created)
	}
	again := c.applyStdin(got)
	if n := strings.Count(again, " unchanged\n"); n != created {
		t.Errorf("apply of get's output: %d unchanged, want %d:\n%s", n, created, again)
	}
	second := c.must("apply", "-f", examples)
	if n := strings.Count(second, " unchanged\n"); n != created || !strings.Contains(second, "nothing written") {
		t.Errorf("second apply:\n%s", second)
	}
	if now := c.revision(); now != rev {
		t.Errorf("etcd revision moved from %d to %d without a change", rev, now)
	}
	if _, _, code := c.run("diff", "-f", examples); code != 0 {
		t.Errorf("diff after apply exits %d, want 0", code)
	}
}

// Ten documents, one bad: nothing written, the error names the document
// and the field, exit status 1.
func TestCLIApplyRefusesOneBadDocument(t *testing.T) {
	c := newCLI(t, 0)
	docs := []string{"kind: Service\nname: web\nspec: {protocol: http}\n"}
	for i := 2; i <= 10; i++ {
		port := 8000 + i
		if i == 7 {
			port = 70000
		}
		docs = append(docs, fmt.Sprintf("kind: Endpoint\nname: web/e%d\nspec: {address: 10.0.0.%d, port: %d}\n", i, i, port))
	}
	file := filepath.Join(t.TempDir(), "endpoints.yaml")
	if err := os.WriteFile(file, []byte(strings.Join(docs, "---\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	rev := c.revision()
	out, errOut, code := c.run("apply", "-f", file)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	want := file + ": document 7 (endpoints/web/e7, line 25): field port (line 27): must be 1-65535, got 70000"
	if !strings.Contains(errOut, want) || !strings.Contains(errOut, "apply refused: 1 of 10 documents rejected; nothing written") {
		t.Errorf("stderr does not name document 7 and its field:\n%s", errOut)
	}
	if out != "" {
		t.Errorf("stdout: %q", out)
	}
	if now := c.revision(); now != rev {
		t.Errorf("etcd moved from revision %d to %d", rev, now)
	}
	if _, errOut, code := c.run("validate", "-f", file); code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("validate: %d\n%s", code, errOut)
	}
}

// Bad flags, an unknown command and an unreachable etcd are one line on
// stderr and a non-zero status, never a stack trace. A refused connection
// is said at once, whatever --etcd-timeout; an etcd that accepts the
// connection but never answers, within --etcd-timeout.
func TestCLIErrorsAreOneLine(t *testing.T) {
	closed := "http://127.0.0.1:" + strconv.Itoa(harness.FreePort(t))
	mute, err := net.Listen("tcp", "127.0.0.1:0") // the kernel completes handshakes; nothing answers
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	silent := "http://" + mute.Addr().String()
	refused := "connection refused at " + closed + "; is `chancery serve` or etcd running?"
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"apply", "--no-such-flag"}, 2, "unknown flag: --no-such-flag"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"get"}, 2, "accepts between 1 and 2 arg(s)"},
		{[]string{"--etcd-endpoints", closed, "--etcd-timeout", "1m", "get", "services"}, 1, refused},
		{[]string{"--etcd-endpoints", closed, "--etcd-timeout", "1m", "endpoint", "list"}, 1, refused},
		{[]string{"--etcd-endpoints", silent, "--etcd-timeout", "500ms", "get", "services"}, 1, "etcd at " + silent + " did not answer within 500ms"},
		{[]string{"--etcd-endpoints", silent, "--etcd-timeout", "500ms", "endpoint", "list"}, 1, "did not answer"},
	} {
		out, errOut, code := harness.Chanceryctl(t, tc.args...)
		lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
		if code != tc.code || len(lines) != 1 || !strings.Contains(errOut, tc.want) || out != "" ||
			strings.Contains(errOut, "goroutine") || strings.Contains(errOut, "panic") {
			t.Errorf("chanceryctl %s: status %d, stdout %q, stderr %q; want status %d and one line with %q",
				strings.Join(tc.args, " "), code, out, errOut, tc.code, tc.want)
		}
	}
}

// registerFixture is a replica and an Envoy of group apps whose only
// service, app, gets its endpoint from chanceryctl endpoint register.
type registerFixture struct {
	t      *testing.T
	c      *cli
	envoy  *harness.Envoy
	host   string
	port   int    // the upstream's
	member string // how Envoy's /clusters lists the endpoint
	url    string // through Envoy
}

const registerTTL = 3 * time.Second

func newRegisterFixture(t *testing.T) *registerFixture {
	t.Helper()
	f := &registerFixture{t: t, c: newCLI(t, 1)}
	f.host, f.port = harness.StartUpstream(t, "vm-1").Addr()
	listen := harness.FreePort(t)
	f.url = fmt.Sprintf("http://127.0.0.1:%d/", listen)
	f.c.applyStdin(fmt.Sprintf(`kind: Service
name: app
spec: {protocol: http, connect_timeout: 250ms}
---
kind: RouteTable
name: app
spec:
  virtual_hosts:
  - {name: all, domains: ["*"], routes: [{match: {prefix: /}, service: app}]}
---
kind: Listener
name: app
spec: {address: 127.0.0.1, port: %d, protocol: http, route_table: app, groups: [apps]}
`, listen))
	f.envoy = f.c.envoy("app-proxy", "apps")
	f.member = fmt.Sprintf("app::%s:%d::", f.host, f.port)
	return f
}

func (f *registerFixture) inEDS() bool { return strings.Contains(f.envoy.Clusters(f.t), f.member) }

// register starts endpoint register and waits until Envoy has the endpoint.
func (f *registerFixture) register() *harness.Registration {
	f.t.Helper()
	r := harness.StartRegistration(f.t, "--etcd-endpoints", f.c.etcd.Endpoint(), "--etcd-timeout", "1s",
		"--service", "app", "--address", f.host, "--port", strconv.Itoa(f.port), "--ttl", registerTTL.String())
	harness.Eventually(f.t, 10*time.Second, 5*time.Millisecond, func() error {
		if !f.inEDS() {
			return fmt.Errorf("Envoy does not list %s yet", f.member)
		}
		return nil
	})
	return r
}

// leaves waits until Envoy no longer has the endpoint and says how long that took.
func (f *registerFixture) leaves(after string) time.Duration {
	f.t.Helper()
	start := time.Now()
	harness.Eventually(f.t, registerTTL+10*time.Second, 5*time.Millisecond, func() error {
		if f.inEDS() {
			return fmt.Errorf("Envoy still lists %s after %s", f.member, after)
		}
		return nil
	})
	return time.Since(start)
}

// endpoint register killed with SIGKILL: the endpoint leaves Envoy's EDS
// within the TTL plus propagation. Stopped with SIGTERM: at once, exit 0.
func TestCLIEndpointRegisterKillAndStop(t *testing.T) {
	f := newRegisterFixture(t)
	r := f.register()
	if st, body, err := harness.HTTPGet(f.url, ""); err != nil || st != 200 || body != "vm-1" {
		t.Fatalf("request through Envoy to the registered endpoint: %d %q %v", st, body, err)
	}
	r.Kill()
	killed := f.leaves("SIGKILL")
	t.Logf("SIGKILL: endpoint left Envoy's EDS after %v (--ttl %v)", killed.Round(time.Millisecond), registerTTL)
	if killed > registerTTL+2*time.Second {
		t.Errorf("SIGKILL: %v to leave EDS, want within the TTL %v plus propagation", killed, registerTTL)
	}

	r = f.register()
	start := time.Now()
	if err := r.Stop(); err != nil {
		t.Errorf("SIGTERM: want exit status 0, got %v", err)
	}
	f.leaves("SIGTERM")
	termed := time.Since(start)
	t.Logf("SIGTERM: endpoint left Envoy's EDS %v after the signal", termed.Round(time.Millisecond))
	if termed > 2*time.Second {
		t.Errorf("SIGTERM: %v to leave EDS, want at once", termed)
	}
	if !strings.Contains(r.Log(), "deregistered endpoints/app/") {
		t.Errorf("no deregistration in the log:\n%s", r.Log())
	}
}

// Across an etcd outage longer than the TTL, endpoint register loses its
// lease and registers again as soon as etcd is back.
func TestCLIEndpointRegisterSurvivesEtcdOutage(t *testing.T) {
	f := newRegisterFixture(t)
	r := f.register()
	f.c.etcd.Stop() // graceful: it takes a few seconds with streams open
	down := time.Now()
	r.WaitLog(t, 1, "lost endpoints/app/")
	lost := time.Since(down)
	f.c.etcd.Start()
	back := time.Now()
	r.WaitLog(t, 2, "registered endpoints/app/")
	t.Logf("etcd outage: lease lost %v after etcd exited; registered again %v after it was back",
		lost.Round(time.Millisecond), time.Since(back).Round(time.Millisecond))
	checkReregistered(t, f.c.etcd.Client(t), r.Log())
	harness.Eventually(t, 30*time.Second, 10*time.Millisecond, func() error {
		if !f.inEDS() {
			return fmt.Errorf("Envoy lost %s after the etcd outage", f.member)
		}
		return nil
	})
}

// checkReregistered waits until the lease lost in the outage has expired
// (etcd restores leases on restart) and checks the key outlived it under
// the new lease.
func checkReregistered(t *testing.T, cli *clientv3.Client, log string) {
	t.Helper()
	var leases []int64
	for _, line := range strings.Split(log, "\n") {
		if _, rest, ok := strings.Cut(line, " under lease "); ok {
			id, err := strconv.ParseInt(strings.Fields(rest)[0], 16, 64)
			if err != nil {
				t.Fatalf("lease in %q: %v", line, err)
			}
			leases = append(leases, id)
		}
	}
	if len(leases) < 2 || leases[len(leases)-1] == leases[len(leases)-2] {
		t.Fatalf("want two different leases in the log, got %x", leases)
	}
	old, current := leases[len(leases)-2], leases[len(leases)-1]
	ctx := context.Background()
	harness.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		resp, err := cli.TimeToLive(ctx, clientv3.LeaseID(old))
		if err != nil {
			return err
		}
		if resp.TTL > 0 {
			return fmt.Errorf("old lease %x still has %ds", old, resp.TTL)
		}
		return nil
	})
	resp, err := cli.Get(ctx, prefix+"/endpoints/app/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || resp.Kvs[0].Lease != current {
		t.Fatalf("after the outage: %v; want one key under lease %x", resp.Kvs, current)
	}
}
