package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// The etcd users and roles of docs/security.md.
const (
	replicaUser  = "chancery-replica"
	operatorUser = "chancery-operator"
)

// replicaWritable are the segments of the keyspace a replica writes, each
// readwrite for the replica role (docs/security.md); it reads the rest.
var replicaWritable = []string{"replicas/", "proxies/", "health/", "status/", "leader/"}

// secureEtcd is a real etcd that requires TLS client certificates and
// password authentication, with the roles of docs/security.md.
type secureEtcd struct {
	t    *testing.T
	etcd *harness.Etcd
	ca   *harness.CA
	// tls are etcdctl's TLS flags, with a client certificate of a CN that
	// is no etcd user: the password decides who etcdctl is.
	tls     []string
	rootEnv []string
}

func startSecureEtcd(t *testing.T) *secureEtcd {
	t.Helper()
	ca := harness.NewCA(t, "etcd-ca")
	cert, key := ca.Issue(t, harness.CertOptions{CommonName: "etcd", DNSNames: []string{"etcd.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	s := &secureEtcd{t: t, ca: ca}
	s.etcd = harness.StartEtcdWith(t, harness.EtcdOptions{TLS: &harness.EtcdTLS{CertFile: cert, KeyFile: key, ClientCAFile: ca.CertPath()}})
	adminCert, adminKey := ca.Issue(t, harness.CertOptions{CommonName: "etcdctl-host"})
	s.tls = []string{"--cacert=" + ca.CertPath(), "--cert=" + adminCert, "--key=" + adminKey}
	rootPassword := randomSecret(t)
	s.rootEnv = []string{"ETCDCTL_USER=root", "ETCDCTL_PASSWORD=" + rootPassword}
	// docs/security.md, "Turn authentication on".
	s.etcdctl(nil, "user", "add", "root", "--new-user-password="+rootPassword)
	s.etcdctl(nil, "user", "grant-role", "root", "root")
	s.etcdctl(nil, "auth", "enable")
	return s
}

// etcdctl runs etcdctl with the TLS flags and env and fails the test on error.
func (s *secureEtcd) etcdctl(env []string, args ...string) string {
	s.t.Helper()
	out, err := harness.EtcdctlEnv(s.t, env, s.etcd.Endpoint(), append(s.tls, args...)...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// createRoles runs, as root, the role and user commands of docs/security.md.
func (s *secureEtcd) createRoles(replicaPassword, operatorPassword string) {
	s.t.Helper()
	root := func(args ...string) { s.etcdctl(s.rootEnv, args...) }
	root("role", "add", replicaUser)
	root("role", "grant-permission", replicaUser, "read", "--prefix", prefix+"/")
	for _, seg := range replicaWritable {
		root("role", "grant-permission", replicaUser, "readwrite", "--prefix", prefix+"/"+seg)
	}
	root("user", "add", replicaUser, "--new-user-password="+replicaPassword)
	root("user", "grant-role", replicaUser, replicaUser)
	root("role", "add", operatorUser)
	root("role", "grant-permission", operatorUser, "readwrite", "--prefix", prefix+"/")
	root("user", "add", operatorUser, "--new-user-password="+operatorPassword)
	root("user", "grant-role", operatorUser, operatorUser)
}

// client dials etcd as chancery does, over TLS with a fresh client
// certificate, as user.
func (s *secureEtcd) client(user, password string) (*clientv3.Client, error) {
	s.t.Helper()
	cert, key := s.ca.Issue(s.t, harness.CertOptions{CommonName: "client-host"})
	cli, err := storage.Dial(storage.ClientConfig{Endpoints: []string{s.etcd.Endpoint()}, Username: user, Password: password,
		CAFile: s.ca.CertPath(), CertFile: cert, KeyFile: key, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	s.t.Cleanup(func() { _ = cli.Close() })
	return cli, nil
}

func randomSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func writeSecretFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// replicaArgs is how a replica reaches the secure etcd: TLS with its own
// client certificate (a CN that is no etcd user), user chancery-replica,
// then password, the flag that gives the password.
func (s *secureEtcd) replicaArgs(password ...string) []string {
	cert, key := s.ca.Issue(s.t, harness.CertOptions{CommonName: "replica-host"})
	return append([]string{"--etcd-ca", s.ca.CertPath(), "--etcd-cert", cert, "--etcd-key", key,
		"--etcd-username", replicaUser, "--session-ttl", sessionTTL.String()}, password...)
}

func putJSON(t *testing.T, cli *clientv3.Client, key string, spec any) {
	t.Helper()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, prefix+"/"+key, string(b)); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// getValue returns the value of key below the prefix, "" when absent.
func getValue(t *testing.T, cli *clientv3.Client, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, prefix+"/"+key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

// getBearer fetches an admin path with an optional bearer token.
func getBearer(t *testing.T, r *harness.Chancery, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, r.AdminURL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// writeWeb writes, as the operator, service web health-checked over HTTP
// with one endpoint, its route table, and one listener per group.
func writeWeb(t *testing.T, op *clientv3.Client, up *harness.Upstream, ports map[string]int) {
	t.Helper()
	putJSON(t, op, "services/web", map[string]any{"protocol": "http", "health_check": map[string]any{
		"type": "http", "path": "/healthz", "interval": "300ms", "timeout": "250ms", "healthy_threshold": 1, "unhealthy_threshold": 1,
	}})
	host, port := up.Addr()
	putJSON(t, op, "endpoints/web/up1", map[string]any{"address": host, "port": port})
	putJSON(t, op, "routes/web", routeTable(route("/", "web")))
	for group, p := range ports {
		putJSON(t, op, "listeners/"+group, map[string]any{"address": "127.0.0.1", "port": p, "protocol": "http", "route_table": "web", "groups": []string{group}})
	}
}

// onlyLeader returns the one replica whose chancery_leader is 1.
func onlyLeader(t *testing.T, replicas ...*harness.Chancery) (*harness.Chancery, error) {
	t.Helper()
	var leaders []*harness.Chancery
	for _, r := range replicas {
		if r.Running() && metric(t, r, "chancery_leader", nil) == 1 {
			leaders = append(leaders, r)
		}
	}
	if len(leaders) != 1 {
		return nil, fmt.Errorf("%d replicas lead, want 1", len(leaders))
	}
	return leaders[0], nil
}

// waitKeyContains waits until key (below the prefix) has a value that
// contains want.
func waitKeyContains(t *testing.T, cli *clientv3.Client, key, want string) {
	t.Helper()
	harness.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		if v := getValue(t, cli, key); v == "" || !strings.Contains(v, want) {
			return fmt.Errorf("%s = %q, want it to contain %q", key, v, want)
		}
		return nil
	})
}

// Two replicas on an etcd that requires client certificates and passwords,
// running as the least-privilege replica role, serve what the operator
// writes; the leader writes health and status; the replica user may write
// nothing of the operator's; no debug endpoint shows the password.
func TestEtcdTLSAuthLeastPrivilege(t *testing.T) {
	s := startSecureEtcd(t)
	replicaPassword, operatorPassword, adminToken := randomSecret(t), randomSecret(t), randomSecret(t)
	s.createRoles(replicaPassword, operatorPassword)
	passwordFile := writeSecretFile(t, "etcd-password", replicaPassword+"\n")
	r1 := harness.StartChancery(t, harness.ChanceryOptions{ReplicaID: "sec-1", EtcdEndpoints: []string{s.etcd.Endpoint()},
		ExtraArgs: s.replicaArgs("--etcd-password-file", passwordFile)})
	r2 := harness.StartChancery(t, harness.ChanceryOptions{ReplicaID: "sec-2", EtcdEndpoints: []string{s.etcd.Endpoint()},
		ExtraArgs: append(s.replicaArgs("--etcd-password-file", passwordFile), "--admin-token-file", writeSecretFile(t, "admin-token", adminToken+"\n"))})

	op, err := s.client(operatorUser, operatorPassword)
	if err != nil {
		t.Fatal(err)
	}
	up := harness.StartUpstream(t, "up1")
	ports := map[string]int{"edge-1": harness.FreePort(t), "edge-2": harness.FreePort(t)}
	writeWeb(t, op, up, ports)
	harness.StartEnvoy(t, harness.EnvoyOptions{NodeID: "envoy-1", Group: "edge-1", XDSAddresses: []string{r1.XDSAddress()}, Delta: true})
	harness.StartEnvoy(t, harness.EnvoyOptions{NodeID: "envoy-2", Group: "edge-2", XDSAddresses: []string{r2.XDSAddress()}, Delta: true})
	for group, port := range ports { // each replica serves the operator's write to its Envoy
		url := fmt.Sprintf("http://127.0.0.1:%d/", port)
		harness.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
			if st, body, err := harness.HTTPGet(url, ""); err != nil || st != 200 || body != "up1" {
				return fmt.Errorf("%s via Envoy of %s: %d %q %v", url, group, st, body, err)
			}
			return nil
		})
	}

	var leader *harness.Chancery
	harness.Eventually(t, 20*time.Second, 50*time.Millisecond, func() (err error) {
		leader, err = onlyLeader(t, r1, r2)
		return err
	})
	waitKeyContains(t, op, "health/web/up1", `"healthy"`)
	waitKeyContains(t, op, "status/services/web", `"accepted"`)
	for _, key := range []string{"replicas/sec-1", "replicas/sec-2", "proxies/sec-1/edge-1/envoy-1", "proxies/sec-2/edge-2/envoy-2"} {
		waitKeyContains(t, op, key, "")
	}

	checkReplicaRefused(t, s, replicaPassword)
	checkDebugAccess(t, r1, r2, adminToken, replicaPassword)

	// Failover under the role: the other replica campaigns, wins, and writes
	// a new verdict in its fenced transaction.
	other := r1
	if leader == r1 {
		other = r2
	}
	leader.Stop()
	harness.Eventually(t, sessionTTL+10*time.Second, 50*time.Millisecond, func() error {
		l, err := onlyLeader(t, other)
		if err == nil && l != other {
			err = errors.New("the wrong replica leads")
		}
		return err
	})
	putJSON(t, op, "endpoints/web/dead", map[string]any{"address": "127.0.0.1", "port": harness.FreePort(t)})
	waitKeyContains(t, op, "health/web/dead", `"unhealthy"`)
	waitKeyContains(t, op, "health/web/up1", `"healthy"`)
	for _, r := range []*harness.Chancery{r1, r2} {
		checkLogClean(t, r, replicaPassword)
	}
}

// checkReplicaRefused writes outside the replica role with its user: etcd
// refuses each with permission denied. A wrong password, or no client
// certificate, does not get in at all.
func checkReplicaRefused(t *testing.T, s *secureEtcd, replicaPassword string) {
	t.Helper()
	cli, err := s.client(replicaUser, replicaPassword)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, op := range []clientv3.Op{
		clientv3.OpPut(prefix+"/services/x", `{"protocol":"http"}`),
		clientv3.OpPut(prefix+"/secrets/x", `{}`),
		clientv3.OpDelete(prefix + "/services/web"),
		clientv3.OpPut("/elsewhere/x", "v"),
	} {
		if _, err := cli.Do(ctx, op); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("replica user %s %s: got %v, want permission denied", opName(op), op.KeyBytes(), err)
		}
	}
	if _, err := cli.Get(ctx, "/elsewhere/", clientv3.WithPrefix()); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Errorf("replica user reads outside the prefix: got %v, want permission denied", err)
	}
	if _, err := cli.Get(ctx, prefix+"/services/web"); err != nil {
		t.Errorf("replica user cannot read the prefix: %v", err)
	}
	if wrong, err := s.client(replicaUser, "not-the-password"); err == nil {
		t.Errorf("a wrong password got a client: %v", wrong.Endpoints())
	} else if !errors.Is(err, rpctypes.ErrAuthFailed) {
		t.Logf("wrong password refused: %v", err)
	}
	noCert, err := storage.Dial(storage.ClientConfig{Endpoints: []string{s.etcd.Endpoint()}, Username: replicaUser, Password: replicaPassword,
		CAFile: s.ca.CertPath(), Logger: zap.NewNop()})
	if err == nil {
		defer noCert.Close()
		short, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if _, err := noCert.Get(short, prefix+"/services/web", clientv3.WithSerializable()); err == nil {
			t.Error("a client without a client certificate read the keyspace")
		}
	}
}

func opName(op clientv3.Op) string {
	if op.IsDelete() {
		return "delete"
	}
	return "put"
}

// checkDebugAccess: /debug/pprof/cmdline shows the command line without the
// password; the replica with --admin-token-file answers /debug/ only to the
// token, and health, readiness and metrics to anyone.
func checkDebugAccess(t *testing.T, r1, r2 *harness.Chancery, token, password string) {
	t.Helper()
	cmdline := string(r1.Get(t, "/debug/pprof/cmdline"))
	if !strings.Contains(cmdline, "--etcd-password-file") || strings.Contains(cmdline, password) {
		t.Errorf("/debug/pprof/cmdline = %q: want the command line without the password", cmdline)
	}
	if snap := string(r1.Get(t, "/debug/snapshot?group=edge-1")); !strings.Contains(snap, "edge-1") {
		t.Errorf("r1 /debug/snapshot?group=edge-1 does not show listener edge-1: %.300s", snap)
	}
	for _, path := range []string{"/debug/snapshot", "/debug/pprof/cmdline", "/debug/proxies"} {
		if st, body := getBearer(t, r2, path, ""); st != http.StatusUnauthorized {
			t.Errorf("r2 %s without a token: %d %.200q, want 401", path, st, body)
		}
		if st, body := getBearer(t, r2, path, token+"x"); st != http.StatusUnauthorized {
			t.Errorf("r2 %s with a wrong token: %d %.200q, want 401", path, st, body)
		}
		st, body := getBearer(t, r2, path, token)
		if st != http.StatusOK || strings.Contains(body, password) {
			t.Errorf("r2 %s with the token: %d %.300q, want 200 without the password", path, st, body)
		}
	}
	if _, body := getBearer(t, r2, "/debug/snapshot?group=edge-2", token); !strings.Contains(body, "edge-2") {
		t.Errorf("r2 /debug/snapshot?group=edge-2 does not show listener edge-2: %.300s", body)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if st, _ := getBearer(t, r2, path, ""); st != http.StatusOK {
			t.Errorf("r2 %s without a token: %d, want 200", path, st)
		}
	}
}

// checkLogClean: no write of the replica was refused and the password is in
// no log line. The harness's own first line of each run (the command line)
// is skipped: it is the test's, not chancery's.
func checkLogClean(t *testing.T, r *harness.Chancery, password string) {
	t.Helper()
	for _, line := range strings.Split(readFile(t, r.LogPath()), "\n") {
		if strings.HasPrefix(line, "=== ") {
			continue
		}
		if strings.Contains(line, password) {
			t.Errorf("%s logged the etcd password: %.300s", r.ReplicaID(), line)
		}
		if strings.Contains(strings.ToLower(line), "permission denied") {
			t.Errorf("%s was refused a write: %.300s", r.ReplicaID(), line)
		}
	}
}

// A password given on the command line still works, is warned about, and
// /debug/pprof/cmdline shows it redacted.
func TestEtcdPasswordOnCommandLineRedacted(t *testing.T) {
	s := startSecureEtcd(t)
	replicaPassword, operatorPassword := randomSecret(t), randomSecret(t)
	s.createRoles(replicaPassword, operatorPassword)
	args := s.replicaArgs("--etcd-password", replicaPassword)
	r := harness.StartChancery(t, harness.ChanceryOptions{ReplicaID: "argv-1", EtcdEndpoints: []string{s.etcd.Endpoint()}, ExtraArgs: args})
	harness.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		_, err := onlyLeader(t, r)
		return err
	})
	cmdline := string(r.Get(t, "/debug/pprof/cmdline"))
	if strings.Contains(cmdline, replicaPassword) || !strings.Contains(cmdline, "--etcd-password\x00<redacted>") {
		t.Errorf("/debug/pprof/cmdline = %q, want the password redacted", cmdline)
	}
	if !strings.Contains(readFile(t, r.LogPath()), "visible to every local user in the process list") {
		t.Error("no warning about --etcd-password on the command line")
	}
	checkLogClean(t, r, replicaPassword)
}
