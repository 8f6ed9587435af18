package translator

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/chancery-xds/chancery/storage/model"
)

// A tcp listener's authorization is its filter chains' source ranges: each
// chain that proxies matches the allowed ranges no deny range holds, and a
// twin that closes matches the deny ranges. Two ranges are nested or
// apart, so every case is one of these.
func TestNetworkAuthorizationChains(t *testing.T) {
	for _, tc := range []struct {
		name, authz string
		want        []string // per chain: "proxy" or "close", with its source ranges
	}{
		{"allow only", `{"allow_cidrs":["10.0.0.0/8"]}`, []string{"proxy 10.0.0.0/8"}},
		{"deny only", `{"deny_cidrs":["10.9.0.0/16"]}`, []string{"proxy", "close 10.9.0.0/16"}},
		{"deny inside allow", `{"allow_cidrs":["10.0.0.0/8"],"deny_cidrs":["10.9.0.0/16"]}`, []string{"proxy 10.0.0.0/8", "close 10.9.0.0/16"}},
		{"allow inside deny", `{"allow_cidrs":["10.1.0.0/16","192.168.0.0/16"],"deny_cidrs":["10.0.0.0/8"]}`, []string{"proxy 192.168.0.0/16", "close 10.0.0.0/8"}},
		{"the same range", `{"allow_cidrs":["10.0.0.0/8"],"deny_cidrs":["10.0.0.0/8"]}`, []string{"close"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := model.NewSnapshot(1)
			s.Put(model.Ref{Kind: model.KindService, Name: "db"}, []byte(`{"protocol":"tcp"}`))
			s.Put(model.Ref{Kind: model.KindListener, Name: "db"}, []byte(`{"port":5432,"protocol":"tcp","service":"db","groups":["g"],"authorization":`+tc.authz+`}`))
			res, err := Translate(s)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ch := range res.Groups["g"].Listeners[0].FilterChains {
				got = append(got, chainSummary(ch))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("chains %q, want %q", got, tc.want)
			}
		})
	}
}

func chainSummary(ch *listenerv3.FilterChain) string {
	what := "close"
	if slices.ContainsFunc(ch.Filters, func(f *listenerv3.Filter) bool { return strings.HasSuffix(f.Name, "tcp_proxy") }) {
		what = "proxy"
	}
	for _, r := range ch.GetFilterChainMatch().GetDirectSourcePrefixRanges() {
		what += fmt.Sprintf(" %s/%d", r.AddressPrefix, r.PrefixLen.GetValue())
	}
	return what
}
