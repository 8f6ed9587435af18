package xdsserver_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/chancery-xds/chancery/test/e2e/harness"
	"github.com/chancery-xds/chancery/test/xdsclient"
	"github.com/chancery-xds/chancery/xdsserver"
)

// identityFixture is a replica that requires client certificates and holds
// streams to the groups they name, its CAs, log and metrics.
type identityFixture struct {
	srv                 *xdsserver.Server
	addr                string
	serverCA, clientsCA *harness.CA
	logs                *observer.ObservedLogs
	reg                 *prometheus.Registry
}

func newIdentityFixture(t *testing.T) *identityFixture {
	t.Helper()
	fx := &identityFixture{serverCA: harness.NewCA(t, "xds-ca"), clientsCA: harness.NewCA(t, "envoys-ca"), reg: prometheus.NewRegistry()}
	cert, key := fx.serverCA.Issue(t, harness.CertOptions{DNSNames: []string{xdsName}, Usage: harness.ServerOnly})
	files, err := xdsserver.LoadTLSFiles(xdsserver.TLSFilesConfig{CertFile: cert, KeyFile: key, ClientCAFile: fx.clientsCA.CertPath()})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	fx.logs = logs
	fx.srv, fx.addr = tlsReplica(t, translate(t, 1, nil), files, xdsserver.Config{Logger: zap.New(core), Registerer: fx.reg, ClientCertGroups: true})
	return fx
}

// client returns credentials that present a client certificate of ca
// with the URI SANs given.
func (fx *identityFixture) client(t *testing.T, ca *harness.CA, uris ...string) credentials.TransportCredentials {
	t.Helper()
	c, k := ca.Issue(t, harness.CertOptions{CommonName: "envoy", URIs: uris, Usage: harness.ClientOnly})
	return clientTLS(fx.serverCA, harness.LoadPair(t, c, k))
}

func (fx *identityFixture) refused(t *testing.T, reason string) float64 {
	t.Helper()
	families, err := fx.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "chancery_xds_streams_refused_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no chancery_xds_streams_refused_total{reason=%q}", reason)
	return 0
}

// deltaSyncs claims group on a delta stream and waits for a response to
// each type.
func deltaSyncs(t *testing.T, addr, group string, creds credentials.TransportCredentials) {
	t.Helper()
	c, err := xdsclient.Dial(addr, xdsclient.Options{NodeID: "n-" + group, Group: group, TLS: creds})
	if err != nil {
		t.Fatalf("group %s: %v", group, err)
	}
	defer c.Close()
	for seen := map[string]bool{}; len(seen) < len(xdsclient.Types); {
		select {
		case r, open := <-c.Responses():
			if !open {
				t.Fatalf("group %s: stream ended: %v", group, c.Err())
			}
			seen[r.TypeURL] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("group %s: only %d types answered", group, len(seen))
		}
	}
}

// deltaRefused claims group on a delta stream and returns how it ended; it
// fails the test if any response arrived.
func deltaRefused(t *testing.T, addr, group string, creds credentials.TransportCredentials) error {
	t.Helper()
	c, err := xdsclient.Dial(addr, xdsclient.Options{NodeID: "n-" + group, Group: group, TLS: creds})
	if err != nil {
		return err
	}
	defer c.Close()
	select {
	case r, open := <-c.Responses():
		if open {
			t.Fatalf("group %s: a refused stream was sent %s with %d resources", group, r.TypeURL, len(r.Resources))
		}
		return c.Err()
	case <-time.After(5 * time.Second):
		t.Fatalf("group %s: the stream was neither served nor refused", group)
	}
	return nil
}

// sotwRequest is one state-of-the-world stream of the ADS or the CDS
// service.
type sotwRequest interface {
	Send(*discoveryv3.DiscoveryRequest) error
	Recv() (*discoveryv3.DiscoveryResponse, error)
}

// sotwFirst claims group on a state-of-the-world stream and returns the
// first response, or how the stream ended.
func sotwFirst(t *testing.T, addr, group string, creds credentials.TransportCredentials, cds bool) (*discoveryv3.DiscoveryResponse, error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var stream sotwRequest
	if cds {
		stream, err = clusterservice.NewClusterDiscoveryServiceClient(conn).StreamClusters(ctx)
	} else {
		stream, err = discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	}
	if err != nil {
		return nil, err
	}
	req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "n-" + group, Cluster: group}, TypeUrl: resourcev3.ClusterType}
	if err := stream.Send(req); err != nil {
		_, err = stream.Recv() // the status comes with the next receive
		return nil, err
	}
	return stream.Recv()
}

