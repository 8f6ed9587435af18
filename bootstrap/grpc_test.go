package bootstrap

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// goldenGRPC are reviewed gRPC bootstraps: plaintext to two replicas, and
// mTLS to a DNS name in a zone.
var goldenGRPC = map[string]Config{
	"grpc-plain": {
		NodeID: "billing-1", Group: "grpc-clients", XDS: []string{"10.0.0.5:18000", "10.0.0.6:18000"},
		Generator: "chanceryctl", GeneratorVersion: "v1.2.3",
	},
	"grpc-mtls": {
		NodeID: "billing-2", Group: "grpc-clients", Zone: "eu-west-1a", XDS: []string{"xds.internal:18000"},
		Metadata: map[string]string{"team": "payments"}, Generator: "chanceryctl", GeneratorVersion: "v1.2.3",
		TLS: &TLS{CAFile: "/etc/chancery/ca.pem", CertFile: "/etc/billing/xds.pem", KeyFile: "/etc/billing/xds-key.pem"},
	},
}

func TestGoldenGRPC(t *testing.T) {
	for name, cfg := range goldenGRPC {
		t.Run(name, func(t *testing.T) {
			got, err := GenerateGRPC(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(got) {
				t.Fatalf("not JSON:\n%s", got)
			}
			path := filepath.Join("testdata", name+".json")
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
			again, err := GenerateGRPC(cfg)
			if err != nil || string(again) != string(got) {
				t.Error("the same config generated different bytes")
			}
		})
	}
}

// The checks of the Envoy bootstrap apply, and a server name gRPC could
// not check against is refused rather than dropped.
func TestGRPCConfigErrors(t *testing.T) {
	ok := Config{NodeID: "n", Group: "g", XDS: []string{"127.0.0.1:18000"}}
	for name, mutate := range map[string]func(*Config){
		"no group":         func(c *Config) { c.Group = "" },
		"no xds":           func(c *Config) { c.XDS = nil },
		"TLS without CA":   func(c *Config) { c.TLS = &TLS{CertFile: "c", KeyFile: "k"} },
		"cert without key": func(c *Config) { c.TLS = &TLS{CAFile: "ca", CertFile: "c"} },
		"SNI not the host": func(c *Config) { c.TLS = &TLS{CAFile: "ca", SNI: "xds.internal"} },
	} {
		cfg := ok
		mutate(&cfg)
		if _, err := GenerateGRPC(cfg); err == nil {
			t.Errorf("%s: no error", name)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", name, err)
		}
	}
	cfg := ok
	cfg.XDS = []string{"xds.internal:18000"}
	cfg.TLS = &TLS{CAFile: "ca", SNI: "xds.internal"}
	if _, err := GenerateGRPC(cfg); err != nil {
		t.Errorf("SNI equal to the host: %v", err)
	}
}
