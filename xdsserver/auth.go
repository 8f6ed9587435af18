package xdsserver

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/chancery-xds/chancery/internal/xdsidentity"
)

// The xDS identity rule (docs/security.md, "xDS channel: TLS and
// identity"; internal/xdsidentity): where client certificates are
// required, the certificate, not the request, decides which node groups a
// stream may claim. Each URI SAN spiffe://<trust domain>/group/<group>
// allows one group, in any trust domain; a stream whose node.cluster no
// SAN allows is refused with PERMISSION_DENIED before anything is sent to
// it. That is what keeps one VM from reading another group's listeners
// and secrets.

// Reasons a stream is refused, the label of chancery_xds_streams_refused_total
// (refusedStreams).
const (
	refusedGroupNotAllowed = "group-not-allowed"
	refusedNoCertificate   = "no-client-certificate"
	refusedAdmission       = "admission" // beyond --xds-stream-rate (grpc.go)
)

// peerIdentity is what a stream's connection says of its client.
type peerIdentity struct {
	addr     string
	verified bool     // it presented a certificate that a client CA signed
	groups   []string // the groups that certificate allows
}

// streamAuth applies the identity rule, if it is on.
type streamAuth struct {
	on      bool
	log     *zap.Logger
	refused *prometheus.CounterVec
}

func newStreamAuth(cfg Config) *streamAuth {
	refused := refusedStreams(cfg.Registerer)
	for _, r := range []string{refusedGroupNotAllowed, refusedNoCertificate} {
		refused.WithLabelValues(r)
	}
	return &streamAuth{on: cfg.ClientCertGroups, log: cfg.Logger, refused: refused}
}

// identify reads the client's identity from a stream's context; with the
// rule off there is nothing to read.
func (a *streamAuth) identify(ctx context.Context) peerIdentity {
	if !a.on {
		return peerIdentity{}
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return peerIdentity{}
	}
	id := peerIdentity{}
	if p.Addr != nil {
		id.addr = p.Addr.String()
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return id
	}
	id.verified = true
	id.groups = xdsidentity.Groups(info.State.VerifiedChains[0][0])
	return id
}

// admit returns nil if the stream may claim node's group, else the
// PERMISSION_DENIED status to end it with; a refusal is logged and
// counted. node is the stream's node as shownNode makes it.
func (a *streamAuth) admit(id peerIdentity, node *corev3.Node) error {
	group := node.GetCluster()
	if !a.on || id.verified && slices.Contains(id.groups, group) {
		return nil
	}
	reason, msg := refusedGroupNotAllowed, ""
	switch {
	case !id.verified:
		reason = refusedNoCertificate
		msg = fmt.Sprintf("xds: node group %q refused: the connection presented no verified client certificate", group)
	case len(id.groups) == 0:
		msg = fmt.Sprintf("xds: node group %q refused: the client certificate allows no group (it needs a URI SAN spiffe://<trust domain>/group/%s)", group, group)
	default:
		msg = fmt.Sprintf("xds: node group %q refused: the client certificate allows only %s (URI SANs spiffe://<trust domain>/group/<group>)", group, quotedList(id.groups))
	}
	a.refused.WithLabelValues(reason).Inc()
	a.log.Warn("xDS stream refused: its client certificate does not allow the node group it claims",
		zap.String("reason", reason), zap.String("node-id", node.GetId()), zap.String("group", group),
		zap.Strings("allowed-groups", id.groups), zap.String("peer", id.addr))
	return status.Error(codes.PermissionDenied, msg)
}

func quotedList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
