package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/chancery-xds/chancery/cmd/chanceryctl/check"
	"github.com/chancery-xds/chancery/cmd/chanceryctl/manifest"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

func rollbackCommand(a *app) *cobra.Command {
	var all, dryRun bool
	var to int64
	var maxOps int
	cmd := &cobra.Command{
		Use:   "rollback KIND NAME --to-revision R | --all --to-revision R",
		Short: "Put an object, or every object, back as etcd held it at a revision",
		Long: `rollback works out the writes that bring one object, or with --all every
object operators write (services, endpoints, route tables, listeners,
secrets, JWT providers, patches; never replicas/, proxies/, health/ or
status/), back to what etcd held at revision R: values put back, objects
created since R deleted, objects deleted since R written again.

The result is checked exactly as apply checks documents: the replicas'
translator over the keyspace as it would be; a rollback the replicas would
reject, or that would break an object accepted now, is refused.

It is written in one etcd transaction that compares every key it touches
with the revision read, and that no service, route table, listener, JWT
provider or patch changed since: a concurrent write makes the rollback fail
with nothing written. A rollback too large for one transaction
(--max-txn-ops) is refused rather than written in parts.

Endpoints under a lease ('endpoint register') are left to their
registrations: they are neither deleted nor written again.

--dry-run prints the diff from now to revision R and writes nothing.`,
		Example: `  chanceryctl history routetable web
  chanceryctl rollback routetable web --to-revision 1234 --dry-run
  chanceryctl rollback routetable web --to-revision 1234 --cause "INC-42: bad route at 03:00"
  chanceryctl rollback --all --to-revision 1234`,
		Args: positional(cobra.MaximumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case to <= 0:
				return usageErrorf("--to-revision: want a revision, 1 or more")
			case maxOps <= 0:
				return usageErrorf("--max-txn-ops must be positive")
			case all && len(args) > 0:
				return usageErrorf("give KIND NAME or --all, not both")
			case all:
				return a.rollback(cmd.Context(), nil, to, dryRun, maxOps)
			case len(args) != 2:
				return usageErrorf("want KIND NAME, or --all")
			}
			kind, err := model.ParseKind(args[0])
			if err != nil {
				return usageErrorf("%v", err)
			}
			if !slices.Contains(operatorKinds, kind) {
				return usageErrorf("%s objects are written by the replicas, not rolled back", kind)
			}
			ref := model.Ref{Kind: kind, Name: args[1]}
			return a.rollback(cmd.Context(), &ref, to, dryRun, maxOps)
		},
	}
	cmd.Flags().Int64Var(&to, "to-revision", 0, "the etcd revision to go back to (see history)")
	cmd.Flags().BoolVar(&all, "all", false, "every object operators write, not one")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check and print the diff, write nothing")
	cmd.Flags().IntVar(&maxOps, "max-txn-ops", storage.DefaultMaxTxnOps, "etcd's --max-txn-ops: the most operations one transaction may hold")
	return cmd
}

// rollbackPlan is a rollback judged against one read of etcd.
type rollbackPlan struct {
	plan
	to      int64
	skipped []model.Ref // leased endpoints, left to their registrations
}

// planRollback reads the keyspace now and at revision to, and plans the
// writes that bring ref (every operator object if nil) back to revision to.
func (e *etcd) planRollback(ctx context.Context, ref *model.Ref, to int64) (*rollbackPlan, error) {
	rctx, cancel := e.request(ctx)
	defer cancel()
	cur, err := storage.ReadContents(rctx, e.cli, e.ks)
	if err != nil {
		return nil, e.explain(err)
	}
	kinds := operatorKinds
	if ref != nil {
		kinds = []model.Kind{ref.Kind}
	}
	then, err := storage.ReadContentsAt(rctx, e.cli, e.ks, to, kinds...)
	if err != nil {
		return nil, e.explain(err)
	}
	refs := unionRefs(cur, then, kinds)
	if ref != nil {
		if then.Objects[*ref] == nil && cur.Objects[*ref] == nil {
			return nil, fmt.Errorf("%s did not exist at revision %d and does not exist now", ref, to)
		}
		refs = []model.Ref{*ref}
	}
	p := &rollbackPlan{plan: plan{contents: cur}, to: to}
	var docs []manifest.Document
	for _, r := range refs {
		was, is := then.Objects[r], cur.Objects[r]
		if (was != nil && was.Lease != 0) || (is != nil && is.Lease != 0) {
			p.skipped = append(p.skipped, r)
			continue
		}
		var c storage.Change
		switch {
		case was != nil:
			c = storage.PlanPut(cur, r, was.Value)
		case is != nil:
			c, _ = storage.PlanDelete(cur, r) // is != nil: it exists
		default:
			continue
		}
		p.changes = append(p.changes, c)
		if c.Action != storage.Unchanged {
			// A nil value is a deletion in check's overlay.
			docs = append(docs, manifest.Document{Source: manifest.Source{File: fmt.Sprintf("revision %d", to), Index: len(docs) + 1}, Ref: r, Value: c.Value})
		}
	}
	p.report = check.Online(cur, docs)
	p.report.Warnings = slices.DeleteFunc(p.report.Warnings, func(f check.Finding) bool {
		return f.Doc != nil && f.Doc.Value == nil // about an object the rollback deletes
	})
	return p, nil
}

