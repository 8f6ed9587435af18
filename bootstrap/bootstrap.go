// Package bootstrap generates the Envoy bootstrap of a Chancery-managed
// Envoy: delta ADS over a static "xds" cluster listing every replica, an
// admin listener on loopback, and node metadata. It is pure (no I/O) and
// imports nothing of the project's, so the CLI, the server and the tests
// all generate the same bootstrap.
package bootstrap

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// XDSCluster is the name of the static cluster ADS connects through.
const XDSCluster = "xds"

// Config is everything a bootstrap depends on.
type Config struct {
	NodeID string // node.id, unique per Envoy
	Group  string // node.cluster: the node group Chancery serves
	Zone   string // node.locality.zone; optional
	// XDS lists the host:port of every replica (or of a load balancer in
	// front of them). Host names are resolved by Envoy (STRICT_DNS).
	XDS          []string
	AdminAddress string // default 127.0.0.1
	AdminPort    uint32 // default 9901
	// Metadata is added to node.metadata, beside generated_by and
	// generator_version, which name the tool that wrote the bootstrap.
	Metadata         map[string]string
	Generator        string // e.g. "chanceryctl"
	GeneratorVersion string
	// ConnectTimeout bounds a connection attempt to one replica (default 1s:
	// a dead replica should be skipped quickly).
	ConnectTimeout time.Duration
	// ReconnectBase and ReconnectMax bound Envoy's jittered backoff between
	// ADS stream attempts (defaults 250ms and 5s). Envoy's own maximum is
	// 30s, too long to wait after a replica restarts.
	ReconnectBase, ReconnectMax time.Duration
	// MaxConnections caps downstream connections across all listeners
	// (Envoy's overload manager); 0 leaves it unlimited.
	MaxConnections int64
	// TLS, if set, makes the xds cluster use TLS, and mTLS with a client
	// certificate.
	TLS *TLS
}

// TLS is the transport security of the connection to the replicas. Files
// are referenced by path, so no key material is copied into the bootstrap.
type TLS struct {
	CAFile   string // trusted CAs for the replicas' certificates; required
	CertFile string // client certificate, with KeyFile, for mTLS
	KeyFile  string
	// SNI is sent in the handshake and, when set, is also the DNS name the
	// replica's certificate must carry. Unset, it is the host of the
	// replicas when they are all reached by one DNS name (a load balancer,
	// a round-robin name); with IP addresses, or several names, no name is
	// sent or required, and any certificate the CA signed is accepted.
	SNI string
}

// replica is one parsed entry of Config.XDS.
type replica struct {
	host string
	port uint32
	ip   bool
}

// withDefaults fills unset fields and checks the rest.
func (c Config) withDefaults() (Config, []replica, error) {
	if c.NodeID == "" {
		return c, nil, errors.New("node id is required")
	}
	if c.Group == "" {
		return c, nil, errors.New("group is required")
	}
	if c.AdminAddress == "" {
		c.AdminAddress = "127.0.0.1"
	}
	if _, err := netip.ParseAddr(c.AdminAddress); err != nil {
		return c, nil, fmt.Errorf("admin address %q: want an IP address", c.AdminAddress)
	}
	if c.AdminPort == 0 {
		c.AdminPort = 9901
	}
	if c.AdminPort > 65535 {
		return c, nil, fmt.Errorf("admin port %d: want 1-65535", c.AdminPort)
	}
	c.ConnectTimeout = orDefault(c.ConnectTimeout, time.Second)
	c.ReconnectBase = orDefault(c.ReconnectBase, 250*time.Millisecond)
	c.ReconnectMax = orDefault(c.ReconnectMax, 5*time.Second)
	if c.ReconnectBase > c.ReconnectMax {
		return c, nil, fmt.Errorf("reconnect base %s exceeds reconnect max %s", c.ReconnectBase, c.ReconnectMax)
	}
	if c.MaxConnections < 0 {
		return c, nil, fmt.Errorf("max connections %d: must not be negative", c.MaxConnections)
	}
	if err := c.TLS.check(); err != nil {
		return c, nil, err
	}
	reps, err := parseReplicas(c.XDS)
	if err == nil && c.TLS != nil && c.TLS.SNI == "" {
		if host, ok := oneHostName(reps); ok {
			t := *c.TLS
			t.SNI = host
			c.TLS = &t
		}
	}
	return c, reps, err
}

// oneHostName returns the DNS name every replica is reached by, if there
// is one.
func oneHostName(reps []replica) (string, bool) {
	for _, r := range reps {
		if r.ip || r.host != reps[0].host {
			return "", false
		}
	}
	return reps[0].host, len(reps) > 0
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (t *TLS) check() error {
	switch {
	case t == nil:
		return nil
	case t.CAFile == "":
		return errors.New("TLS to the xDS port needs a CA file to verify the replicas")
	case (t.CertFile == "") != (t.KeyFile == ""):
		return errors.New("a client certificate needs both a certificate and a key file")
	}
	return nil
}

func parseReplicas(addrs []string) ([]replica, error) {
	if len(addrs) == 0 {
		return nil, errors.New("at least one xDS address (host:port) is required")
	}
	seen := map[string]bool{}
	out := make([]replica, 0, len(addrs))
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("xDS address %q: want host:port", a)
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("xDS address %q: port must be 1-65535", a)
		}
		if host == "" {
			return nil, fmt.Errorf("xDS address %q: host is empty", a)
		}
		if seen[a] {
			return nil, fmt.Errorf("xDS address %q given twice", a)
		}
		seen[a] = true
		_, ipErr := netip.ParseAddr(host)
		out = append(out, replica{host: host, port: uint32(n), ip: ipErr == nil})
	}
	return out, nil
}
