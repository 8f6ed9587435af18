package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chancery-xds/chancery/test/bench/workload"
)

// p6Group is the node group of P6's real Envoy.
const p6Group = "p6"

// p6 times one real Envoy taking N clusters: it runs LIVE on a route table
// that reaches one service, then one write makes the table reach all N,
// and the clock runs from that Put until Envoy has ACKed the clusters,
// their endpoints and the routes (as Chancery's ACK tracking sees it).
func (d *driver) p6(ctx context.Context) error {
	for _, n := range d.scale.p6Clusters {
		if err := d.p6Size(ctx, n); err != nil {
			d.report.errorf("P6 clusters=%d: %v", n, err)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return nil
}

func (d *driver) p6Size(ctx context.Context, n int) error {
	prefix := d.prefix(fmt.Sprintf("p6-%d", n))
	port, err := freePort()
	if err != nil {
		return err
	}
	spec := workload.Spec{Services: n, EndpointsPer: 1, Groups: []string{p6Group}, Reach: 1, ListenerPort: uint32(port)}
	if err := d.etcd.seed(ctx, prefix, workload.Objects(spec)); err != nil {
		return err
	}
	s, err := d.startServer(ctx, chancery, fmt.Sprintf("p6-%d", n), prefix)
	if err != nil {
		return err
	}
	defer s.stop()
	all := spec
	all.Reach = 0
	for _, mode := range []string{"delta", "sotw"} {
		if err := d.etcd.put(ctx, prefix, workload.RouteTable(spec)); err != nil {
			return err
		}
		took, err := d.p6Envoy(ctx, s, prefix, all, mode)
		if err != nil {
			d.report.errorf("P6 clusters=%d %s: %v", n, mode, err)
			continue
		}
		d.report.add(Metric{Phase: "P6", Name: "envoy_ack", Server: chancery, Mode: mode, Scale: fmt.Sprintf("clusters=%d", n),
			Value: ms(took.Nanoseconds()), Unit: "ms", Note: "route table Put returned to Envoy ACKing clusters, endpoints and routes"})
	}
	return nil
}

// p6Envoy starts an Envoy in mode, waits until it is LIVE, writes the big
// route table and waits for the ACKs.
func (d *driver) p6Envoy(ctx context.Context, s *server, prefix string, all workload.Spec, mode string) (time.Duration, error) {
	node := "p6-envoy-" + mode + "-" + strconv.Itoa(all.Services)
	e, admin, err := d.startEnvoy(ctx, node, s.xds, mode == "delta")
	if err != nil {
		return 0, err
	}
	defer e.stop(10 * time.Second)
	before, err := groupVersions(s)
	if err != nil {
		return 0, err
	}
	if err := d.etcd.put(ctx, prefix, workload.RouteTable(all)); err != nil {
		return 0, err
	}
	put := time.Now()
	deadline := put.Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		if !e.running() {
			return 0, fmt.Errorf("envoy exited (%v); log %s", e.err, e.log)
		}
		done, err := acked(s, node, before)
		if err != nil {
			return 0, err
		}
		if done {
			took := time.Since(put)
			return took, checkEnvoyClusters(admin, all.Services)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("envoy %s did not ACK %d clusters within 5 minutes", node, all.Services)
}

// groupVersions is the P6 group's published versions.
func groupVersions(s *server) (map[string]string, error) {
	b, err := s.get("/debug/snapshot")
	if err != nil {
		return nil, err
	}
	var out struct {
		Groups []struct {
			Group    string            `json:"group"`
			Versions map[string]string `json:"versions"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("/debug/snapshot: %w", err)
	}
	for _, g := range out.Groups {
		if g.Group == p6Group {
			return g.Versions, nil
		}
	}
	return nil, fmt.Errorf("/debug/snapshot: no group %q", p6Group)
}

// acked reports whether node has ACKed new versions (not before's) of the
// clusters, endpoints and routes, and they are the published ones.
func acked(s *server, node string, before map[string]string) (bool, error) {
	now, err := groupVersions(s)
	if err != nil {
		return false, err
	}
	b, err := s.get("/debug/proxies")
	if err != nil {
		return false, err
	}
	var proxies []struct {
		NodeID string `json:"node_id"`
		Types  map[string]struct {
			Acked string `json:"acked"`
		} `json:"types"`
	}
	if err := json.Unmarshal(b, &proxies); err != nil {
		return false, fmt.Errorf("/debug/proxies: %w", err)
	}
	for _, p := range proxies {
		if p.NodeID != node {
			continue
		}
		for _, typ := range []string{"clusters", "endpoints", "routes"} {
			if now[typ] == before[typ] || p.Types[typ].Acked != now[typ] {
				return false, nil
			}
		}
		return true, nil
	}
	return false, nil
}

// checkEnvoyClusters confirms from Envoy's own stats that it holds every
// cluster (plus its static xds cluster), once, after the clock stopped.
func checkEnvoyClusters(admin string, n int) error {
	resp, err := adminClient.Get("http://" + admin + "/stats?filter=" + `^cluster_manager\.(active|warming)_clusters$`)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	stats := map[string]int{}
	for _, line := range strings.Split(string(body), "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				stats[k] = n
			}
		}
	}
	if stats["cluster_manager.active_clusters"] < n+1 || stats["cluster_manager.warming_clusters"] != 0 {
		return fmt.Errorf("envoy reports %v after the ACK, want %d active clusters and none warming", stats, n+1)
	}
	return nil
}

// startEnvoy runs bin/envoy with an ADS bootstrap and waits until it is
// LIVE. It returns the process and the admin address.
func (d *driver) startEnvoy(ctx context.Context, node, xds string, delta bool) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	host, xport, _ := strings.Cut(xds, ":")
	api := "GRPC"
	if delta {
		api = "DELTA_GRPC"
	}
	bootstrap := fmt.Sprintf(envoyBootstrap, node, p6Group, port, api, host, xport)
	path := filepath.Join(d.dir, node+".yaml")
	if err := os.WriteFile(path, []byte(bootstrap), 0o644); err != nil {
		return nil, "", err
	}
	p, _, err := d.procs.start(node, d.bin("envoy"), []string{"-c", path, "--base-id", strconv.Itoa(1 + rand.IntN(60000)),
		"--disable-hot-restart", "--log-level", "warn", "--concurrency", "1"}, false)
	if err != nil {
		return nil, "", err
	}
	admin := loopback(port)
	if err := waitHTTP(ctx, p, "http://"+admin+"/ready", 60*time.Second); err != nil {
		p.kill()
		return nil, "", err
	}
	return p, admin, nil
}

// envoyBootstrap takes everything from ADS, as the e2e harness's does.
const envoyBootstrap = `node: {id: %s, cluster: %s}
admin:
  address: {socket_address: {address: 127.0.0.1, port_value: %d}}
dynamic_resources:
  ads_config:
    api_type: %s
    transport_api_version: V3
    set_node_on_first_message_only: true
    grpc_services: [{envoy_grpc: {cluster_name: xds}}]
  cds_config: {ads: {}, resource_api_version: V3}
  lds_config: {ads: {}, resource_api_version: V3}
static_resources:
  clusters:
  - name: xds
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}
    load_assignment:
      cluster_name: xds
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: "%s", port_value: %s}}}}]}]
`
