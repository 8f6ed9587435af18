package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/chancery-xds/chancery/storage/model"
)

// document is how get prints an object: the form apply reads, plus status.
type document struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Spec   any    `json:"spec"`
	Status status `json:"status"`
}

// status is output only: apply ignores it.
type status struct {
	Accepted bool   `json:"accepted"`
	Reason   string `json:"reason,omitempty"`
	Lease    string `json:"lease,omitempty"` // hex lease ID of a registered endpoint
}

func (a *app) printViews(views []objectView, output string, allKinds, single bool) error {
	switch output {
	case "yaml", "json":
		docs := make([]document, len(views))
		for i, v := range views {
			docs[i] = documentOf(v)
		}
		return a.printDocuments(docs, output, single)
	}
	if len(views) == 0 {
		fmt.Fprintln(a.stderr, "no objects found")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tDETAIL\tREASON")
	for _, v := range views {
		name := v.stored.Ref.Name
		if allKinds {
			name = v.stored.Ref.String()
		}
		// Whatever etcd holds reaches a terminal only made safe: a key is
		// any bytes, and a decoded value may hold control characters.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", model.SafeText(name, model.KeyTextMax), verdict(v),
			model.SafeText(detail(v), model.ReasonTextMax), reason(v))
	}
	return tw.Flush()
}

func verdict(v objectView) string {
	if v.rejected != nil {
		return "Rejected"
	}
	return "Accepted"
}

func reason(v objectView) string {
	if v.rejected == nil {
		return "-"
	}
	return model.SafeText(oneLine(v.rejected.Error()), model.ReasonTextMax)
}

func documentOf(v objectView) document {
	ref := v.stored.Ref
	// A valid name is kept as it is, so that apply reads the document
	// back; an invalid one, which apply refuses anyway, is shown escaped
	// rather than with its bad bytes replaced.
	d := document{Kind: string(ref.Kind), Name: model.SafeText(ref.Name, model.KeyTextMax), Spec: specOf(v.stored.Value), Status: status{Accepted: v.rejected == nil}}
	if ref.Kind == model.KindSecret {
		d.Spec = secretSpec(v.obj, v.stored.Value) // never a private key
	}
	if v.rejected != nil {
		d.Status.Reason = model.SafeText(v.rejected.Error(), model.ReasonTextMax)
	}
	if v.stored.Lease != 0 {
		d.Status.Lease = fmt.Sprintf("%x", v.stored.Lease)
	}
	return d
}

// specOf is the stored value as JSON, numbers as written; a value that is
// not JSON is shown as the string it is.
func specOf(value []byte) any {
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return string(value)
	}
	return v
}

// printDocuments prints one document, or a list: YAML documents separated
// by ---, or a JSON array.
func (a *app) printDocuments(docs []document, output string, single bool) error {
	if output == "json" {
		var v any = docs
		if single {
			v = docs[0]
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	for i, d := range docs {
		b, err := yaml.Marshal(d)
		if err != nil {
			return fmt.Errorf("encode %s/%s as YAML: %w", d.Kind, d.Name, err)
		}
		if i > 0 {
			fmt.Fprintln(a.stdout, "---")
		}
		if _, err := a.stdout.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// detail is a short description of an object for the table.
func detail(v objectView) string {
	switch o := v.obj.(type) {
	case *model.Service:
		return joinNonEmpty(o.Protocol, o.LBPolicy)
	case *model.Endpoint:
		s := fmt.Sprintf("%s port %d", o.Address, o.Port)
		if o.Zone != "" {
			s += " zone " + o.Zone
		}
		if o.Weight != 0 {
			s += fmt.Sprintf(" weight %d", o.Weight)
		}
		if v.stored.Lease != 0 {
			s += " (leased)"
		}
		return s
	case *model.RouteTable:
		routes := 0
		for _, vh := range o.VirtualHosts {
			routes += len(vh.Routes)
		}
		return fmt.Sprintf("%s, %s", plural(len(o.VirtualHosts), "virtual host"), plural(routes, "route"))
	case *model.Listener:
		target := o.RouteTable
		if o.Protocol == model.ListenerTCP {
			target = o.Service
		}
		return fmt.Sprintf("%s %s port %d -> %s, groups %s", o.Protocol, o.BindAddress(), o.Port, target, strings.Join(o.Groups, ","))
	case *model.Health:
		return joinNonEmpty(o.Status, o.Reason)
	case *model.Secret:
		return secretDetail(o, time.Now())
	}
	return "-"
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, " ")
}
