package xdsserver

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/chancery-xds/chancery/internal/safetext"
)

// What an Envoy says about itself (its node id and group, a NACK's error
// detail, a type URL) reaches logs, metric labels, /debug/proxies and the
// proxies/ records in etcd, so it is made safe where it arrives. Protobuf
// has already checked it is valid UTF-8; it may still hold control
// characters, and it has no length bound.
const (
	// nodeTextMax bounds a node id or group: a group a listener can select
	// is a name of at most 253 bytes, so a cut group is one no listener
	// selects, as the uncut one was.
	nodeTextMax = 512
	// nackTextMax bounds a NACK's error, kept per stream and type and
	// written to etcd with the stream's status.
	nackTextMax = 4096
)

// shownNode is what a stream keeps of its Envoy's node: the id and the
// group, safe to show. The group is the one it joins: a group a listener
// can select is a valid name, which SafeText returns unchanged.
func shownNode(n *corev3.Node) *corev3.Node {
	return &corev3.Node{Id: safetext.Text(n.GetId(), nodeTextMax), Cluster: safetext.Text(n.GetCluster(), nodeTextMax)}
}

// safeLines is safetext.Text line by line: an Envoy's error detail keeps
// the lines that `chanceryctl status` indents, and nothing else it holds
// is shown raw.
func safeLines(s string, limit int) string {
	if !strings.Contains(s, "\n") {
		return safetext.Text(s, limit)
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = safetext.Text(l, limit)
	}
	out := strings.Join(lines, "\n")
	if len(out) > limit {
		return safetext.Text(out, limit) // one cut, quoted line
	}
	return out
}
