package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/translator"
)

func getCommand(a *app) *cobra.Command {
	var output string
	var revision int64
	cmd := &cobra.Command{
		Use:   "get KIND [NAME]",
		Short: "Show objects and whether Chancery accepts them",
		Long: `get lists the objects of one kind (service, endpoint, routetable, listener,
secret, health, or all) and says for each whether Chancery accepts it. The verdict
comes from running the replicas' own translator over the keyspace as etcd
holds it now, so it is what every replica concludes: Rejected means the
object is not served, or served only in part (a route to a missing service
answers 503), with the reason.

For endpoints, NAME may be a service: its endpoints are listed.
--revision R shows the keyspace as etcd held it at revision R instead, if
etcd still holds that revision (see history).
-o yaml and -o json print documents that apply accepts again (status is
output only and ignored by apply).

A secret's private key is never shown: it prints as <redacted>, which apply
reads as "keep the key etcd holds". The table shows a secret's type, when
its first certificate expires (EXPIRED once past) and the names of its leaf
certificate, or the CAs of a bundle.`,
		Example: `  chanceryctl get services
  chanceryctl get routetable edge -o yaml
  chanceryctl get endpoints web
  chanceryctl get secrets
  chanceryctl get all -o json > backup.json
  chanceryctl get routetable edge --revision 1234 -o yaml`,
		Args: positional(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			kinds, err := parseKinds(args[0])
			if err != nil {
				return usageErrorf("%v", err)
			}
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			if revision < 0 {
				return usageErrorf("--revision %d: want a revision, 1 or more", revision)
			}
			return a.get(cmd.Context(), kinds, name, output, revision)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, yaml or json")
	cmd.Flags().Int64Var(&revision, "revision", 0, "show the keyspace as etcd held it at this revision, judged as the replicas judged it then (0: now)")
	return cmd
}

// operatorKinds are the kinds "all" means: what operators write.
var operatorKinds = []model.Kind{model.KindService, model.KindEndpoint, model.KindRouteTable, model.KindListener, model.KindSecret,
	model.KindJWTProvider, model.KindPatch}

func parseKinds(s string) ([]model.Kind, error) {
	if strings.EqualFold(s, "all") {
		return operatorKinds, nil
	}
	k, err := model.ParseKind(s)
	if err != nil {
		return nil, err
	}
	return []model.Kind{k}, nil
}

// objectView is one stored object with Chancery's verdict on it.
type objectView struct {
	stored   *storage.Stored
	obj      model.Object // nil if the value does not decode
	rejected error        // nil if accepted
}

func (a *app) get(ctx context.Context, kinds []model.Kind, name, output string, revision int64) error {
	e, err := a.dial()
	if err != nil {
		return err
	}
	defer e.close()
	views, ignored, err := e.viewsAt(ctx, revision)
	if err != nil {
		return err
	}
	var sel []objectView
	for _, v := range views {
		if slices.Contains(kinds, v.stored.Ref.Kind) && matchesName(v.stored.Ref, name) {
			sel = append(sel, v)
		}
	}
	if name != "" && len(sel) == 0 {
		return fmt.Errorf("%s %q not found", strings.ToLower(string(kinds[0])), name)
	}
	single := name != "" && len(sel) == 1 && sel[0].stored.Ref.Name == name
	if err := a.printViews(sel, output, len(kinds) > 1, single); err != nil {
		return err
	}
	if len(kinds) > 1 && name == "" {
		return a.printIgnored(ignored, output)
	}
	return nil
}

// printIgnored lists the keys Chancery serves nothing from: after the
// table, or on stderr beside YAML and JSON, which stay documents apply
// reads.
func (a *app) printIgnored(ignored []model.Ignored, output string) error {
	if len(ignored) == 0 {
		return nil
	}
	if output != "table" {
		for _, i := range ignored {
			fmt.Fprintf(a.stderr, "ignored: %s: %s\n", model.SafeText(i.Key, model.KeyTextMax), model.SafeText(i.Reason, model.ReasonTextMax))
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nIGNORED KEY\tREASON")
	for _, i := range ignored {
		fmt.Fprintf(tw, "%s\t%s\n", model.SafeText(i.Key, model.KeyTextMax), model.SafeText(i.Reason, model.ReasonTextMax))
	}
	return tw.Flush()
}

// views reads the whole keyspace (the verdict on one object can depend on
// any other) and judges every object with the translator.
func (e *etcd) views(ctx context.Context) ([]objectView, []model.Ignored, error) {
	return e.viewsAt(ctx, 0)
}

// viewsAt is views of the keyspace as etcd held it at revision rev (0: now).
func (e *etcd) viewsAt(ctx context.Context, rev int64) ([]objectView, []model.Ignored, error) {
	rctx, cancel := e.request(ctx)
	defer cancel()
	cur, err := e.readContents(rctx, rev)
	if err != nil {
		return nil, nil, e.explain(err)
	}
	// The joined error repeats res.Rejected, which is what is used.
	res, _ := translator.Translate(cur.Snapshot())
	rejected := map[model.Ref]error{}
	for _, r := range res.Rejected {
		if _, dup := rejected[r.Ref]; !dup {
			rejected[r.Ref] = errors.New(r.Reason())
		}
	}
	var out []objectView
	for _, ref := range cur.Refs() {
		st := cur.Objects[ref]
		// A value that does not decode is rejected, with the reason, above.
		obj, err := model.Decode(ref, st.Value)
		if err != nil {
			obj = nil
		}
		out = append(out, objectView{stored: st, obj: obj, rejected: rejected[ref]})
	}
	return out, res.Ignored, nil
}

// readContents reads every kind now (rev 0) or at revision rev.
func (e *etcd) readContents(ctx context.Context, rev int64, kinds ...model.Kind) (*storage.Contents, error) {
	if rev == 0 {
		return storage.ReadContents(ctx, e.cli, e.ks, kinds...)
	}
	return storage.ReadContentsAt(ctx, e.cli, e.ks, rev, kinds...)
}

// matchesName selects by exact name; for endpoints and health, a service
// name selects all of its endpoints.
func matchesName(ref model.Ref, name string) bool {
	if name == "" || ref.Name == name {
		return true
	}
	return ref.Kind.NameParts() == 2 && !strings.Contains(name, "/") && strings.HasPrefix(ref.Name, name+"/")
}

func checkOutput(o string) error {
	switch o {
	case "table", "yaml", "json":
		return nil
	}
	return usageErrorf("--output %q: want table, yaml or json", o)
}
