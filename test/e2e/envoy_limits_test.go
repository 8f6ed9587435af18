package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// rig is one etcd, one replica and one delta-ADS Envoy of group edge
// serving the service web (on one upstream) on the listener main, for tests
// that write many objects at once and wait once.
type rig struct {
	t     *testing.T
	etcd  *harness.Etcd
	cli   *clientv3.Client
	r     *harness.Chancery
	envoy *harness.Envoy
	port  int // main's port
	// secrets are what the TLS limits' objects name, when a test needs them
	secrets *testSecrets
}

func newRig(t *testing.T) *rig {
	t.Helper()
	g := &rig{t: t, etcd: harness.StartEtcd(t)}
	g.cli = g.etcd.Client(t)
	g.r = harness.StartChancery(t, harness.ChanceryOptions{ReplicaID: "a", EtcdEndpoints: []string{g.etcd.Endpoint()}})
	up := harness.StartUpstream(t, "up1")
	host, port := up.Addr()
	g.port = harness.FreePort(t)
	g.put("services/web", `{"protocol":"http"}`)
	g.put("endpoints/web/up1", fmt.Sprintf(`{"address":%q,"port":%d}`, host, port))
	g.put("routes/web", `{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web"}]}]}`)
	g.put("listeners/main", fmt.Sprintf(`{"address":"127.0.0.1","port":%d,"protocol":"http","route_table":"web","groups":["edge"]}`, g.port))
	g.envoy = harness.StartEnvoy(t, harness.EnvoyOptions{NodeID: "envoy-1", Group: "edge", XDSAddresses: []string{g.r.XDSAddress()}, Delta: true})
	g.waitServing()
	return g
}

// put writes one value with the etcd client: these tests write hundreds.
func (g *rig) put(key, value string) {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := g.cli.Put(ctx, prefix+"/"+key, value); err != nil {
		g.t.Fatalf("put %s: %v", key, err)
	}
}

// waitServing waits until main answers through Envoy from up1.
func (g *rig) waitServing() {
	g.t.Helper()
	harness.Eventually(g.t, 30*time.Second, 10*time.Millisecond, func() error {
		st, body, err := harness.HTTPGet(fmt.Sprintf("http://127.0.0.1:%d/", g.port), "")
		if err != nil || st != 200 || !strings.Contains(body, "up1") {
			return fmt.Errorf("GET main: %d %q %v", st, body, err)
		}
		return nil
	})
}

// rejections is the replica's current rejections: key -> reason.
func (g *rig) rejections() map[string]string {
	g.t.Helper()
	var out struct {
		Rejected map[string]string `json:"rejected"`
	}
	if err := json.Unmarshal(g.r.Get(g.t, "/debug/snapshot"), &out); err != nil {
		g.t.Fatal(err)
	}
	return out.Rejected
}

// namesFieldRE matches a reason that names field (a Limit path, "[*]" for
// any index or key).
func namesFieldRE(field string) *regexp.Regexp {
	return regexp.MustCompile(`(^|; )field ` + strings.ReplaceAll(regexp.QuoteMeta(field), `\[\*\]`, `\[[^\]]+\]`) + `: `)
}

// checkEnvoyAccepted fails unless Envoy refused no update and the replica
// counted no NACK.
func (g *rig) checkEnvoyAccepted(rdsStats []string) {
	g.t.Helper()
	for _, stat := range append([]string{"listener_manager.lds.update_rejected", "cluster_manager.cds.update_rejected"}, rdsStats...) {
		if v, ok := g.envoy.Stat(g.t, stat); !ok || v != 0 {
			g.t.Errorf("Envoy %s = %d (present %v), want 0", stat, v, ok)
		}
	}
	if n := metric(g.t, g.r, "chancery_xds_nacks_total", nil); n != 0 {
		g.t.Errorf("replica counted %v NACKs", n)
	}
}

// failOnNACK ends the test at once if Envoy refused an update: waiting
// longer will not make it take the refused resources.
func (g *rig) failOnNACK() {
	g.t.Helper()
	if n := metric(g.t, g.r, "chancery_xds_nacks_total", nil); n != 0 {
		g.t.Fatalf("Envoy refused %v updates; the replica's view: %.2000s", n, g.r.Get(g.t, "/debug/proxies"))
	}
}

// limitCase is one value written for one Limit: at it (accepted and taken
// by Envoy), over it or below it (rejected, naming the field).
type limitCase struct {
	limit  model.Limit
	key    string
	accept bool
	seen   func(g *rig) error // for an accepted value: nil once Envoy holds it
}

