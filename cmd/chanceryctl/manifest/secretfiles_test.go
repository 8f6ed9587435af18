package manifest

import (
	"path/filepath"
	"strings"
	"testing"
)

// A Secret's *_file fields are read relative to the document's file and
// written inline; each problem names the document and the field, never
// what a file holds.
func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "pem/chain.pem", "CHAIN-TEXT\n")
	write(t, dir, "pem/key.pem", "KEY-TEXT\n")
	write(t, dir, "pem/ca.pem", "CA-TEXT\n")
	write(t, dir, "pem/binary.der", "\x30\x82\xff\xfe")
	secret := func(tc string) string { return "kind: Secret\nname: s\nspec:\n  " + tc + "\n" }
	cases := []struct{ doc, value, err string }{
		{secret("tls_certificate: {certificate_chain_file: pem/chain.pem, private_key_file: pem/key.pem}"),
			`{"tls_certificate":{"certificate_chain":"CHAIN-TEXT\n","private_key":"KEY-TEXT\n"}}`, ""},
		{secret("validation_context: {ca_bundle_file: pem/ca.pem, subject_alt_names: [a]}"),
			`{"validation_context":{"ca_bundle":"CA-TEXT\n","subject_alt_names":["a"]}}`, ""},
		{secret("tls_certificate: {certificate_chain: inline, private_key_file: " + filepath.Join(dir, "pem/key.pem") + "}"),
			`{"tls_certificate":{"certificate_chain":"inline","private_key":"KEY-TEXT\n"}}`, ""},
		{secret("tls_certificate: {certificate_chain: x, private_key: k}"), `{"tls_certificate":{"certificate_chain":"x","private_key":"k"}}`, ""},
		{secret("tls_certificate: {private_key: k, private_key_file: pem/key.pem}"), "",
			"(secrets/s, line 1): field tls_certificate.private_key_file (line 4): give private_key or private_key_file, not both"},
		{secret("tls_certificate: {private_key_file: 7}"), "", "field tls_certificate.private_key_file (line 4): want the path of a PEM file"},
		{secret("tls_certificate: {private_key_file: pem/none.pem}"), "",
			"field tls_certificate.private_key_file (line 4): read " + filepath.Join(dir, "pem/none.pem") + ": no such file or directory"},
		{secret("validation_context: {ca_bundle_file: pem/binary.der}"), "", "field validation_context.ca_bundle_file (line 4): " + filepath.Join(dir, "pem/binary.der") + ": not text: want PEM"},
	}
	for _, c := range cases {
		file := write(t, dir, "s.yaml", c.doc)
		set := Read([]string{file}, false, nil)
		if c.err != "" {
			if err := set.Err(); err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.doc, err, c.err)
			}
			continue
		}
		if err := set.Err(); err != nil || len(set.Documents) != 1 || string(set.Documents[0].Value) != c.value {
			t.Errorf("%s: %v %v, want %s", c.doc, err, set.Documents, c.value)
		}
	}
}
