package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"sigs.k8s.io/yaml"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

func historyCommand(a *app) *cobra.Command {
	var output string
	var since int64
	cmd := &cobra.Command{
		Use:   "history KIND NAME | --since REV",
		Short: "Show every revision of an object that etcd still holds, or what changed since a revision",
		Long: `history lists the writes etcd's history still holds for one object: the
revision, create, modify or delete, who made it when chanceryctl recorded
that, and a unified diff from the version before.

chanceryctl records who wrote (user, host, command, version, time and
--cause or CHANCERY_CAUSE) in <prefix>/changes/last, in the same
transaction as the objects; a write made with etcdctl or another tool has
no such record and shows as "not recorded".

With --since REV, history lists every object written after revision REV,
object by object. etcd keeps history until it compacts it: a compacted
revision is an error naming the oldest one it still holds.

A secret's private key is never shown: it prints as <redacted>, or
<redacted, changed> where the write changed it.`,
		Example: `  chanceryctl history routetable web
  chanceryctl history routetable web -o yaml
  chanceryctl history --since 1200`,
		Args: positional(cobra.MaximumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			bySince := cmd.Flags().Changed("since")
			switch {
			case bySince && len(args) > 0:
				return usageErrorf("give KIND NAME or --since, not both")
			case bySince && since < 0:
				return usageErrorf("--since %d: want a revision, 0 or more", since)
			case bySince:
				return a.historySince(cmd.Context(), since, output)
			case len(args) != 2:
				return usageErrorf("want KIND NAME, or --since REV")
			}
			kind, err := model.ParseKind(args[0])
			if err != nil {
				return usageErrorf("%v", err)
			}
			return a.historyOf(cmd.Context(), model.Ref{Kind: kind, Name: args[1]}, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, yaml or json")
	cmd.Flags().Int64Var(&since, "since", 0, "every object written after this etcd revision")
	return cmd
}

// historyReport is what history prints: the writes read, object by object.
type historyReport struct {
	From    int64           `json:"from_revision"` // the first revision read
	Head    int64           `json:"head_revision"` // etcd's revision when read
	Objects []objectHistory `json:"objects"`
}

type objectHistory struct {
	Object   string         `json:"object"` // e.g. routes/web
	Versions []versionEntry `json:"versions"`
}

// versionEntry is one write to an object.
type versionEntry struct {
	Revision int64                `json:"revision"`
	Action   storage.EventType    `json:"action"`
	Cause    *storage.ChangeCause `json:"cause,omitempty"` // nil: not recorded
	Spec     any                  `json:"spec,omitempty"`  // the value written; a secret's redacted
	Diff     string               `json:"diff,omitempty"`  // from the version before
}

func (a *app) historyOf(ctx context.Context, ref model.Ref, output string) error {
	e, err := a.dial()
	if err != nil {
		return err
	}
	defer e.close()
	rctx, cancel := e.request(ctx)
	defer cancel()
	win, err := storage.ReadEvents(rctx, e.cli, e.ks.Key(ref), "", 0)
	if err != nil {
		return e.explain(err)
	}
	revs := make([]int64, len(win.Events))
	for i, ev := range win.Events {
		revs[i] = ev.Revision
	}
	causes, err := storage.CausesAt(rctx, e.cli, e.ks, revs)
	if err != nil {
		return e.explain(err)
	}
	rep := &historyReport{From: win.From, Head: win.Head}
	if len(win.Events) > 0 {
		rep.Objects = []objectHistory{historyOfEvents(ref, win.Events, causes)}
	}
	if len(rep.Objects) == 0 && output == "table" {
		return fmt.Errorf("%s: etcd holds no write to it between revisions %d and %d", ref, win.From, win.Head)
	}
	return a.printHistory(rep, output)
}

func (a *app) historySince(ctx context.Context, since int64, output string) error {
	e, err := a.dial()
	if err != nil {
		return err
	}
	defer e.close()
	rctx, cancel := e.request(ctx)
	defer cancel()
	// One read of the whole prefix: etcd scans the revisions once, and
	// the change records come in the same pass.
	win, err := storage.ReadEvents(rctx, e.cli, e.ks.Prefix(), clientv3.GetPrefixRangeEnd(e.ks.Prefix()), since+1)
	if err != nil {
		return e.explain(sinceError(err, since))
	}
	rep := &historyReport{From: win.From, Head: win.Head}
	byRef := map[model.Ref][]storage.Event{}
	causes := map[int64]*storage.ChangeCause{}
	for _, ev := range win.Events {
		if ev.Key == e.ks.ChangesKey() {
			if c, ok := storage.ParseChangeCause(ev.Value); ok && ev.Type != storage.EventDelete {
				causes[ev.Revision] = c
			}
			continue
		}
		if ref, ok := e.ks.Parse(ev.Key); ok && slices.Contains(operatorKinds, ref.Kind) {
			byRef[ref] = append(byRef[ref], ev)
		}
	}
	refs := make([]model.Ref, 0, len(byRef))
	for ref := range byRef {
		refs = append(refs, ref)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	for _, ref := range refs {
		rep.Objects = append(rep.Objects, historyOfEvents(ref, byRef[ref], causes))
	}
	if output == "table" && len(rep.Objects) == 0 {
		fmt.Fprintf(a.stdout, "no object was written after revision %d (etcd at revision %d)\n", since, rep.Head)
		return nil
	}
	return a.printHistory(rep, output)
}

// sinceError names the revision the operator gave, not the one after it
// that the read starts from.
func sinceError(err error, since int64) error {
	if ce, ok := err.(*storage.CompactedError); ok {
		return &storage.CompactedError{Revision: since, Oldest: ce.Oldest}
	}
	return err
}

// historyOfEvents turns one object's writes, oldest first, into versions,
// each with the diff from the version before.
func historyOfEvents(ref model.Ref, events []storage.Event, causes map[int64]*storage.ChangeCause) objectHistory {
	h := objectHistory{Object: ref.String()}
	for _, ev := range events {
		v := versionEntry{Revision: ev.Revision, Action: ev.Type, Cause: causes[ev.Revision]}
		if ev.Value != nil {
			v.Spec = shownSpec(ref, ev.Value)
		}
		v.Diff = versionDiff(ref, ev)
		h.Versions = append(h.Versions, v)
	}
	return h
}

// shownSpec is a value fit to print: a secret's with everything that may
// be secret hidden.
func shownSpec(ref model.Ref, value []byte) any {
	if ref.Kind == model.KindSecret {
		return redactSecret(value, nil)
	}
	return specOf(value)
}

// versionDiff is the unified diff a write made, from the value before it
// (when etcd still holds that) to the value after.
func versionDiff(ref model.Ref, ev storage.Event) string {
	oldName, newName := "/dev/null", "/dev/null"
	if ev.Prev != nil {
		oldName = fmt.Sprintf("%s (revision %d)", ref, ev.PrevRevision)
	} else if ev.Type != storage.EventCreate {
		oldName = fmt.Sprintf("%s (before revision %d: compacted)", ref, ev.Revision)
	}
	if ev.Value != nil {
		newName = fmt.Sprintf("%s (revision %d)", ref, ev.Revision)
	}
	return valueDiff(ref, oldName, newName, ev.Prev, ev.Value)
}

// valueDiff is the unified diff between two values of ref as YAML; a
// secret's redacted on both sides.
func valueDiff(ref model.Ref, oldName, newName string, old, new []byte) string {
	oldLines, newLines := yamlLines(old), yamlLines(new)
	if ref.Kind == model.KindSecret {
		oldLines, newLines = secretLines(old, nil), secretLines(new, old)
	}
	return unifiedDiff(oldName, newName, oldLines, newLines)
}

func (a *app) printHistory(rep *historyReport, output string) error {
	if output != "table" {
		return a.printValue(rep, output)
	}
	for i, h := range rep.Objects {
		if i > 0 {
			fmt.Fprintln(a.stdout)
		}
		fmt.Fprintf(a.stdout, "%s: %s from revision %d to %d\n", model.SafeText(h.Object, model.KeyTextMax), plural(len(h.Versions), "write"), rep.From, rep.Head)
		for _, v := range h.Versions {
			fmt.Fprintf(a.stdout, "revision %d  %s  %s\n", v.Revision, v.Action, describeCause(v.Cause))
			switch {
			case v.Diff != "":
				fmt.Fprint(a.stdout, v.Diff)
			case v.Action == storage.EventModify:
				fmt.Fprintln(a.stdout, "(the same object, rewritten)")
			}
		}
	}
	return nil
}

// describeCause is one line saying who made a write; anyone may write
// the record, so it is made safe.
func describeCause(c *storage.ChangeCause) string {
	if c == nil {
		return "by: not recorded (etcdctl or another tool)"
	}
	s := "by " + orDash(c.By)
	if c.Host != "" {
		s += " on " + c.Host
	}
	if c.Tool != "" {
		s += " with " + c.Tool
		if c.Version != "" {
			s += " " + c.Version
		}
	}
	if !c.At.IsZero() {
		s += " at " + c.At.UTC().Format(time.RFC3339)
	}
	if c.Cause != "" {
		s += ": " + strconv.Quote(c.Cause)
	}
	return model.SafeText(s, model.ReasonTextMax)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// changeCause is what a write of this invocation records about itself.
func (a *app) changeCause() storage.ChangeCause {
	c := storage.ChangeCause{Tool: a.command, Version: version, Cause: a.cause, At: time.Now().UTC()}
	if u, ok := a.env("USER"); ok && u != "" {
		c.By = u
	} else if u, err := user.Current(); err == nil {
		c.By = u.Username
	}
	if h, err := os.Hostname(); err == nil {
		c.Host = h
	}
	return c
}

// newWriter is the writer of every chanceryctl write: compare-and-swap
// transactions that also record the change cause.
func (e *etcd) newWriter(maxOps int) (*storage.Writer, error) {
	w, err := storage.NewWriter(e.cli, e.ks, maxOps)
	if err != nil {
		return nil, usageErrorf("--max-txn-ops: %v", err)
	}
	if err := w.RecordCause(e.a.changeCause()); err != nil {
		return nil, usageErrorf("--max-txn-ops: %v", err)
	}
	return w, nil
}

// printValue prints v as indented JSON or as YAML.
func (a *app) printValue(v any, output string) error {
	if output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode as YAML: %w", err)
	}
	_, err = a.stdout.Write(b)
	return err
}
