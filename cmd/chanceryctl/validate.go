package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chancery-xds/chancery/cmd/chanceryctl/check"
	"github.com/chancery-xds/chancery/cmd/chanceryctl/manifest"
	"github.com/chancery-xds/chancery/translator"
)

func validateCommand(a *app) *cobra.Command {
	var ff fileFlags
	cmd := &cobra.Command{
		Use:   "validate -f FILE|DIR|-",
		Short: "Check documents offline, with the same checks as apply",
		Long: `validate needs no etcd: it checks every document and translates the
documents on their own, exactly as apply and the replicas would, and exits
1 if anything is rejected. Errors name the file, the document and the field.

A reference to an object the files do not define (a route to a service, a
listener to a route table) cannot be checked offline. It is reported as a
warning, not an error: apply checks it against etcd and refuses it there if
the object is missing.

` + documentsHelp,
		Example: `  chanceryctl validate -f examples/
  chanceryctl validate -f routes.yaml -f services.yaml
  chanceryctl get routes -o yaml | chanceryctl validate -f -`,
		Args: positional(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			return a.validate(ff)
		},
	}
	ff.register(cmd)
	return cmd
}

// validate reports every problem of every file in one run: the documents
// that could be read are judged even when others could not.
func (a *app) validate(ff fileFlags) error {
	set := manifest.Read(ff.files, ff.recursive, a.stdin)
	for _, err := range set.Errors {
		fmt.Fprintf(a.stderr, "error: %v\n", err)
	}
	docs := set.Documents
	if len(docs) == 0 && len(set.Errors) == 0 {
		return errors.New("validate: the files hold no documents")
	}
	r := check.Offline(docs)
	a.printFindings(r)
	var problems []string
	if n := len(set.Errors); n > 0 {
		problems = append(problems, plural(n, "problem")+" reading the files")
	}
	if !r.OK() {
		problems = append(problems, fmt.Sprintf("%d of %d documents rejected", len(rejectedDocs(r)), len(docs)))
	}
	if len(problems) > 0 {
		return fmt.Errorf("validate: %s", strings.Join(problems, ", "))
	}
	fmt.Fprintf(a.stdout, "%s valid", plural(len(docs), "document"))
	if n := len(r.Warnings); n > 0 {
		fmt.Fprintf(a.stdout, ", %s", plural(n, "warning"))
	}
	fmt.Fprintln(a.stdout)
	printGroups(a, r.Resources)
	return nil
}

func rejectedDocs(r *check.Report) map[string]bool {
	out := map[string]bool{}
	for _, f := range r.Errors {
		out[f.Ref.String()] = true
	}
	return out
}

// printGroups says what each node group would receive, a quick check that
// listeners select the groups meant.
func printGroups(a *app, res *translator.Resources) {
	groups := make([]string, 0, len(res.Groups))
	for g := range res.Groups {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		gr := res.Groups[g]
		fmt.Fprintf(a.stdout, "group %s: %s, %s, %s\n", g,
			plural(len(gr.Listeners), "listener"), plural(len(gr.Routes), "route table"), plural(len(gr.Clusters), "cluster"))
	}
}