// The client certificate decides which groups a stream may claim: a URI
// SAN spiffe://<trust domain>/group/<group> per group, in any trust
// domain. A stream claiming a group no SAN allows is refused with
// PERMISSION_DENIED, a message naming the group claimed and those
// allowed, a warning and a count, on delta, state-of-the-world and
// single-type streams alike, and is sent nothing.
func TestStreamMayClaimOnlyTheGroupsItsCertificateNames(t *testing.T) {
	fx := newIdentityFixture(t)
	edge := fx.client(t, fx.clientsCA, "spiffe://corp/group/edge")
	both := fx.client(t, fx.clientsCA, "spiffe://corp/group/edge", "spiffe://other.example/group/internal")
	deltaSyncs(t, fx.addr, "edge", edge)
	deltaSyncs(t, fx.addr, "edge", both)
	deltaSyncs(t, fx.addr, "internal", both)
	if r, err := sotwFirst(t, fx.addr, "edge", edge, false); err != nil || len(r.GetResources()) == 0 {
		t.Fatalf("SotW stream of edge: %v, %d clusters", err, len(r.GetResources()))
	}

	err := deltaRefused(t, fx.addr, "internal", edge)
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("delta stream claiming internal with an edge certificate: %v, want PERMISSION_DENIED", err)
	}
	msg := status.Convert(err).Message()
	if !strings.Contains(msg, `node group "internal"`) || !strings.Contains(msg, `allows only "edge"`) {
		t.Errorf("refusal says %q, want the group claimed and the group allowed", msg)
	}
	for _, cds := range []bool{false, true} {
		if r, err := sotwFirst(t, fx.addr, "internal", edge, cds); status.Code(err) != codes.PermissionDenied || r != nil {
			t.Errorf("SotW stream (CDS %v) claiming internal with an edge certificate: %v, %v, want PERMISSION_DENIED and nothing", cds, r, err)
		}
	}
	if n := fx.refused(t, "group-not-allowed"); n != 3 {
		t.Errorf("chancery_xds_streams_refused_total{reason=group-not-allowed} %v, want 3", n)
	}
	entries := fx.logs.FilterMessageSnippet("xDS stream refused").All()
	if len(entries) != 3 {
		t.Fatalf("%d refusals logged, want 3", len(entries))
	}
	fields := entries[0].ContextMap()
	if entries[0].Level != zapcore.WarnLevel || fields["reason"] != "group-not-allowed" || fields["group"] != "internal" ||
		fields["node-id"] != "n-internal" || fields["peer"] == "" {
		t.Errorf("refusal logged as %v %v", entries[0].Level, fields)
	}
	if allowed, _ := fields["allowed-groups"].([]any); len(allowed) != 1 || allowed[0] != "edge" {
		t.Errorf("allowed-groups logged as %v, want [edge]", fields["allowed-groups"])
	}
}

// SANs that are not of the form allow nothing; a stream claiming a group
// that no listener names is refused the same way, and leaves no group
// behind.
func TestCertificateWithoutAGroupSANClaimsNothing(t *testing.T) {
	fx := newIdentityFixture(t)
	odd := fx.client(t, fx.clientsCA, "spiffe://corp/edge", "https://corp/group/edge", "spiffe://corp/group/edge/x")
	err := deltaRefused(t, fx.addr, "edge", odd)
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "allows no group") {
		t.Fatalf("a certificate without a group SAN: %v, want PERMISSION_DENIED saying it allows no group", err)
	}
	edge := fx.client(t, fx.clientsCA, "spiffe://corp/group/edge")
	if err := deltaRefused(t, fx.addr, "made-up", edge); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("claiming a made-up group: %v, want PERMISSION_DENIED", err)
	}
	for _, g := range fx.srv.Groups() {
		if g == "made-up" {
			t.Error("a refused stream left its group behind")
		}
	}
	if n := fx.refused(t, "group-not-allowed"); n != 2 {
		t.Errorf("refused %v, want 2", n)
	}
}

// Without a client certificate, or with one of another CA, the handshake
// fails: the stream is refused before it exists, and sent nothing.
func TestStreamWithoutAVerifiedCertificateIsRefused(t *testing.T) {
	fx := newIdentityFixture(t)
	rogue := harness.NewCA(t, "rogue-ca")
	expired, expiredKey := fx.clientsCA.Issue(t, harness.CertOptions{URIs: []string{"spiffe://corp/group/edge"}, Expired: true})
	serverOnly, serverOnlyKey := fx.clientsCA.Issue(t, harness.CertOptions{URIs: []string{"spiffe://corp/group/edge"}, Usage: harness.ServerOnly})
	for name, creds := range map[string]credentials.TransportCredentials{
		"no certificate":            clientTLS(fx.serverCA),
		"another CA's certificate":  fx.client(t, rogue, "spiffe://corp/group/edge"),
		"an expired certificate":    clientTLS(fx.serverCA, harness.LoadPair(t, expired, expiredKey)),
		"a server-only certificate": clientTLS(fx.serverCA, harness.LoadPair(t, serverOnly, serverOnlyKey)),
	} {
		err := deltaRefused(t, fx.addr, "edge", creds)
		if code := status.Code(err); code != codes.Unavailable {
			t.Errorf("%s: %v, want UNAVAILABLE (a failed handshake)", name, err)
		}
	}
	if err := deltaRefused(t, fx.addr, "edge", credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})); err == nil {
		t.Error("a client that presents nothing was served")
	}
	if n := len(fx.srv.Proxies()); n != 0 {
		t.Errorf("%d proxies after refused handshakes, want 0", n)
	}
}

// Over TLS without a client CA, any client is served, whatever group it
// claims: the rule needs client certificates.
func TestTLSWithoutClientCAHoldsNoStreamToAGroup(t *testing.T) {
	ca := harness.NewCA(t, "xds-ca")
	cert, key := ca.Issue(t, harness.CertOptions{DNSNames: []string{xdsName}})
	files, err := xdsserver.LoadTLSFiles(xdsserver.TLSFilesConfig{CertFile: cert, KeyFile: key})
	if err != nil {
		t.Fatal(err)
	}
	_, addr := tlsReplica(t, translate(t, 1, nil), files, xdsserver.Config{})
	deltaSyncs(t, addr, "edge", clientTLS(ca))
	deltaSyncs(t, addr, "internal", clientTLS(ca))
}
