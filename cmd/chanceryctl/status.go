package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/spf13/cobra"

	"github.com/chancery-xds/chancery/cluster/fleet"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

// statusCommand is the fleet view: every Envoy, the replica serving it, and
// per xDS type whether it holds the current config.
func statusCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "status [NODE]",
		Short: "Show every connected Envoy and whether it has accepted the current config",
		Long: `status lists every Envoy connected to a replica, one line each: its node
id, node group, the replica serving it and, for clusters, endpoints,
listeners and routes:

  SYNCED    it ACKed the current version
  STALE     it holds an older version, or has not answered the newest yet
  NACKED    it rejected the last version sent (the error follows)
  NOT SENT  nothing of this type was sent to it

The current version of a group is the one served by the replica that has
applied the newest etcd revision; versions are content hashes, the same on
every replica. Replicas publish their Envoys every half second, so a change
shows after about that long. Below the Envoys, the objects the elected
replica records as rejected (status/), with what is served in place of
each: its last accepted version, or nothing; then when each accepted
secret's first certificate expires. With NODE, status shows that Envoy in detail:
versions sent, ACKed and current, and the whole NACK error.`,
		Example: `  chanceryctl status
  chanceryctl status envoy-edge-1`,
		Args: positional(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := a.dial()
			if err != nil {
				return err
			}
			defer e.close()
			ctx, cancel := e.request(cmd.Context())
			defer cancel()
			view, err := fleet.Read(ctx, e.cli, e.ks)
			if err != nil {
				return e.explain(err)
			}
			if len(args) == 0 {
				if err := fleet.WriteTable(a.stdout, view); err != nil {
					return err
				}
				return a.printRejected(ctx, e)
			}
			return fleet.WriteEnvoy(a.stdout, view, args[0], time.Now())
		},
	}
}

// printRejected lists the objects status/ records as rejected, as the
// elected replica wrote them.
func (a *app) printRejected(ctx context.Context, e *etcd) error {
	resp, err := e.cli.Get(ctx, e.ks.StatusPrefix(), clientv3.WithPrefix())
	if err != nil {
		return e.explain(err)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	header := false
	for _, kv := range resp.Kvs {
		var st storage.ObjectStatus
		if json.Unmarshal(kv.Value, &st) != nil || st.State != storage.StatusRejected {
			continue
		}
		if !header {
			fmt.Fprintln(tw, "\nREJECTED OBJECT\tSERVING\tREASON")
			header = true
		}
		serving := "nothing"
		if st.Serving != nil {
			serving = fmt.Sprintf("revision %d", st.Serving.Revision)
		}
		key := strings.TrimPrefix(string(kv.Key), e.ks.StatusPrefix())
		fmt.Fprintf(tw, "%s\t%s\t%s\n", model.SafeText(key, model.KeyTextMax), serving, model.SafeText(oneLine(st.Reason), model.ReasonTextMax))
	}
	printSecretExpiry(tw, resp.Kvs, e.ks.StatusPrefix()+model.KindSecret.Segment()+"/", time.Now())
	return tw.Flush()
}
