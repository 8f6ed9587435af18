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
	cmd := &cobra.Command{
		Use:   "diff -f FILE|DIR|-",
		Short: "Show how documents differ from what etcd holds",
		Long: `diff compares each document's spec with the value in etcd, both as YAML,
and prints a unified diff for every object apply would create or
configure. It runs the same checks as apply and reports their findings,
but writes nothing.

A secret's private key is never shown: both sides print it as <redacted>,
and the new side as <redacted, changed> when the key differs.

Exit status: 0 if nothing differs, 1 if something does, 2 on an error or
if apply would refuse the documents.

` + documentsHelp,
		Example: `  chanceryctl diff -f examples/
  chanceryctl diff -f routes.yaml && echo "etcd already matches"`,
		Args: positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.diff(cmd.Context(), ff)
		},
	}
	ff.register(cmd)
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
