package bootstrap

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata from the current output")

// goldenConfigs are reviewed outputs: a plain edge Envoy, and an mTLS one
// reaching the replicas by DNS name.
var goldenConfigs = map[string]Config{
	"plain": {
		NodeID: "edge-1", Group: "edge", XDS: []string{"10.0.0.5:18000", "10.0.0.6:18000"},
		Generator: "chanceryctl", GeneratorVersion: "v1.2.3",
	},
	"mtls": {
		NodeID: "app-7", Group: "internal", Zone: "eu-west-1a", XDS: []string{"xds.internal:18000", "[fd00::5]:18000"},
		AdminPort: 19901, Metadata: map[string]string{"team": "payments"}, MaxConnections: 1000,
		ReconnectMax: 10 * time.Second, Generator: "chanceryctl", GeneratorVersion: "v1.2.3",
		TLS: &TLS{CAFile: "/etc/chancery/ca.pem", CertFile: "/etc/envoy/xds.pem", KeyFile: "/etc/envoy/xds-key.pem", SNI: "xds.internal"},
	},
}

func TestGolden(t *testing.T) {
	for name, cfg := range goldenConfigs {
		t.Run(name, func(t *testing.T) {
			got, err := Generate(cfg)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".yaml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./bootstrap -update to create it)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("%s differs (-want +got), run with -update to accept:\n%s", path, d)
			}
			again, err := Generate(cfg)
			if err != nil || string(again) != string(got) {
				t.Error("the same config generated different bytes")
			}
		})
	}
}

func TestBuild(t *testing.T) {
	b, err := Build(Config{NodeID: "n", Group: "g", XDS: []string{"127.0.0.1:1", "127.0.0.1:2"}})
	if err != nil {
		t.Fatal(err)
	}
	ads := b.GetDynamicResources().GetAdsConfig()
	if ads.GetApiType() != corev3.ApiConfigSource_DELTA_GRPC || !ads.GetSetNodeOnFirstMessageOnly() || ads.GetTransportApiVersion() != corev3.ApiVersion_V3 {
		t.Errorf("ADS config %v", ads)
	}
	c := b.GetStaticResources().GetClusters()[0]
	if c.GetType() != clusterv3.Cluster_STATIC || len(c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()) != 2 {
		t.Errorf("xds cluster %v", c)
	}
	if c.GetTransportSocket() != nil {
		t.Error("TLS without --xds-ca")
	}
	if b.GetAdmin().GetAddress().GetSocketAddress().GetAddress() != "127.0.0.1" || b.GetOverloadManager() != nil {
		t.Errorf("admin %v, overload %v", b.GetAdmin(), b.GetOverloadManager())
	}
}

func TestConfigErrors(t *testing.T) {
	ok := Config{NodeID: "n", Group: "g", XDS: []string{"127.0.0.1:18000"}}
	for name, mutate := range map[string]func(*Config){
		"no node id":        func(c *Config) { c.NodeID = "" },
		"no group":          func(c *Config) { c.Group = "" },
		"no xds":            func(c *Config) { c.XDS = nil },
		"no port":           func(c *Config) { c.XDS = []string{"127.0.0.1"} },
		"port 0":            func(c *Config) { c.XDS = []string{"127.0.0.1:0"} },
		"port too big":      func(c *Config) { c.XDS = []string{"127.0.0.1:65536"} },
		"empty host":        func(c *Config) { c.XDS = []string{":18000"} },
		"duplicate":         func(c *Config) { c.XDS = []string{"a:1", "a:1"} },
		"admin not an IP":   func(c *Config) { c.AdminAddress = "localhost" },
		"backoff inverted":  func(c *Config) { c.ReconnectBase, c.ReconnectMax = 2*time.Second, time.Second },
		"TLS without CA":    func(c *Config) { c.TLS = &TLS{SNI: "x"} },
		"cert without key":  func(c *Config) { c.TLS = &TLS{CAFile: "ca", CertFile: "c"} },
		"negative max conn": func(c *Config) { c.MaxConnections = -1 },
	} {
		cfg := ok
		mutate(&cfg)
		if _, err := Generate(cfg); err == nil {
			t.Errorf("%s: no error", name)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", name, err)
		}
	}
	if _, err := Generate(ok); err != nil {
		t.Fatal(err)
	}
}
