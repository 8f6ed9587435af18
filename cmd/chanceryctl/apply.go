package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/chancery-xds/chancery/cmd/chanceryctl/check"
	"github.com/chancery-xds/chancery/cmd/chanceryctl/manifest"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

// fileFlags are the -f and -R flags of apply, validate and diff.
type fileFlags struct {
	files     []string
	recursive bool
}

func (f *fileFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&f.files, "filename", "f", nil, "file, directory (its .yaml, .yml and .json files) or - for stdin; repeatable")
	cmd.Flags().BoolVarP(&f.recursive, "recursive", "R", false, "read the subdirectories of directories too")
}

const documentsHelp = `Documents are YAML (several per file, separated by ---) or JSON (an object,
or an array of objects), each with kind, name and spec:

  kind: Service          # Service, Endpoint, RouteTable, Listener or Secret
  name: web              # endpoints are named <service>/<id>
  spec:
    protocol: http

The spec is exactly the value stored in etcd at <prefix>/<kind>/<name>.
A Secret's PEM texts may instead name files, relative to the document's
file, which are read and written inline: certificate_chain_file and
private_key_file in tls_certificate, ca_bundle_file in validation_context.`

func applyCommand(a *app) *cobra.Command {
	var ff fileFlags
	var dryRun bool
	var maxOps int
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Write documents to etcd, after checking them as the replicas will",
		Long: `apply checks every document, and the translation of the keyspace as it
would be after the write, before writing anything. A document the replicas
would reject, a reference to an object that exists neither in etcd nor in
the files, or an object in etcd that the write would break refuses the
whole apply.

All documents are written in one etcd transaction that compares each key's
revision with the one read, so a concurrent writer makes apply fail rather
than be overwritten. Past etcd's operation limit (--max-txn-ops) the write
is split into several transactions, and apply says so.

Each object is reported as created, configured or unchanged; unchanged
objects are not written.

` + documentsHelp,
		Example: `  chanceryctl apply -f examples/
  chanceryctl apply -f routes.yaml --dry-run
  cat web.json | chanceryctl apply -f -`,
		Args: positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if maxOps <= 0 {
				return usageErrorf("--max-txn-ops must be positive")
			}
			return a.apply(cmd.Context(), ff, dryRun, maxOps)
		},
	}
	ff.register(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check and print what would change, write nothing")
	cmd.Flags().IntVar(&maxOps, "max-txn-ops", storage.DefaultMaxTxnOps, "etcd's --max-txn-ops: the most operations one transaction may hold")
	return cmd
}

// readDocuments reads the files and prints every problem with them.
func (a *app) readDocuments(ff fileFlags) ([]manifest.Document, error) {
	set := manifest.Read(ff.files, ff.recursive, a.stdin)
	for _, err := range set.Errors {
		fmt.Fprintf(a.stderr, "error: %v\n", err)
	}
	if n := len(set.Errors); n > 0 {
		return nil, fmt.Errorf("%s in the files", plural(n, "problem"))
	}
	if len(set.Documents) == 0 {
		return nil, errors.New("the files hold no documents")
	}
	return set.Documents, nil
}

// printFindings prints warnings then errors, one line each, made safe: a
// finding about an object already in etcd names its key as etcd holds it.
func (a *app) printFindings(r *check.Report) {
	for _, f := range r.Warnings {
		fmt.Fprintf(a.stderr, "warning: %s\n", finding(f))
	}
	for _, f := range r.Errors {
		fmt.Fprintf(a.stderr, "error: %s\n", finding(f))
	}
	for _, f := range r.Consequences {
		fmt.Fprintf(a.stderr, "note: %s (follows from the errors above)\n", finding(f))
	}
}

func finding(f any) string { return model.SafeText(fmt.Sprint(f), model.ReasonTextMax) }

// refusal summarises why a report stops a write.
func refusal(r *check.Report, docs int) string {
	rejected, broken := map[string]bool{}, map[string]bool{}
	for _, f := range r.Errors {
		if f.Doc != nil {
			rejected[f.Ref.String()] = true
		} else {
			broken[f.Ref.String()] = true
		}
	}
	var parts []string
	if n := len(rejected); n > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d documents rejected", n, docs))
	}
	if n := len(broken); n > 0 {
		parts = append(parts, fmt.Sprintf("%s in etcd would be rejected", plural(n, "object")))
	}
	return strings.Join(parts, ", ")
}

// plan is what a write would do, judged against one read of etcd.
type plan struct {
	contents *storage.Contents
	report   *check.Report
	changes  []storage.Change // in document order
}