// For every bound in model.Limits, the largest accepted value reaches a
// real Envoy, which takes it (update_rejected stays 0), and the first value
// refused above (and below) is rejected by Chancery naming the field,
// though it is written where it would reach Envoy: a route table on a
// listener, a service routed to, an endpoint of a service in use, a
// listener of the Envoy's group. Health verdicts are not sent to Envoy and
// are left to TestBadInputTable.
func TestEnvoyTakesEveryLimit(t *testing.T) {
	g := newRig(t)
	g.secrets = newTestSecrets(t)
	// What the TLS limits' objects name: a CA, a certificate, a service.
	g.put("secrets/ca", g.secrets.ca)
	g.put("secrets/c", g.secrets.cert)
	g.put("services/s", `{"protocol":"tcp"}`)
	// And what the policy limits' objects name: an authorization service,
	// a rate-limit service.
	g.put("services/a", `{"protocol":"http"}`)
	g.put("services/rls", `{"protocol":"grpc"}`)
	var cases []limitCase
	var rds []string
	var svcRoutes []string // routes of the table svc-limits, to each service at a limit
	for i, l := range model.Limits {
		if l.Kind == model.KindHealth || l.Kind == model.KindPatch {
			// Verdicts are not sent to Envoy; a patch's bounds are on the
			// names that choose what it patches, not on anything Envoy
			// receives. TestBadInputTable checks both.
			continue
		}
		values := []string{l.At(), l.Over()}
		if below, ok := l.Below(); ok {
			values = append(values, below)
		}
		for j, value := range values {
			// Every value is sent the way it would reach Envoy if Chancery
			// let it: a table on a listener of its own, a service routed to.
			name := fmt.Sprintf("l%02d-%s", i, []string{"at", "over", "below"}[j])
			cases = append(cases, g.limitObject(l, name, value))
			switch l.Kind {
			case model.KindRouteTable:
				g.put("listeners/"+name, fmt.Sprintf(`{"address":"127.0.0.1","port":%d,"protocol":"http","route_table":%q,"groups":["edge"]}`, harness.FreePort(t), name))
				rds = append(rds, fmt.Sprintf("http.%s.rds.%s.update_rejected", name, name))
			case model.KindService:
				svcRoutes = append(svcRoutes, fmt.Sprintf(`{"match":{"prefix":"/%s/"},"service":%q}`, name, name))
			}
		}
	}
	// Services, and the endpoints of epsvc, reach Envoy through one table.
	g.put("services/epsvc", `{"protocol":"http"}`)
	svcRoutes = append(svcRoutes, `{"match":{"prefix":"/"},"service":"epsvc"}`)
	g.put("routes/svc-limits", `{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[`+strings.Join(svcRoutes, ",")+`]}]}`)
	g.put("listeners/svc-limits", fmt.Sprintf(`{"address":"127.0.0.1","port":%d,"protocol":"http","route_table":"svc-limits","groups":["edge"]}`, harness.FreePort(t)))
	rds = append(rds, "http.svc-limits.rds.svc-limits.update_rejected")
	// The last write: once Envoy holds it, it holds every snapshot before.
	cases = append(cases, limitCase{key: "listeners/svc-limits", accept: true, seen: func(g *rig) error {
		return statAtLeast(g, "http.svc-limits.rds.svc-limits.config_reload", 1)
	}})

	harness.Eventually(t, 90*time.Second, 100*time.Millisecond, func() error {
		g.failOnNACK()
		rej := g.rejections()
		for _, c := range cases {
			reason, rejected := rej[c.key]
			switch {
			case c.accept && rejected:
				return fmt.Errorf("%s (%s at its limit) rejected: %.300s", c.key, c.limit.Field, reason)
			case !c.accept && !namesFieldRE(c.limit.Field).MatchString(reason):
				return fmt.Errorf("%s (%s past its limit): rejection %.300q does not name the field", c.key, c.limit.Field, reason)
			case c.accept && c.seen != nil:
				if err := c.seen(g); err != nil {
					return fmt.Errorf("%s (%s at its limit): %w", c.key, c.limit.Field, err)
				}
			}
		}
		return nil
	})
	g.checkEnvoyAccepted(rds)
	g.waitServing()
	t.Logf("%d values written for %d limits", len(cases), len(model.Limits))
}

