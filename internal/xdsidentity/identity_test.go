package xdsidentity

import (
	"crypto/x509"
	"net/url"
	"slices"
	"testing"
)

// Only URI SANs of exactly the form spiffe://<trust domain>/group/<group>,
// with a group a listener can select, allow a group; each group once, in
// the certificate's order.
func TestGroups(t *testing.T) {
	for _, tc := range []struct {
		uris []string
		want []string
	}{
		{[]string{"spiffe://corp/group/web"}, []string{"web"}},
		{[]string{"spiffe://corp/group/web", "spiffe://other.example/group/api", "spiffe://corp/group/web"}, []string{"web", "api"}},
		{[]string{"SPIFFE://corp/group/web"}, []string{"web"}}, // the scheme is case-insensitive
		{[]string{"spiffe://corp/group/edge.eu-1"}, []string{"edge.eu-1"}},
		{[]string{"https://corp/group/web"}, nil},
		{[]string{"spiffe://corp/web"}, nil},
		{[]string{"spiffe://corp/group/"}, nil},
		{[]string{"spiffe://corp/group/web/extra"}, nil},
		{[]string{"spiffe://corp/groups/web"}, nil},
		{[]string{"spiffe://corp/ns/group/web"}, nil},
		{[]string{"spiffe:///group/web"}, nil},
		{[]string{"spiffe://corp:8443/group/web"}, nil},
		{[]string{"spiffe://user@corp/group/web"}, nil},
		{[]string{"spiffe://corp/group/web?x=1"}, nil},
		{[]string{"spiffe://corp/group/web#f"}, nil},
		{[]string{"spiffe://corp/group/w%65b"}, nil},
		{[]string{"spiffe://corp/group/we%2Fb"}, nil},
		{[]string{"spiffe://corp/group/-web"}, nil},
		{[]string{"spiffe://corp/group/web", "https://corp/group/db"}, []string{"web"}},
		{nil, nil},
	} {
		cert := &x509.Certificate{}
		for _, s := range tc.uris {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			cert.URIs = append(cert.URIs, u)
		}
		if got := Groups(cert); !slices.Equal(got, tc.want) {
			t.Errorf("%v: groups %q, want %q", tc.uris, got, tc.want)
		}
	}
	if u := URI("corp", "web"); u != "spiffe://corp/group/web" {
		t.Errorf("URI %q", u)
	}
}
