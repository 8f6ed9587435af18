package model_test

import (
	"strings"
	"testing"

	"github.com/chancery-xds/chancery/storage/model"
)

// A service's locality is decoded strictly: every problem is reported
// with its field path and what is wanted.
func TestLocalityValidation(t *testing.T) {
	ref := model.Ref{Kind: model.KindService, Name: "web"}
	svc := func(lb, loc string) string {
		return `{"protocol":"http"` + lb + `,"locality":` + loc + `}`
	}
	cases := []struct {
		json string
		want []string // substrings of the error, in order; none means valid
	}{
		{svc("", `{"failover":"zone"}`), nil},
		{svc(`,"lb_policy":"least_request"`, `{"failover":"zone","min_healthy":2,"zone_weights":[{"zone":"a","weight":3},{"zone":"b","weight":1}]}`), nil},
		{svc(`,"lb_policy":"random"`, `{"failover":"zone","zone_weights":[{"zone":"a","weight":128}]}`), nil},
		{svc("", `{}`), []string{`field locality.failover: required: "zone"`}},
		{svc("", `{"failover":"region"}`), []string{`field locality.failover: unknown mode "region": want "zone"`}},
		{svc("", `{"failover":true}`), []string{"locality.failover"}},
		{svc(`,"lb_policy":"ring_hash"`, `{"failover":"zone"}`), []string{"field locality: zone failover needs lb_policy round_robin, least_request or random"}},
		{svc("", `{"failover":"zone","zone_weights":[{"zone":"a","weight":1},{"zone":"a","weight":2}]}`),
			[]string{`field locality.zone_weights[1].zone: zone "a" is weighted twice (also zone_weights[0])`}},
		{svc("", `{"failover":"zone","zone_weights":[{"weight":1}]}`), []string{"field locality.zone_weights[0].zone: required"}},
		{svc("", `{"failover":"zone","zone_weights":[{"zone":"a/b","weight":1}]}`), []string{"field locality.zone_weights[0].zone: must not contain '/'"}},
		{svc("", `{"failover":"zone","zone_weights":[{"zone":"a"}]}`), []string{"field locality.zone_weights[0].weight: must be 1-128, got 0"}},
		{svc("", `{"failover":"zone","zone_weights":[{"zone":"a","weight":129}]}`), []string{"field locality.zone_weights[0].weight: must be 1-128, got 129"}},
		{svc("", `{"failover":"zone","min_healthy":1001}`), []string{"field locality.min_healthy: must be 1-1000, got 1001"}},
		{svc("", `{"failover":"zone","zone_weights":{"a":1}}`), []string{"locality.zone_weights"}},
		{svc("", `{"failover":"zone","zones":["a"]}`), []string{"zones"}},
		{svc("", `{"failover":"","zone_weights":[{"zone":"","weight":0}]}`),
			[]string{"locality.failover: required", "locality.zone_weights[0].zone: required", "locality.zone_weights[0].weight: must be 1-128"}},
	}
	for _, c := range cases {
		_, err := model.Decode(ref, []byte(c.json))
		if len(c.want) == 0 {
			if err != nil {
				t.Errorf("%s: %v", c.json, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted, want %q", c.json, c.want)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s:\n got %v\nwant %q", c.json, err, w)
			}
		}
	}
}

// Weight is a zone's entry, or 1 for a zone not listed and for a service
// without locality.
func TestLocalityWeight(t *testing.T) {
	l := &model.Locality{Failover: model.FailoverZone, ZoneWeights: []model.ZoneWeight{{Zone: "a", Weight: 5}}}
	var none *model.Locality
	for _, c := range []struct {
		l    *model.Locality
		zone string
		want uint32
	}{{l, "a", 5}, {l, "b", 1}, {l, "", 1}, {none, "a", 1}} {
		if got := c.l.Weight(c.zone); got != c.want {
			t.Errorf("Weight(%q) = %d, want %d", c.zone, got, c.want)
		}
	}
}
