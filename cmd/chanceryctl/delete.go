package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chancery-xds/chancery/cmd/chanceryctl/check"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

func deleteCommand(a *app) *cobra.Command {
	var dryRun, force bool
	cmd := &cobra.Command{
		Use:   "delete KIND NAME",
		Short: "Delete one object, unless that would break others",
		Long: `delete removes one object from etcd, with a transaction that fails if the
object changed since it was read. It first translates the keyspace without
the object and refuses if anything accepted now would be rejected then (a
route to the deleted service, a listener to the deleted route table);
--force deletes anyway.

Deleting an endpoint that 'endpoint register' keeps alive removes it until
that process registers again; stop the process to remove it for good.`,
		Example: `  chanceryctl delete service web-old
  chanceryctl delete endpoint web/10.0.1.10-8080
  chanceryctl delete routetable legacy --dry-run`,
		Args: positional(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := model.ParseKind(args[0])
			if err != nil {
				return usageErrorf("%v", err)
			}
			if kind == model.KindHealth {
				return usageErrorf("health verdicts are written by the elected replica, not deleted")
			}
			return a.delete(cmd.Context(), model.Ref{Kind: kind, Name: args[1]}, dryRun, force)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check and print what would happen, delete nothing")
	cmd.Flags().BoolVar(&force, "force", false, "delete even if objects that are accepted now would be rejected")
	return cmd
}

func (a *app) delete(ctx context.Context, ref model.Ref, dryRun, force bool) error {
	e, err := a.dial()
	if err != nil {
		return err
	}
	defer e.close()
	rctx, cancel := e.request(ctx)
	defer cancel()
	cur, err := storage.ReadContents(rctx, e.cli, e.ks)
	if err != nil {
		return e.explain(err)
	}
	change, err := storage.PlanDelete(cur, ref)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%s not found", ref)
	}
	if err != nil {
		return err
	}
	r := check.Delete(cur, ref)
	for _, f := range r.Errors {
		level := "error"
		if force {
			level = "warning"
		}
		fmt.Fprintf(a.stderr, "%s: %s\n", level, finding(f))
	}
	if !r.OK() && !force {
		return fmt.Errorf("delete refused: %s would be rejected without %s (--force deletes anyway); nothing deleted", plural(len(r.Errors), "object"), ref)
	}
	if change.Current.Lease != 0 {
		fmt.Fprintf(a.stderr, "note: %s is registered under lease %x; it returns if its 'endpoint register' registers again\n", ref, change.Current.Lease)
	}
	if dryRun {
		fmt.Fprintf(a.stdout, "%s deleted (dry run)\n", ref)
		return nil
	}
	w, err := e.newWriter(storage.DefaultMaxTxnOps)
	if err != nil {
		return err
	}
	wctx, wcancel := e.request(ctx)
	defer wcancel()
	if _, err := w.Commit(wctx, cur.Revision, []storage.Change{change}); err != nil {
		var ce *storage.ConflictError
		if errors.As(err, &ce) {
			return fmt.Errorf("%v; run delete again", err)
		}
		return e.explain(err)
	}
	fmt.Fprintf(a.stdout, "%s deleted\n", ref)
	return nil
}