// unionRefs is every object of kinds in either contents, sorted.
func unionRefs(a, b *storage.Contents, kinds []model.Kind) []model.Ref {
	seen := map[model.Ref]bool{}
	var out []model.Ref
	for _, c := range []*storage.Contents{a, b} {
		for _, r := range c.Refs(kinds...) {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(x, y model.Ref) int {
		switch xs, ys := x.String(), y.String(); {
		case xs < ys:
			return -1
		case xs > ys:
			return 1
		}
		return 0
	})
	return out
}

func (a *app) rollback(ctx context.Context, ref *model.Ref, to int64, dryRun bool, maxOps int) error {
	e, err := a.dial()
	if err != nil {
		return err
	}
	defer e.close()
	w, err := e.newWriter(maxOps)
	if err != nil {
		return err
	}
	p, err := e.planRollback(ctx, ref, to)
	if err != nil {
		return err
	}
	for _, r := range p.skipped {
		fmt.Fprintf(a.stderr, "note: %s is registered under a lease; left to its 'endpoint register'\n", r)
	}
	a.printFindings(p.report)
	if !p.report.OK() {
		return fmt.Errorf("rollback refused: %s; nothing written", refusal(p.report, writes(p.changes)))
	}
	if n := len(w.Batches(p.changes)); n > 1 {
		return fmt.Errorf("rollback refused: %d objects to write need %d transactions (--max-txn-ops %d) and a rollback is written in one or not at all; "+
			"raise etcd's --max-txn-ops and this one, or roll back object by object; nothing written", writes(p.changes), n, maxOps)
	}
	if dryRun {
		a.printRollbackDiff(p)
		a.printChanges(p.changes, " (dry run)")
		fmt.Fprintf(a.stdout, "dry run: back to revision %d: %s; nothing written (etcd at revision %d)\n", to, summary(p.changes), p.contents.Revision)
		return nil
	}
	return a.commitRollback(ctx, e, w, p)
}

// printRollbackDiff prints, for every object the rollback writes, the
// unified diff from what etcd holds now to what it held at the revision.
func (a *app) printRollbackDiff(p *rollbackPlan) {
	for _, c := range p.changes {
		if c.Action == storage.Unchanged {
			continue
		}
		var old []byte
		oldName, newName := "/dev/null", "/dev/null"
		if c.Current != nil {
			old, oldName = c.Current.Value, fmt.Sprintf("%s (etcd, revision %d)", c.Ref, c.Current.ModRevision)
		}
		if c.Value != nil {
			newName = fmt.Sprintf("%s (as at revision %d)", c.Ref, p.to)
		}
		fmt.Fprint(a.stdout, valueDiff(c.Ref, oldName, newName, old, c.Value))
	}
}

// commitRollback writes the plan in its one transaction.
func (a *app) commitRollback(ctx context.Context, e *etcd, w *storage.Writer, p *rollbackPlan) error {
	cctx, cancel := e.request(ctx)
	defer cancel()
	res, err := w.Commit(cctx, p.contents.Revision, p.changes)
	var ce *storage.ConflictError
	switch {
	case errors.As(err, &ce):
		return fmt.Errorf("rollback refused: %w; run rollback again to judge the new contents", err)
	case errors.Is(err, rpctypes.ErrNoSpace):
		return errNoSpace("nothing was written")
	case err != nil:
		return e.explain(err)
	}
	a.printChanges(p.changes, "")
	if res.Transactions == 0 {
		fmt.Fprintf(a.stdout, "back to revision %d: %s; nothing written (etcd at revision %d)\n", p.to, summary(p.changes), res.Revision)
		return nil
	}
	fmt.Fprintf(a.stdout, "back to revision %d: %s; etcd at revision %d\n", p.to, summary(p.changes), res.Revision)
	return nil
}
