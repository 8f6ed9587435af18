package model_test

import (
	"strings"
	"testing"

	"github.com/chancery-xds/chancery/storage/model"
)

// TestTLSFieldsNameTheField covers the TLS fields of listeners (https,
// passthrough) and services: every error names its field.
func TestTLSFieldsNameTheField(t *testing.T) {
	https := func(tls string) string {
		return `{"port":8443,"protocol":"https","route_table":"web","groups":["edge"],"tls":{` + tls + `}}`
	}
	pass := func(extra, routes string) string {
		return `{"port":9443,"protocol":"tcp","groups":["edge"]` + extra + `,"tls_passthrough":[` + routes + `]}`
	}
	upstream := func(tls string) string { return `{"protocol":"http","tls":{` + tls + `}}` }
	cases := []struct {
		ref   model.Ref
		json  string
		field string // "" means valid
		want  string // a substring of the error
	}{
		{lis("l"), https(`"certificates":[{"secret":"web","server_names":["web.example.com","*.api.example.com"]},{"secret":"default"}],"client_ca":"clients","min_version":"1.3","alpn":["h2"]`), "", ""},
		{lis("l"), `{"port":8443,"protocol":"https","route_table":"web","groups":["edge"]}`, "tls", "required for an https listener"},
		{lis("l"), `{"port":8443,"protocol":"https","groups":["edge"],"tls":{"certificates":[{"secret":"c"}]}}`, "route_table", "required for an https listener"},
		{lis("l"), `{"port":8080,"protocol":"http","route_table":"web","groups":["edge"],"tls":{"certificates":[{"secret":"c"}]}}`, "tls", "use protocol https"},
		{lis("l"), https(`"certificates":[]`), "tls.certificates", "at least one certificate"},
		{lis("l"), https(`"certificates":[{"secret":""}]`), "tls.certificates[0].secret", "required"},
		{lis("l"), https(`"certificates":[{"secret":"bad/name"}]`), "tls.certificates[0].secret", "not a valid secret name"},
		{lis("l"), https(`"certificates":[{"secret":"a"},{"secret":"b"}]`), "tls.certificates[1].server_names", "only one may be the default"},
		{lis("l"), https(`"certificates":[{"secret":"a","server_names":["Web.Example.com"]}]`), "tls.certificates[0].server_names[0]", "not a server name"},
		{lis("l"), https(`"certificates":[{"secret":"a","server_names":["w.example.com"]},{"secret":"b","server_names":["w.example.com"]}]`), "tls.certificates[1].server_names[0]", "given twice"},
		{lis("l"), https(`"certificates":[{"secret":"a"}],"client_ca":"-x"`), "tls.client_ca", "not a valid secret name"},
		{lis("l"), https(`"certificates":[{"secret":"a"}],"min_version":"1.1"`), "tls.min_version", `unknown TLS version "1.1"`},
		{lis("l"), https(`"certificates":[{"secret":"a"}],"alpn":["h3"]`), "tls.alpn[0]", `unknown protocol "h3"`},
		{lis("l"), https(`"certificates":[{"secret":"a"}],"alpn":["h2","h2"]`), "tls.alpn[1]", "duplicate protocol"},
		{lis("l"), https(`"certificates":[{"secret":"a"}],"ciphers":["x"]`), "tls.ciphers", "unknown field"},
		{lis("l"), `{"port":8443,"protocol":"https","route_table":"web","groups":["edge"],"tls":{"certificates":[{"secret":"a"}]},"tls_passthrough":[{"server_names":["a.example.com"],"service":"db"}]}`,
			"tls_passthrough", "is for tcp listeners"},

		{lis("l"), pass("", `{"server_names":["db.example.com"],"service":"db"}`), "", ""},
		{lis("l"), pass(`,"service":"fallback"`, `{"server_names":["db.example.com","*.db.example.com"],"service":"db"}`), "", ""},
		{lis("l"), pass("", `{"server_names":[],"service":"db"}`), "tls_passthrough[0].server_names", "at least one server name"},
		{lis("l"), pass("", `{"server_names":["db.example.com"]}`), "tls_passthrough[0].service", "required"},
		{lis("l"), pass("", `{"server_names":["db.example.com"],"service":"no such"}`), "tls_passthrough[0].service", "not a valid service name"},
		{lis("l"), pass("", `{"server_names":["db..example.com"],"service":"db"}`), "tls_passthrough[0].server_names[0]", "not a server name"},
		{lis("l"), pass("", `{"server_names":["db.example.com"],"service":"a"},{"server_names":["db.example.com"],"service":"b"}`), "tls_passthrough[1].server_names[0]", "given twice"},
		{lis("l"), `{"port":9443,"protocol":"tcp","groups":["edge"]}`, "service", "required for a tcp listener without tls_passthrough"},
		{lis("l"), `{"port":9443,"protocol":"tcp","service":"db","groups":["edge"],"tls":{"certificates":[{"secret":"a"}]}}`, "tls", "does not terminate TLS"},

		{svc("s"), upstream(`"ca":"ca","sni":"web.internal","client_certificate":"me","subject_alt_names":["spiffe://corp/web"]`), "", ""},
		{svc("s"), upstream(`"sni":"web.internal"`), "tls.ca", "required"},
		{svc("s"), upstream(`"ca":"bad name"`), "tls.ca", "not a valid secret name"},
		{svc("s"), upstream(`"ca":"ca","sni":"*.internal"`), "tls.sni", "not a server name"},
		{svc("s"), upstream(`"ca":"ca","client_certificate":"/x"`), "tls.client_certificate", "not a valid secret name"},
		{svc("s"), upstream(`"ca":"ca","subject_alt_names":["a",""]`), "tls.subject_alt_names[1]", "must not be empty"},
		{svc("s"), upstream(`"ca":"ca","subject_alt_names":["a","a"]`), "tls.subject_alt_names[1]", "duplicate"},
		{svc("s"), upstream(`"ca":"ca","verify":false`), "tls.verify", "unknown field"},
	}
	for _, c := range cases {
		_, err := model.Decode(c.ref, []byte(c.json))
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: rejected: %v", c.json, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted, want an error at %s", c.json, c.field)
			continue
		}
		if !strings.Contains(err.Error(), "field "+c.field+": ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant field %s: ...%s...", c.json, err, c.field, c.want)
		}
	}
}
