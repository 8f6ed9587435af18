package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

func endpointCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "endpoint",
		Short: "Register this machine's endpoints, list endpoints",
		Example: `  chanceryctl endpoint register --service web --address 10.0.1.10 --port 8080 --zone eu-west-1a
  chanceryctl endpoint list --service web`,
		Args: positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(registerCommand(a), listEndpointsCommand(a))
	return cmd
}

// registerFlags are endpoint register's flags.
type registerFlags struct {
	service, address, zone, id string
	port, weight               uint32
	metadata                   []string
	ttl                        time.Duration
}

func registerCommand(a *app) *cobra.Command {
	f := &registerFlags{}
	cmd := &cobra.Command{
		Use:   "register --service S --address A --port P",
		Short: "Keep an endpoint registered under an etcd lease, in the foreground",
		Long: `register writes endpoints/<service>/<id> under an etcd lease and keeps the
lease alive for as long as it runs, in the foreground (run it from systemd,
see examples/systemd). If the machine or the process dies, the lease
expires after --ttl and the endpoint leaves every Envoy's EDS. If the lease
is lost (an etcd outage longer than the TTL, or a revoke) it registers
again as soon as etcd answers. On SIGTERM or SIGINT it deletes the endpoint
at once, by revoking the lease, and exits 0.

The id defaults to <address>-<port>.`,
		Example: `  chanceryctl endpoint register --service web --address 10.0.1.10 --port 8080
  chanceryctl endpoint register --service api --address 10.0.2.7 --port 9000 --zone eu-west-1b --ttl 10s \
      --metadata version=2.4.1`,
		Args: positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.register(cmd.Context(), f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.service, "service", "", "service the endpoint belongs to (required)")
	fs.StringVar(&f.address, "address", "", "IP address Envoys connect to (required)")
	fs.Uint32Var(&f.port, "port", 0, "port Envoys connect to (required)")
	fs.StringVar(&f.zone, "zone", "", "zone, for zone-aware routing")
	fs.Uint32Var(&f.weight, "weight", 0, "load-balancing weight 1-128 (default 1)")
	fs.StringVar(&f.id, "id", "", "endpoint id (default <address>-<port>)")
	fs.StringArrayVar(&f.metadata, "metadata", nil, "endpoint metadata, key=value; repeatable")
	fs.DurationVar(&f.ttl, "ttl", 15*time.Second, "lease time to live: how long a dead machine stays in EDS")
	return cmd
}

// endpointID is the default id: "10.0.1.10-8080". IPv6 addresses are
// expanded so that the id is a valid name (no ':') and still unique.
func endpointID(address string, port uint32) string {
	addr, err := netip.ParseAddr(address)
	if err != nil {
		return address // Validate reports the address
	}
	s := addr.String()
	if addr.Is6() && !addr.Is4In6() {
		s = strings.ReplaceAll(addr.StringExpanded(), ":", "-")
	}
	return fmt.Sprintf("%s-%d", s, port)
}

// registration builds the registration from the flags; the model checks
// the values, as it checks every endpoint.
func (f *registerFlags) registration() (model.Ref, []byte, error) {
	if f.service == "" || f.address == "" || f.port == 0 {
		return model.Ref{}, nil, usageErrorf("--service, --address and --port are required")
	}
	if f.ttl < time.Second {
		return model.Ref{}, nil, usageErrorf("--ttl %s: want at least 1s", f.ttl)
	}
	ep := model.Endpoint{Address: f.address, Port: f.port, Zone: f.zone, Weight: f.weight}
	for _, kv := range f.metadata {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return model.Ref{}, nil, usageErrorf("--metadata %q: want key=value", kv)
		}
		if ep.Metadata == nil {
			ep.Metadata = map[string]string{}
		}
		ep.Metadata[k] = v
	}
	id := f.id
	if id == "" {
		id = endpointID(f.address, f.port)
	}
	ref := model.Ref{Kind: model.KindEndpoint, Name: f.service + "/" + id}
	value, err := storage.CanonicalValue(&ep)
	if err != nil {
		return model.Ref{}, nil, err
	}
	if _, err := model.Decode(ref, value); err != nil {
		return model.Ref{}, nil, usageErrorf("%s: %v", ref, err)
	}
	return ref, value, nil
}

