package bootstrap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
)

// gRPCBootstrap is gRPC's xDS bootstrap file (gRFC A27, with A65's TLS
// channel credentials and A71's list of servers), as GRPC_XDS_BOOTSTRAP or
// GRPC_XDS_BOOTSTRAP_CONFIG hands it to a proxyless gRPC client.
type gRPCBootstrap struct {
	XDSServers []gRPCServer `json:"xds_servers"`
	Node       gRPCNode     `json:"node"`
}

type gRPCServer struct {
	ServerURI      string            `json:"server_uri"`
	ChannelCreds   []gRPCChannelCred `json:"channel_creds"`
	ServerFeatures []string          `json:"server_features"`
}

type gRPCChannelCred struct {
	Type   string         `json:"type"`
	Config *gRPCTLSConfig `json:"config,omitempty"`
}

// gRPCTLSConfig is the "tls" channel credentials' config (A65): files the
// client reads, and reads again as they change.
type gRPCTLSConfig struct {
	CAFile   string `json:"ca_certificate_file"`
	CertFile string `json:"certificate_file,omitempty"`
	KeyFile  string `json:"private_key_file,omitempty"`
}

type gRPCNode struct {
	ID       string            `json:"id"`
	Cluster  string            `json:"cluster"`
	Locality *gRPCLocality     `json:"locality,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

type gRPCLocality struct {
	Zone string `json:"zone"`
}

// GenerateGRPC returns the xDS bootstrap of a proxyless gRPC client, as
// indented JSON: one server per replica address, in the order given, each
// with the same credentials. gRPC streams from the first it reaches and
// goes to the next only while it lacks resources (A71 fallback), so a
// replica address that dies keeps a client on its cached configuration
// until that replica returns: give a load balancer's address or a DNS
// name with every replica's address (docs/grpc.md). The Envoy-only
// settings of Config (admin, timeouts, backoff, connection cap) are not
// used; TLS.SNI cannot be, since gRPC checks the certificate against the
// host of the address.
func GenerateGRPC(cfg Config) ([]byte, error) {
	cfg, _, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.TLS != nil && cfg.TLS.SNI != "" && !sameHosts(cfg.XDS, cfg.TLS.SNI) {
		return nil, errors.New("gRPC checks a replica's certificate against the host of its address: a TLS server name other than that host cannot be used")
	}
	creds := gRPCChannelCred{Type: "insecure"}
	if t := cfg.TLS; t != nil {
		creds = gRPCChannelCred{Type: "tls", Config: &gRPCTLSConfig{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile}}
	}
	b := gRPCBootstrap{Node: gRPCNode{ID: cfg.NodeID, Cluster: cfg.Group, Metadata: nodeMetadata(cfg)}}
	for _, addr := range cfg.XDS {
		b.XDSServers = append(b.XDSServers, gRPCServer{
			ServerURI:      addr,
			ChannelCreds:   []gRPCChannelCred{creds},
			ServerFeatures: []string{"xds_v3"},
		})
	}
	if cfg.Zone != "" {
		b.Node.Locality = &gRPCLocality{Zone: cfg.Zone}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(b); err != nil { // map keys sorted: the same config, the same bytes
		return nil, fmt.Errorf("encode gRPC bootstrap: %w", err)
	}
	return out.Bytes(), nil
}

// sameHosts reports whether every address has host name as its host.
func sameHosts(addrs []string, name string) bool {
	return !slices.ContainsFunc(addrs, func(a string) bool {
		host, _, err := net.SplitHostPort(a)
		return err != nil || !strings.EqualFold(host, name)
	})
}
