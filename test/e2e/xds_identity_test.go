package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/chancery-xds/chancery/test/e2e/harness"
	"github.com/chancery-xds/chancery/test/xdsclient"
)

// xdsServerName is the DNS name on the replica's xDS certificate, which the
// bootstrap sends as SNI and requires.
const xdsServerName = "xds.test"

// identityReplica is one replica whose xDS port requires client
// certificates, with two groups' listeners: edge (HTTP to an upstream)
// and internal (TCP).
type identityReplica struct {
	t                  *testing.T
	r                  *harness.Chancery
	serverCA, envoysCA *harness.CA
	cert, key          string // the replica's xDS certificate, replaced in place to rotate
	edgePort           int
}

func newIdentityReplica(t *testing.T) *identityReplica {
	t.Helper()
	x := &identityReplica{t: t, serverCA: harness.NewCA(t, "xds-server-ca"), envoysCA: harness.NewCA(t, "xds-envoys-ca"), edgePort: harness.FreePort(t)}
	dir := t.TempDir()
	x.cert, x.key = filepath.Join(dir, "xds.pem"), filepath.Join(dir, "xds-key.pem")
	x.rotate()
	x.r = harness.StartChancery(t, harness.ChanceryOptions{ExtraArgs: []string{
		"--xds-tls-cert", x.cert, "--xds-tls-key", x.key, "--xds-client-ca", x.envoysCA.CertPath(),
	}})
	up := harness.StartUpstream(t, "edge-upstream")
	host, port := up.Addr()
	x.put("services/web", `{"protocol":"http"}`)
	x.put("endpoints/web/a", map[string]any{"address": host, "port": port})
	x.put("routes/web", routeTable(route("/", "web")))
	x.put("listeners/edge", map[string]any{"address": "127.0.0.1", "port": x.edgePort, "protocol": "http", "route_table": "web", "groups": []string{"edge"}})
	x.put("listeners/internal", map[string]any{"address": "127.0.0.1", "port": harness.FreePort(t), "protocol": "tcp", "service": "web", "groups": []string{"internal"}})
	return x
}

func (x *identityReplica) put(key string, spec any) {
	x.t.Helper()
	value, ok := spec.(string)
	if !ok {
		b, err := json.Marshal(spec)
		if err != nil {
			x.t.Fatal(err)
		}
		value = string(b)
	}
	harness.MustEtcdctl(x.t, x.r.EmbeddedEtcdEndpoint(), "put", prefix+"/"+key, value)
}

// rotate issues a new server certificate and writes it and its key over
// the files the replica serves; it returns the new certificate's serial.
func (x *identityReplica) rotate() string {
	x.t.Helper()
	c, k := x.serverCA.Issue(x.t, harness.CertOptions{DNSNames: []string{xdsServerName}, Usage: harness.ServerOnly})
	for src, dst := range map[string]string{c: x.cert, k: x.key} {
		b, err := os.ReadFile(src)
		if err != nil {
			x.t.Fatal(err)
		}
		if err := os.WriteFile(dst+".tmp", b, 0o600); err != nil {
			x.t.Fatal(err)
		}
		if err := os.Rename(dst+".tmp", dst); err != nil {
			x.t.Fatal(err)
		}
	}
	return harness.ReadCert(x.t, c).SerialNumber.String()
}

// envoyCert issues an Envoy client certificate with the URI SANs given.
func (x *identityReplica) envoyCert(name string, uris ...string) (cert, key string) {
	return x.envoysCA.Issue(x.t, harness.CertOptions{CommonName: name, URIs: uris, Usage: harness.ClientOnly})
}

// creds trusts the replica's CA and presents the pair given, if any.
func (x *identityReplica) creds(pair ...string) credentials.TransportCredentials {
	cfg := &tls.Config{RootCAs: x.serverCA.Pool(), ServerName: xdsServerName, MinVersion: tls.VersionTLS12}
	if len(pair) == 2 {
		cfg.Certificates = []tls.Certificate{harness.LoadPair(x.t, pair[0], pair[1])}
	}
	return credentials.NewTLS(cfg)
}

// refusedStream opens a delta ADS stream claiming group and returns how it
// ended; a response of any kind fails the test.
func (x *identityReplica) refusedStream(nodeID, group string, creds credentials.TransportCredentials) error {
	x.t.Helper()
	c, err := xdsclient.Dial(x.r.XDSAddress(), xdsclient.Options{NodeID: nodeID, Group: group, TLS: creds})
	if err != nil {
		return err
	}
	defer c.Close()
	select {
	case r, open := <-c.Responses():
		if open {
			x.t.Fatalf("%s claiming %s was sent %s (%d resources)", nodeID, group, r.TypeURL, len(r.Resources))
		}
		return c.Err()
	case <-time.After(20 * time.Second):
		x.t.Fatalf("%s claiming %s: neither served nor refused", nodeID, group)
	}
	return nil
}