func (a *app) register(ctx context.Context, f *registerFlags) error {
	ref, value, err := f.registration()
	if err != nil {
		return err
	}
	e, err := a.dialLazy() // register waits out an etcd outage, at start too
	if err != nil {
		return err
	}
	defer e.close()
	reg := &storage.Registration{
		Client: e.cli, Keyspace: e.ks, Ref: ref, Value: value, TTL: f.ttl,
		RequestTimeout: a.etcdTimeout,
		Notify:         func(ev storage.RegistrationEvent) { a.reportRegistration(ref, ev) },
	}
	return reg.Run(ctx)
}

// reportRegistration prints one line per event: the process runs under
// systemd, whose journal adds the time.
func (a *app) reportRegistration(ref model.Ref, ev storage.RegistrationEvent) {
	switch ev.Kind {
	case storage.EventRegistered:
		fmt.Fprintf(a.stdout, "registered %s under lease %x (ttl %ds)\n", ref, int64(ev.Lease), ev.TTL)
	case storage.EventLost:
		fmt.Fprintf(a.stderr, "lost %s: %v; registering again\n", ref, ev.Err)
	case storage.EventRetry:
		fmt.Fprintf(a.stderr, "cannot register %s: %v; retrying in %s\n", ref, oneLine(fmt.Sprint(ev.Err)), ev.Backoff)
	case storage.EventDeregistered:
		fmt.Fprintf(a.stdout, "deregistered %s (revoked lease %x)\n", ref, int64(ev.Lease))
	}
}

func listEndpointsCommand(a *app) *cobra.Command {
	var service, output string
	cmd := &cobra.Command{
		Use:   "list [--service S]",
		Short: "List endpoints with their lease and health",
		Long: `list shows every endpoint (or a service's), whether it is registered under
a lease (by 'endpoint register') or static, and the elected replica's
health verdict if there is one.`,
		Example: `  chanceryctl endpoint list
  chanceryctl endpoint list --service web -o yaml`,
		Args: positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			return a.listEndpoints(cmd.Context(), service, output)
		},
	}
	cmd.Flags().StringVar(&service, "service", "", "only this service's endpoints")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, yaml or json")
	return cmd
}

func (a *app) listEndpoints(ctx context.Context, service, output string) error {
	e, err := a.dial()
	if err != nil {
		return err
	}
	defer e.close()
	views, _, err := e.views(ctx)
	if err != nil {
		return err
	}
	health := map[string]objectView{}
	var eps []objectView
	for _, v := range views {
		ref := v.stored.Ref
		switch {
		case !matchesName(ref, service):
		case ref.Kind == model.KindHealth:
			health[ref.Name] = v
		case ref.Kind == model.KindEndpoint:
			eps = append(eps, v)
		}
	}
	if output != "table" {
		return a.printViews(eps, output, false, false)
	}
	if len(eps) == 0 {
		fmt.Fprintln(a.stderr, "no endpoints found")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tZONE\tWEIGHT\tLEASE\tHEALTH\tSTATUS")
	for _, v := range eps {
		fmt.Fprintln(tw, endpointRow(v, health[v.stored.Ref.Name]))
	}
	return tw.Flush()
}

func endpointRow(v, health objectView) string {
	addr, zone, weight := "-", "-", "1"
	if ep, ok := v.obj.(*model.Endpoint); ok {
		addr = fmt.Sprintf("%s:%d", ep.Address, ep.Port)
		if ip, err := netip.ParseAddr(ep.Address); err == nil {
			addr = netip.AddrPortFrom(ip, uint16(ep.Port)).String() // [fd00::1]:8080
		}
		if ep.Zone != "" {
			zone = ep.Zone
		}
		if ep.Weight != 0 {
			weight = fmt.Sprint(ep.Weight)
		}
	}
	lease := "static"
	if v.stored.Lease != 0 {
		lease = fmt.Sprintf("%x", v.stored.Lease)
	}
	verdict := "unknown"
	if h, ok := health.obj.(*model.Health); ok {
		verdict = h.Status
	}
	status := "Accepted"
	if v.rejected != nil {
		status = "Rejected: " + oneLine(v.rejected.Error())
	}
	return strings.Join([]string{v.stored.Ref.Name, addr, zone, weight, lease, verdict, status}, "\t")
}