// limitObject writes the object of l holding value, under name, with what
// it refers to, and says how to see it in Envoy.
func (g *rig) limitObject(l model.Limit, name, value string) limitCase {
	g.t.Helper()
	obj := l.Object(value)
	accept := value == l.At()
	// Listeners and endpoints each need a port of their own.
	obj = strings.Replace(obj, `"port":8080`, fmt.Sprintf(`"port":%d`, harness.FreePort(g.t)), 1)
	if l.Kind == model.KindListener && l.Field == "port" && accept && !portFree(int(l.Max)) {
		g.t.Logf("port %d is in use on this host: its listener is written over the limit only", l.Max)
		return limitCase{limit: l, key: "listeners/" + name, accept: true, seen: nil}
	}
	if accept {
		g.writeReferenced(l, value)
	}
	c := limitCase{limit: l, accept: accept}
	switch l.Kind {
	case model.KindEndpoint:
		c.key = "endpoints/epsvc/" + name
		if addr := endpointAddress(obj); accept && addr != "" {
			c.seen = func(g *rig) error { return inAdmin(g, "/clusters", "epsvc::"+addr+"::") }
		}
	case model.KindService:
		c.key = "services/" + name
		c.seen = func(g *rig) error { return inAdmin(g, "/clusters", "\n"+name+"::") }
	case model.KindRouteTable:
		c.key = "routes/" + name
		c.seen = func(g *rig) error { return statAtLeast(g, fmt.Sprintf("http.%s.rds.%s.config_reload", name, name), 1) }
	case model.KindSecret:
		c.key = "secrets/" + name // sent to no Envoy: no listener names it
	case model.KindJWTProvider:
		c.key = "jwt_providers/" + name // in every HTTP listener's JWT filter
	case model.KindListener:
		c.key = "listeners/" + name
		if strings.Contains(obj, `"edge"`) {
			c.seen = func(g *rig) error { return inAdmin(g, "/listeners", "\n"+name+"::") }
		}
	}
	g.put(c.key, obj)
	return c
}

// writeReferenced writes the service or route table a name at its limit
// refers to, so that the object at the limit is accepted whole.
func (g *rig) writeReferenced(l model.Limit, value string) {
	var ref string
	if l.Unit != model.UnitBytes || json.Unmarshal([]byte(value), &ref) != nil {
		return
	}
	switch {
	case strings.HasSuffix(l.Field, "jwt.provider"):
		g.put("jwt_providers/"+ref, `{"issuer":"i","remote_jwks":{"service":"web","path":"/jwks"}}`)
	case l.Field == "route_table":
		g.put("routes/"+ref, `{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web"}]}]}`)
	case strings.HasSuffix(l.Field, "service"):
		g.put("services/"+ref, `{"protocol":"http"}`)
	case l.Field == "tls.ca" || l.Field == "tls.client_ca":
		g.put("secrets/"+ref, g.secrets.ca)
	case l.Field == "tls.client_certificate" || strings.HasSuffix(l.Field, ".secret"):
		g.put("secrets/"+ref, g.secrets.cert)
	}
}

// testSecrets are the values of a validation_context secret and of a
// tls_certificate secret it signs.
type testSecrets struct{ ca, cert string }

func newTestSecrets(t *testing.T) *testSecrets {
	t.Helper()
	ca := harness.NewCA(t, "limits")
	certPath, keyPath := ca.Issue(t, harness.CertOptions{DNSNames: []string{"limits.example.com"}})
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	js := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return &testSecrets{
		ca: js(map[string]any{"validation_context": map[string]any{"ca_bundle": read(ca.CertPath())}}),
		cert: js(map[string]any{"tls_certificate": map[string]any{
			"certificate_chain": read(certPath), "private_key": read(keyPath)}}),
	}
}

func endpointAddress(obj string) string {
	var ep struct {
		Address string `json:"address"`
		Port    int    `json:"port"`
	}
	if json.Unmarshal([]byte(obj), &ep) != nil || ep.Port == 0 {
		return ""
	}
	return net.JoinHostPort(ep.Address, fmt.Sprint(ep.Port))
}

func portFree(port int) bool {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	return ln.Close() == nil
}

// inAdmin is nil once Envoy's admin page at path holds want (at a line's
// start when want starts with a newline); an admin interface too busy to
// answer is one more reason to wait.
func inAdmin(g *rig, path, want string) error {
	body, err := g.envoy.Fetch(path)
	if err != nil {
		return err
	}
	return inText("\n"+string(body), want)
}

func inText(text, want string) error {
	if !strings.Contains(text, want) {
		return fmt.Errorf("Envoy does not hold %q", strings.TrimSpace(want))
	}
	return nil
}

func statAtLeast(g *rig, name string, n int64) error {
	v, _, err := g.envoy.FetchStat(name)
	if err != nil {
		return err
	}
	if v < n {
		return fmt.Errorf("Envoy %s = %d, want at least %d", name, v, n)
	}
	return nil
}