// An Envoy whose certificate names its group syncs over mTLS from a
// bootstrap chanceryctl writes, and serves traffic; a client without a
// certificate, in plaintext, or with a certificate for another group is
// refused and sent nothing; a rotated server certificate is served to new
// connections without a restart while the Envoy keeps its config.
func TestXDSIdentity(t *testing.T) {
	x := newIdentityReplica(t)
	edgeCert, edgeKey := x.envoyCert("edge-1", "spiffe://corp.test/group/edge")
	dir := t.TempDir()
	envoy := harness.StartEnvoyWithBootstrap(t, "edge-1", func(adminPort int) string {
		path := filepath.Join(dir, "edge-1.yaml")
		harness.MustChanceryctl(t, "bootstrap", "--node-id", "edge-1", "--group", "edge", "--xds", x.r.XDSAddress(),
			"--admin-port", strconv.Itoa(adminPort), "--reconnect-max", "1s",
			"--xds-ca", x.serverCA.CertPath(), "--xds-cert", edgeCert, "--xds-key", edgeKey, "--xds-sni", xdsServerName, "-o", path)
		return path
	})
	url := fmt.Sprintf("http://127.0.0.1:%d/", x.edgePort)
	harness.Eventually(t, 20*time.Second, 10*time.Millisecond, func() error {
		st, body, err := harness.HTTPGet(url, "")
		if err != nil || st != 200 || body != "edge-upstream" {
			return fmt.Errorf("GET through the edge Envoy: %d %q %v", st, body, err)
		}
		return nil
	})
	dump := string(envoy.Get(t, "/config_dump?resource=dynamic_listeners"))
	if !strings.Contains(dump, `"name": "edge"`) || strings.Contains(dump, `"name": "internal"`) {
		t.Errorf("the edge Envoy's listeners, want edge alone:\n%s", dump)
	}
	if n, ok := envoy.Stat(t, "cluster.xds.ssl.handshake"); !ok || n < 1 {
		t.Errorf("cluster.xds.ssl.handshake %d (%v): the Envoy did not reach the replica over TLS", n, ok)
	}

	// Refused, and sent nothing: another group's claim, no certificate,
	// plaintext.
	err := x.refusedStream("intruder", "internal", x.creds(edgeCert, edgeKey))
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("an edge certificate claiming internal: %v, want PERMISSION_DENIED", err)
	}
	if msg := status.Convert(err).Message(); !strings.Contains(msg, `"internal"`) || !strings.Contains(msg, `"edge"`) {
		t.Errorf("refusal %q does not name the group claimed and the group allowed", msg)
	}
	noGroupCert, noGroupKey := x.envoyCert("bare", "spiffe://corp.test/edge-1")
	if err := x.refusedStream("bare", "edge", x.creds(noGroupCert, noGroupKey)); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a certificate that names no group: %v, want PERMISSION_DENIED", err)
	}
	if err := x.refusedStream("anonymous", "edge", x.creds()); status.Code(err) != codes.Unavailable {
		t.Errorf("no client certificate: %v, want UNAVAILABLE (the handshake refused)", err)
	}
	if err := x.refusedStream("plain", "edge", insecure.NewCredentials()); status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext: %v, want UNAVAILABLE", err)
	}
	if n, _ := x.r.Metric(t, "chancery_xds_streams_refused_total", map[string]string{"reason": "group-not-allowed"}); n != 2 {
		t.Errorf("chancery_xds_streams_refused_total{reason=group-not-allowed} %v, want 2", n)
	}
	harness.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		log, err := os.ReadFile(x.r.LogPath())
		if err != nil {
			return err
		}
		if n := strings.Count(string(log), "xDS stream refused"); n != 2 || !strings.Contains(string(log), `"group": "internal"`) {
			return fmt.Errorf("%d refusals logged, want 2 with the group claimed", n)
		}
		return nil
	})
	var proxies []struct {
		NodeID string `json:"node_id"`
		Group  string `json:"group"`
	}
	if err := json.Unmarshal(x.r.Get(t, "/debug/proxies"), &proxies); err != nil {
		t.Fatal(err)
	}
	if len(proxies) != 1 || proxies[0].NodeID != "edge-1" || proxies[0].Group != "edge" {
		t.Errorf("/debug/proxies %+v, want edge-1 of edge alone", proxies)
	}

	// The server certificate rotates in place: the next handshake
	// presents the new one, and the Envoy keeps serving.
	serial := x.rotate()
	harness.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		conn, err := tls.Dial("tcp", x.r.XDSAddress(), &tls.Config{RootCAs: x.serverCA.Pool(), ServerName: xdsServerName, NextProtos: []string{"h2"},
			Certificates: []tls.Certificate{harness.LoadPair(t, edgeCert, edgeKey)}})
		if err != nil {
			return err
		}
		defer conn.Close()
		if got := conn.ConnectionState().PeerCertificates[0].SerialNumber.String(); got != serial {
			return fmt.Errorf("serving serial %s, want the rotated %s", got, serial)
		}
		return nil
	})
	if st, body, err := harness.HTTPGet(url, ""); err != nil || st != 200 || body != "edge-upstream" {
		t.Errorf("after the rotation: %d %q %v", st, body, err)
	}
	c, err := xdsclient.Dial(x.r.XDSAddress(), xdsclient.Options{NodeID: "edge-2", Group: "edge", TLS: x.creds(edgeCert, edgeKey)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r, open := <-c.Responses(); !open || len(r.Resources) == 0 {
		t.Errorf("a new edge stream after the rotation: %v", c.Err())
	}
}
