package main

import (
	"fmt"
	"net"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/chancery-xds/chancery/cluster"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/xdsserver"
)

// newClusterReplica joins this replica to the fleet: its registration and
// its Envoys' status under its own lease, its candidacy, and, while it leads,
// the health checks and the object status. It reads the xDS server and the
// watcher; the rebuild hands it each snapshot through Observe.
func newClusterReplica(cfg *serveConfig, log *zap.Logger, cli *clientv3.Client, reg prometheus.Registerer,
	xds *xdsserver.Server, w *storage.Watcher) (*cluster.Replica, error) {
	addr, err := advertised("--advertise-address", cfg.advertiseAddress, "--xds-address", cfg.xdsAddress)
	if err != nil {
		return nil, err
	}
	admin, err := advertised("--advertise-admin-address", cfg.advertiseAdminAddress, "--admin-address", cfg.adminAddress)
	if err != nil {
		return nil, err
	}
	return cluster.New(cluster.Config{
		Client:                 cli,
		Keyspace:               storage.NewKeyspace(cfg.prefix),
		ID:                     cfg.replicaID,
		Address:                addr,
		AdminAddress:           admin,
		Version:                version,
		SessionTTL:             cfg.sessionTTL,
		HealthCheckConcurrency: cfg.healthCheckConcurrency,
		EachProxy:              xds.EachProxy,
		Versions:               func() map[string]map[string]string { return servedVersions(xds) },
		Revision:               w.Revision,
		ProxyGeneration:        xds.StatusGeneration,
		Logger:                 log.Named("cluster"),
		Registerer:             reg,
	})
}

// advertised is the address named by the advertise flag, or else the one
// listened on, with this host's name when that is every interface.
func advertised(flagName, value, listenFlag, listen string) (string, error) {
	if value != "" {
		return value, nil
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("%s %q: %w", listenFlag, listen, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if host, err = os.Hostname(); err != nil {
			return "", fmt.Errorf("no %s and no host name: %w", flagName, err)
		}
	}
	return net.JoinHostPort(host, port), nil
}

func servedVersions(xds *xdsserver.Server) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, g := range xds.Groups() {
		if v, ok := xds.Versions(g); ok {
			versions := make(map[string]string, len(v.Versions))
			for typ, ver := range v.Versions {
				versions[typ] = ver
			}
			out[g] = versions
		}
	}
	return out
}
