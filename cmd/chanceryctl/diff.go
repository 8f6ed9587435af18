package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

func diffCommand(a *app) *cobra.Command {
	var ff fileFlags
	var revision int64
	cmd := &cobra.Command{
		Use:   "diff -f FILE|DIR|- | --revision R",
		Short: "Show how documents differ from what etcd holds",
		Long: `diff compares each document's spec with the value in etcd, both as YAML,
and prints a unified diff for every object apply would create or
configure. It runs the same checks as apply and reports their findings,
but writes nothing.

A secret's private key is never shown: both sides print it as <redacted>,
and the new side as <redacted, changed> when the key differs.

With --revision R instead of files, diff compares the keyspace as etcd
held it at revision R with what it holds now, object by object (the kinds
operators write), R on the old side.

Exit status: 0 if nothing differs, 1 if something does, 2 on an error or
if apply would refuse the documents.

` + documentsHelp,
		Example: `  chanceryctl diff -f examples/
  chanceryctl diff -f routes.yaml && echo "etcd already matches"
  chanceryctl diff --revision 1234`,
		Args: positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case cmd.Flags().Changed("revision") && len(ff.files) > 0:
				return usageErrorf("give -f or --revision, not both")
			case cmd.Flags().Changed("revision") && revision <= 0:
				return usageErrorf("--revision %d: want a revision, 1 or more", revision)
			case cmd.Flags().Changed("revision"):
				return a.diffRevision(cmd.Context(), revision)
			}
			return a.diff(cmd.Context(), ff)
		},
	}
	ff.register(cmd)
	cmd.Flags().Int64Var(&revision, "revision", 0, "compare the keyspace at this etcd revision with now, instead of files")
	return cmd
}

func (a *app) diff(ctx context.Context, ff fileFlags) error {
	fail := func(err error) error { return &exitError{code: exitUsage, err: err} }
	docs, err := a.readDocuments(ff)
	if err != nil {
		return fail(fmt.Errorf("diff: %w", err))
	}
	e, err := a.dial()
	if err != nil {
		return fail(err)
	}
	defer e.close()
	p, err := e.planApply(ctx, docs)
	if err != nil {
		return fail(err)
	}
	differs := false
	for i, c := range p.changes {
		if c.Action == storage.Unchanged {
			continue
		}
		differs = true
		var old []byte
		oldName := "/dev/null"
		if c.Current != nil {
			old, oldName = c.Current.Value, fmt.Sprintf("%s (etcd, revision %d)", c.Ref, c.Current.ModRevision)
		}
		newName := fmt.Sprintf("%s (%s, document %d)", c.Ref, docs[i].Source.File, docs[i].Source.Index)
		oldLines, newLines := yamlLines(old), yamlLines(c.Value)
		if c.Ref.Kind == model.KindSecret {
			oldLines, newLines = secretLines(old, nil), secretLines(c.Value, old)
		}
		fmt.Fprint(a.stdout, unifiedDiff(oldName, newName, oldLines, newLines))
	}
	a.printFindings(p.report)
	switch {
	case !p.report.OK():
		return fail(fmt.Errorf("apply would refuse these documents: %s", refusal(p.report, len(docs))))
	case differs:
		return &exitError{code: exitFailure}
	}
	return nil
}

// secretLines renders a Secret's value as yamlLines does, redacted: a
// private key shows as <redacted>, and as <redacted, changed> on the new
// side when it differs from before's.
func secretLines(value, before []byte) []string {
	if value == nil {
		return nil
	}
	b, err := json.Marshal(redactSecret(value, before))
	if err != nil {
		return []string{model.Redacted}
	}
	return yamlLines(b)
}

// yamlLines renders a stored value as YAML lines for comparison; a value
// that is not JSON is compared as its raw text.
func yamlLines(value []byte) []string {
	if value == nil {
		return nil
	}
	y, err := yaml.JSONToYAML(value)
	if err != nil {
		y = value
	}
	return splitLines(string(y))
}

// diffRevision prints how the objects operators write differ between
// revision rev and now.
func (a *app) diffRevision(ctx context.Context, rev int64) error {
	fail := func(err error) error { return &exitError{code: exitUsage, err: err} }
	e, err := a.dial()
	if err != nil {
		return fail(err)
	}
	defer e.close()
	rctx, cancel := e.request(ctx)
	defer cancel()
	then, err := storage.ReadContentsAt(rctx, e.cli, e.ks, rev, operatorKinds...)
	if err != nil {
		return fail(e.explain(err))
	}
	now, err := storage.ReadContents(rctx, e.cli, e.ks, operatorKinds...)
	if err != nil {
		return fail(e.explain(err))
	}
	differs := false
	for _, ref := range unionRefs(then, now, operatorKinds) {
		was, is := then.Objects[ref], now.Objects[ref]
		var old, cur []byte
		oldName, newName := "/dev/null", "/dev/null"
		if was != nil {
			old, oldName = was.Value, fmt.Sprintf("%s (revision %d)", ref, rev)
		}
		if is != nil {
			cur, newName = is.Value, fmt.Sprintf("%s (etcd, revision %d)", ref, now.Revision)
		}
		if was != nil && is != nil && storage.SameObject(ref, old, cur) {
			continue
		}
		if d := valueDiff(ref, oldName, newName, old, cur); d != "" {
			differs = true
			fmt.Fprint(a.stdout, d)
		}
	}
	if differs {
		return &exitError{code: exitFailure}
	}
	return nil
}