// planApply reads the keyspace and judges the documents against it.
func (e *etcd) planApply(ctx context.Context, docs []manifest.Document) (*plan, error) {
	rctx, cancel := e.request(ctx)
	defer cancel()
	cur, err := storage.ReadContents(rctx, e.cli, e.ks)
	if err != nil {
		return nil, e.explain(err)
	}
	docs, err = keepStoredKeys(cur, docs)
	if err != nil {
		return nil, err
	}
	p := &plan{contents: cur, report: check.Online(cur, docs)}
	for _, d := range docs {
		p.changes = append(p.changes, storage.PlanPut(cur, d.Ref, d.Value))
	}
	return p, nil
}

func (a *app) apply(ctx context.Context, ff fileFlags, dryRun bool, maxOps int) error {
	docs, err := a.readDocuments(ff)
	if err != nil {
		return fmt.Errorf("apply refused: %w; nothing written", err)
	}
	return a.applyDocuments(ctx, docs, dryRun, maxOps)
}

// applyDocuments judges documents against etcd and writes them: apply's
// and `secret`'s path.
func (a *app) applyDocuments(ctx context.Context, docs []manifest.Document, dryRun bool, maxOps int) error {
	e, err := a.dial()
	if err != nil {
		return err
	}
	defer e.close()
	w, err := e.newWriter(maxOps)
	if err != nil {
		return err
	}
	p, err := e.planApply(ctx, docs)
	if err != nil {
		return err
	}
	a.printFindings(p.report)
	if !p.report.OK() {
		return fmt.Errorf("apply refused: %s; nothing written", refusal(p.report, len(docs)))
	}
	if dryRun {
		a.printChanges(p.changes, " (dry run)")
		fmt.Fprintf(a.stdout, "dry run: %s; nothing written (etcd at revision %d)\n", summary(p.changes), p.contents.Revision)
		return nil
	}
	return a.commit(ctx, e, w, p, maxOps)
}

func (a *app) commit(ctx context.Context, e *etcd, w *storage.Writer, p *plan, maxOps int) error {
	batches := w.Batches(p.changes)
	if len(batches) > 1 {
		fmt.Fprintf(a.stderr, "note: %d objects to write exceed what one etcd transaction holds (%d operations, --max-txn-ops, and %d KiB); "+
			"writing them in %d transactions, each all-or-nothing: if one fails, the ones before it stay written\n",
			writes(p.changes), maxOps, storage.MaxTxnBytes>>10, len(batches))
	}
	cctx, cancel := context.WithTimeout(ctx, e.a.etcdTimeout*contextScale(len(batches)))
	defer cancel()
	res, err := w.Commit(cctx, p.contents.Revision, p.changes)
	if err != nil {
		if res != nil && res.Transactions > 0 {
			fmt.Fprintln(a.stdout, "stored before the failure:")
			for _, b := range batches[:res.Transactions] {
				a.printChanges(b, "")
			}
		}
		var ce *storage.ConflictError
		if errors.As(err, &ce) {
			return fmt.Errorf("%v; run apply again to judge the new contents", err)
		}
		if errors.Is(err, rpctypes.ErrNoSpace) && res.Transactions == 0 {
			// etcd refuses a write under the alarm before applying any of it.
			return errNoSpace("nothing was written")
		}
		return e.explain(err)
	}
	a.printChanges(p.changes, "")
	if res.Transactions == 0 {
		fmt.Fprintf(a.stdout, "%s; nothing written (etcd at revision %d)\n", summary(p.changes), res.Revision)
		return nil
	}
	fmt.Fprintf(a.stdout, "%s; etcd at revision %d\n", summary(p.changes), res.Revision)
	return nil
}

func (a *app) printChanges(changes []storage.Change, suffix string) {
	for _, c := range changes {
		fmt.Fprintf(a.stdout, "%s %s%s\n", c.Ref, c.Action, suffix)
	}
}

// summary counts changes by action: "2 created, 1 configured, 7 unchanged".
func summary(changes []storage.Change) string {
	counts := map[storage.Action]int{}
	for _, c := range changes {
		counts[c.Action]++
	}
	var parts []string
	for _, act := range []storage.Action{storage.Created, storage.Configured, storage.Unchanged, storage.Deleted} {
		if n := counts[act]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, act))
		}
	}
	if len(parts) == 0 {
		return "nothing to do"
	}
	return strings.Join(parts, ", ")
}

func writes(changes []storage.Change) int {
	n := 0
	for _, c := range changes {
		if c.Action != storage.Unchanged {
			n++
		}
	}
	return n
}

// contextScale gives a write of several transactions a timeout per
// transaction rather than one for all.
func contextScale(batches int) time.Duration {
	return time.Duration(max(batches, 1))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
