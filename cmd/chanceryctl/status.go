package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/chancery-xds/chancery/cluster"
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
shows after about that long. With NODE, status shows that Envoy in detail:
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
			fleet, err := cluster.ReadFleet(ctx, e.cli, e.ks)
			if err != nil {
				return e.explain(err)
			}
			if len(args) == 0 {
				return cluster.WriteFleet(a.stdout, fleet)
			}
			return cluster.WriteEnvoy(a.stdout, fleet, args[0], time.Now())
		},
	}
}
