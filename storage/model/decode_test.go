package model_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/chancery-xds/chancery/storage/model"
)

func TestDecodeNamesTheField(t *testing.T) {
	route := func(r string) string {
		return `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[` + r + `]}]}`
	}
	cases := []struct {
		ref  model.Ref
		json string
		want string // a substring of the error; "" means valid
	}{
		{svc("web"), `{"protocol":"http"}`, ""},
		{svc("web"), `{"protocol":"http",`, "invalid JSON"},
		{svc("web"), `{"protocol":"http"} {}`, "data after the object"},
		{svc("web"), ``, "empty or truncated"},
		{svc("web"), `{"protocol":"http","lb_polcy":"random"}`, "field lb_polcy: unknown field"},
		{svc("web"), `{"protocol":7}`, "field protocol: want string"},
		{svc("web"), `{}`, "field protocol: required"},
		{svc("web"), `{"protocol":"http","lb_policy":"fastest"}`, `field lb_policy: unknown policy "fastest"`},
		{svc("web"), `{"protocol":"http","connect_timeout":"5 parsecs"}`, "field connect_timeout: want a duration"},
		{svc("web"), `{"protocol":"http","connect_timeout":5}`, "field connect_timeout: want a duration"},
		{svc("web"), `{"protocol":"http","outlier_detection":{"max_ejection_percent":150}}`, "field outlier_detection.max_ejection_percent"},
		{svc("web"), `{"protocol":"tcp","health_check":{"type":"http","path":"/h"}}`, "field health_check.type"},
		{svc("a/b"), `{"protocol":"http"}`, "must not contain '/'"},
		{model.Ref{Kind: model.KindEndpoint, Name: "web/a"}, `{"address":"10.0.0.1","port":80,"zone":"z1","weight":3}`, ""},
		{model.Ref{Kind: model.KindEndpoint, Name: "web"}, `{"address":"10.0.0.1","port":80}`, "want <service>/<id>"},
		{model.Ref{Kind: model.KindEndpoint, Name: "web/a"}, `{"address":"example.com","port":80}`, "field address: want an IP address"},
		{model.Ref{Kind: model.KindEndpoint, Name: "web/a"}, `{"address":"10.0.0.1","port":70000}`, "field port"},
		{model.Ref{Kind: model.KindEndpoint, Name: "web/a"}, `{"address":"10.0.0.1","port":80,"weight":500}`, "field weight"},
		{rt("r"), route(`{"match":{"prefix":"/"},"service":"web","timeout":"2s","retries":{"retry_on":"5xx","num_retries":2}}`), ""},
		{rt("r"), route(`{"match":{"regex":"(unclosed"},"service":"web"}`), "field virtual_hosts[0].routes[0].match.regex: regex does not compile"},
		{rt("r"), route(`{"match":{"prefix":"/","headers":[{"name":"x","regex":"["}]},"service":"web"}`), "match.headers[0].regex"},
		{rt("r"), route(`{"match":{"prefix":"/","path":"/a"},"service":"web"}`), "exactly one of prefix, path, regex"},
		{rt("r"), route(`{"match":{"prefix":"/"},"service":"web","direct_response":{"status":200}}`), "exactly one of service, weighted_services"},
		{rt("r"), route(`{"match":{"prefix":"/"},"weighted_services":[{"service":"a","weight":0},{"service":"b","weight":0}]}`), "weights must add up"},
		{rt("r"), route(`{"match":{"prefix":"/"},"direct_response":{"status":200},"timeout":"1s"}`), "routes[0].timeout: only routes that forward"},
		{rt("r"), route(`{"match":{"path":"/a"},"service":"web","prefix_rewrite":"/b"}`), "prefix_rewrite: needs a prefix match"},
		{rt("r"), `{"virtual_hosts":[{"name":"a","domains":["x.com"],"routes":[{"match":{"prefix":"/"},"service":"s"}]},{"name":"b","domains":["X.com"],"routes":[{"match":{"prefix":"/"},"service":"s"}]}]}`, `domain "X.com" is already in virtual host "a"`},
		{lis("l"), `{"port":8080,"protocol":"http","route_table":"r","groups":["edge"]}`, ""},
		{lis("l"), `{"port":8080,"protocol":"http","groups":["edge"]}`, "field route_table: required"},
		{lis("l"), `{"port":8080,"protocol":"tcp","service":"db","groups":[]}`, "field groups"},
		{lis("l"), `{"port":8080,"protocol":"udp","groups":["g"]}`, "field protocol"},
		{model.Ref{Kind: model.KindHealth, Name: "web/a"}, `{"status":"sick"}`, "field status"},
	}
	for _, c := range cases {
		_, err := model.Decode(c.ref, []byte(c.json))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s %s: unexpected error %v", c.ref, c.json, err)
		case c.want != "" && err == nil:
			t.Errorf("%s %s: no error, want %q", c.ref, c.json, c.want)
		case c.want != "" && !strings.Contains(err.Error(), c.want):
			t.Errorf("%s %s:\n got %v\nwant %q", c.ref, c.json, err, c.want)
		}
	}
}

func TestDecodeReportsEveryProblem(t *testing.T) {
	_, err := model.Decode(lis("l"), []byte(`{"port":0,"protocol":"http","groups":["a","a"]}`))
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *model.FieldError
		if errors.As(e, &fe) {
			fields = append(fields, fe.Field)
		}
	}
	if got, want := strings.Join(fields, ","), "port,route_table,groups[1]"; got != want {
		t.Errorf("fields %s, want %s (error: %v)", got, want, err)
	}
}

func TestRejectionNamesTheKey(t *testing.T) {
	s := model.NewSnapshot(7)
	s.Put(svc("web"), []byte(`{"protocol":"http"}`))
	s.Put(svc("bad"), []byte(`{"protocol":"http","x":1}`))
	if s.Services["web"] == nil || s.Services["bad"] != nil {
		t.Fatalf("services: %v", s.Services)
	}
	if len(s.Rejected) != 1 || s.Rejected[0].Error() != "services/bad: field x: unknown field" {
		t.Errorf("rejected: %v", s.Rejected)
	}
}

func svc(n string) model.Ref { return model.Ref{Kind: model.KindService, Name: n} }
func rt(n string) model.Ref  { return model.Ref{Kind: model.KindRouteTable, Name: n} }
func lis(n string) model.Ref { return model.Ref{Kind: model.KindListener, Name: n} }
