package main

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

// redactedChanged is what diff shows for a hidden field whose value the
// change replaces: that it changed, never what it holds.
const redactedChanged = "<redacted, changed>"

// secretSpec is a Secret's value fit to show: Redacted() of a secret that
// decodes; otherwise the value with everything that may be secret hidden
// (see redactSecret), since a value the model rejects can still hold a key.
func secretSpec(obj model.Object, value []byte) any {
	if s, ok := obj.(*model.Secret); ok {
		return s.Redacted()
	}
	return redactSecret(value, nil)
}

// redactSecret is a Secret's stored value with everything hidden but the
// certificates and the subject alternative names: the private key, any
// field of no known name, text in a PEM field that is not a certificate,
// and a value that is not a JSON object. A hidden field shows as
// model.Redacted or, where before is given and held something else
// there, as redactedChanged.
func redactSecret(value, before []byte) any {
	r := redactor{}
	if before != nil {
		r.before, r.compare = decodeAny(before), true
	}
	top, ok := decodeAny(value).(map[string]any)
	if !ok {
		return r.hide(decodeAny(value))
	}
	out := make(map[string]any, len(top))
	for k, v := range top {
		switch k {
		case model.SecretTLSCertificate:
			out[k] = r.object(v, k, map[string]func(any) (any, bool){"certificate_chain": certificatesOnly})
		case model.SecretValidationContext:
			out[k] = r.object(v, k, map[string]func(any) (any, bool){"ca_bundle": certificatesOnly, "subject_alt_names": namesOnly})
		default:
			out[k] = r.hide(v, k)
		}
	}
	return out
}

// redactor hides values, comparing each with what before held there.
type redactor struct {
	before  any
	compare bool
}

// object shows the fields of obj that show can show; it hides the rest.
func (r redactor) object(obj any, name string, show map[string]func(any) (any, bool)) any {
	m, ok := obj.(map[string]any)
	if !ok {
		return r.hide(obj, name)
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if f := show[k]; f != nil {
			if shown, ok := f(v); ok {
				out[k] = shown
				continue
			}
		}
		if s, ok := v.(string); ok && s == "" {
			out[k] = "" // an empty key shows as missing, which it is
			continue
		}
		out[k] = r.hide(v, name, k)
	}
	return out
}

// hide is the placeholder for v, the value at path.
func (r redactor) hide(v any, path ...string) string {
	if !r.compare {
		return model.Redacted
	}
	old := r.before
	for _, k := range path {
		m, ok := old.(map[string]any)
		if !ok {
			return redactedChanged
		}
		if old, ok = m[k]; !ok {
			return redactedChanged
		}
	}
	if !reflect.DeepEqual(old, v) {
		return redactedChanged
	}
	return model.Redacted
}

// certificatesOnly shows a PEM text's CERTIFICATE blocks, and in place of
// anything else in it (a key pasted into a chain, a block that does not
// parse, text around the blocks) one line of model.Redacted.
func certificatesOnly(v any) (any, bool) {
	s, ok := v.(string)
	if !ok {
		return nil, false
	}
	var out bytes.Buffer
	hidden := false
	rest := []byte(s)
	for {
		trimmed := bytes.TrimLeft(rest, " \t\r\n")
		if len(trimmed) == 0 {
			break
		}
		b, next := pem.Decode(trimmed)
		// pem.Decode skips what comes before the block it returns.
		if b == nil || b.Type != "CERTIFICATE" || !bytes.HasPrefix(trimmed, []byte("-----BEGIN CERTIFICATE-----")) ||
			bytes.Count(trimmed[:len(trimmed)-len(next)], []byte("-----BEGIN")) > 1 {
			hidden = true
			if b == nil {
				break
			}
		} else {
			out.Write(pem.EncodeToMemory(b))
		}
		rest = next
	}
	if !hidden {
		return s, true
	}
	out.WriteString(model.Redacted + "\n")
	return out.String(), true
}

// namesOnly shows a list of names as it is.
func namesOnly(v any) (any, bool) {
	l, ok := v.([]any)
	if !ok {
		return nil, false
	}
	for _, n := range l {
		if _, ok := n.(string); !ok {
			return nil, false
		}
	}
	return l, true
}

// decodeAny decodes JSON, numbers as written; nil if it is not JSON.
func decodeAny(value []byte) any {
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil
	}
	return v
}

// secretDetail describes a secret for get's table: its type, when its
// first certificate expires (EXPIRED when past) and the names of the leaf
// certificate, or the subjects of the CAs and the names a peer must carry.
func secretDetail(s *model.Secret, now time.Time) string {
	expiry := "expires " + s.NotAfter().UTC().Format(time.RFC3339)
	if !s.NotAfter().After(now) {
		expiry = "EXPIRED " + s.NotAfter().UTC().Format(time.RFC3339)
	}
	if c := s.TLSCertificate; c != nil {
		certs := pemCertificates(c.CertificateChain)
		names := "-"
		if len(certs) > 0 {
			names = strings.Join(certificateNames(certs[0]), ",")
		}
		return fmt.Sprintf("%s, %s, names %s", model.SecretTLSCertificate, expiry, names)
	}
	vc := s.ValidationContext
	certs := pemCertificates(vc.CABundle)
	subjects := make([]string, len(certs))
	for i, c := range certs {
		subjects[i] = c.Subject.CommonName
	}
	d := fmt.Sprintf("%s, %s, %s (%s)", model.SecretValidationContext, expiry, plural(len(certs), "CA"), strings.Join(subjects, ","))
	if len(vc.SubjectAltNames) > 0 {
		d += ", peer names " + strings.Join(vc.SubjectAltNames, ",")
	}
	return d
}

// certificateNames are a certificate's subject alternative names, or its
// common name when it has none.
func certificateNames(c *x509.Certificate) []string {
	names := append([]string(nil), c.DNSNames...)
	for _, u := range c.URIs {
		names = append(names, u.String())
	}
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	names = append(names, c.EmailAddresses...)
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = []string{"CN=" + c.Subject.CommonName}
	}
	return names
}

// pemCertificates parses the CERTIFICATE blocks of a PEM text the model
// accepted.
func pemCertificates(text string) []*x509.Certificate {
	var out []*x509.Certificate
	rest := []byte(text)
	for {
		b, next := pem.Decode(rest)
		if b == nil {
			return out
		}
		rest = next
		if b.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

// printSecretExpiry lists, from the status records (kvs; those of secrets
// start with prefix), when each accepted secret's first certificate
// expires, soonest first.
func printSecretExpiry(w io.Writer, kvs []*mvccpb.KeyValue, prefix string, now time.Time) {
	type row struct {
		name string
		at   time.Time
	}
	var rows []row
	for _, kv := range kvs {
		name, ok := strings.CutPrefix(string(kv.Key), prefix)
		var st storage.ObjectStatus
		if !ok || json.Unmarshal(kv.Value, &st) != nil || st.State != storage.StatusAccepted || st.NotAfter.IsZero() {
			continue
		}
		rows = append(rows, row{model.SafeText(name, model.KeyTextMax), st.NotAfter})
	}
	if len(rows) == 0 {
		return
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].at.Before(rows[j].at) })
	fmt.Fprintln(w, "\nSECRET\tEXPIRES\t")
	for _, r := range rows {
		state := ""
		if !r.at.After(now) {
			state = "EXPIRED"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", r.name, r.at.UTC().Format(time.RFC3339), state)
	}
}
