package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chancery-xds/chancery/bootstrap"
)

// bootstrapFlags are the bootstrap command's flags.
type bootstrapFlags struct {
	cfg      bootstrap.Config
	metadata []string
	ca, cert string
	key, sni string
	output   string
	grpc     bool
}

func bootstrapCommand(a *app) *cobra.Command {
	f := &bootstrapFlags{}
	host, _ := os.Hostname() // only a default; --node-id names the node otherwise
	cmd := &cobra.Command{
		Use:   "bootstrap --group GROUP --xds HOST:PORT[,HOST:PORT...]",
		Short: "Print an Envoy bootstrap that takes its configuration from Chancery",
		Long: `bootstrap prints (or writes, with -o) the bootstrap of one Envoy: delta ADS
over a static "xds" cluster that lists every replica address given (host
names are resolved by Envoy), HTTP/2 with PING and TCP keepalives so a
vanished replica is noticed in seconds, a bounded jittered reconnect
backoff, the admin interface on loopback, node metadata naming chanceryctl
and its version, and a cap on downstream connections.

The node's cluster is its group: Chancery sends it the listeners that
select that group. With --xds-ca the connection to the replicas uses TLS,
and mTLS with --xds-cert and --xds-key; files are referenced by path, not
copied. Replicas that require client certificates (--xds-client-ca) let
a stream claim only the groups its certificate names in URI SANs
spiffe://<trust domain>/group/<group>: if the certificate file is
readable here, bootstrap warns when it does not name --group. Envoy reads
these files when it starts. It needs no etcd.

With --grpc it prints the xDS bootstrap JSON of a proxyless gRPC client
instead (GRPC_XDS_BOOTSTRAP names the file, GRPC_XDS_BOOTSTRAP_CONFIG
holds its text): one xds_servers entry per --xds address, insecure or,
with --xds-ca, tls channel credentials (mTLS with --xds-cert/--xds-key),
node id, cluster (the group) and zone. gRPC streams from the first
address it reaches and stays on its cached configuration while that one
is down: give a load balancer or one DNS name for every replica
(docs/grpc.md). The Envoy-only flags are ignored.`,
		Example: `  chanceryctl bootstrap --node-id edge-1 --group edge --xds 10.0.0.5:18000,10.0.0.6:18000 > /etc/envoy/envoy.yaml
  chanceryctl bootstrap --group internal --xds xds.internal:18000 \
      --xds-ca /etc/chancery/ca.pem --xds-cert /etc/envoy/xds.pem --xds-key /etc/envoy/xds-key.pem \
      --xds-sni xds.internal -o /etc/envoy/envoy.yaml
  chanceryctl bootstrap --grpc --node-id billing-1 --group grpc-clients --xds xds.internal:18000 -o /etc/billing/xds-bootstrap.json`,
		Args: positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.bootstrap(cmd, f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.cfg.NodeID, "node-id", host, "node.id: this Envoy's unique name")
	fs.StringVar(&f.cfg.Group, "group", "", "node.cluster: the node group whose listeners this Envoy gets (required)")
	fs.StringSliceVar(&f.cfg.XDS, "xds", nil, "replica addresses, host:port, comma-separated or repeated (required)")
	fs.StringVar(&f.cfg.Zone, "zone", "", "node.locality.zone, with the local cluster zone-aware services need (docs/locality.md)")
	fs.StringVar(&f.cfg.AdminAddress, "admin-address", "127.0.0.1", "address of Envoy's admin interface")
	fs.Uint32Var(&f.cfg.AdminPort, "admin-port", 9901, "port of Envoy's admin interface")
	fs.StringArrayVar(&f.metadata, "metadata", nil, "extra node metadata, key=value; repeatable")
	fs.DurationVar(&f.cfg.ConnectTimeout, "connect-timeout", time.Second, "connect timeout to one replica")
	fs.DurationVar(&f.cfg.ReconnectBase, "reconnect-base", 250*time.Millisecond, "first backoff before reconnecting the ADS stream")
	fs.DurationVar(&f.cfg.ReconnectMax, "reconnect-max", 5*time.Second, "longest backoff before reconnecting the ADS stream")
	fs.Int64Var(&f.cfg.MaxConnections, "max-connections", 50000, "cap on downstream connections (0: unlimited)")
	fs.StringVar(&f.ca, "xds-ca", "", "CA bundle that verifies the replicas' certificates; turns on TLS")
	fs.StringVar(&f.cert, "xds-cert", "", "client certificate for mTLS to the replicas, with a URI SAN spiffe://<trust domain>/group/<group>")
	fs.StringVar(&f.key, "xds-key", "", "client key for mTLS to the replicas")
	fs.StringVar(&f.sni, "xds-sni", "", "TLS server name to send, and to require in the replicas' certificate (default: the host of --xds when every address has the same host name)")
	fs.StringVarP(&f.output, "output", "o", "", "write to this file (atomically) instead of stdout")
	fs.BoolVar(&f.grpc, "grpc", false, "print a proxyless gRPC client's xDS bootstrap (JSON) instead of Envoy's")
	return cmd
}

func (a *app) bootstrap(cmd *cobra.Command, f *bootstrapFlags) error {
	cfg := f.cfg
	cfg.Generator, cfg.GeneratorVersion = "chanceryctl", version
	if cfg.Group == "" || len(cfg.XDS) == 0 {
		return usageErrorf("--group and --xds are required")
	}
	if f.ca != "" || f.cert != "" || f.key != "" || f.sni != "" {
		cfg.TLS = &bootstrap.TLS{CAFile: f.ca, CertFile: f.cert, KeyFile: f.key, SNI: f.sni}
	}
	cfg.Metadata = map[string]string{}
	for _, kv := range f.metadata {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageErrorf("--metadata %q: want key=value", kv)
		}
		cfg.Metadata[k] = v
	}
	if f.grpc {
		return a.grpcBootstrap(cfg, f)
	}
	out, err := bootstrap.Generate(cfg)
	if err != nil {
		return usageErrorf("%v", err)
	}
	if warning := certificateGroupWarning(f.cert, cfg.Group); warning != "" {
		fmt.Fprintf(a.stderr, "warning: %s\n", warning)
	}
	header := fmt.Sprintf("# Envoy bootstrap generated by chanceryctl %s. Regenerate rather than edit:\n#   chanceryctl bootstrap %s\n",
		version, strings.Join(changedFlags(cmd.LocalFlags(), "output"), " "))
	out = append([]byte(header), out...)
	if f.output == "" {
		_, err := a.stdout.Write(out)
		return err
	}
	return writeFileAtomic(f.output, out)
}

// grpcBootstrap writes a gRPC client's bootstrap. JSON has no comments,
// so there is no header naming the command.
func (a *app) grpcBootstrap(cfg bootstrap.Config, f *bootstrapFlags) error {
	out, err := bootstrap.GenerateGRPC(cfg)
	if err != nil {
		return usageErrorf("%v", err)
	}
	if warning := certificateGroupWarning(f.cert, cfg.Group); warning != "" {
		fmt.Fprintf(a.stderr, "warning: %s\n", warning)
	}
	if f.output == "" {
		_, err := a.stdout.Write(out)
		return err
	}
	return writeFileAtomic(f.output, out)
}

// changedFlags renders the flags given on the command line, for the header.
func changedFlags(fs *pflag.FlagSet, skip ...string) []string {
	var out []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !f.Changed {
			return
		}
		for _, s := range skip {
			if f.Name == s {
				return
			}
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				out = append(out, "--"+f.Name+"="+v)
			}
			return
		}
		out = append(out, "--"+f.Name+"="+f.Value.String())
	})
	return out
}

// writeFileAtomic replaces path, so an Envoy (re)starting meanwhile never
// reads half a file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
