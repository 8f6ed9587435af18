package e2e

import "github.com/chancery-xds/chancery/storage/model"

// localityBases are valid objects holding every locality field: TestBadInputTable
// spoils each field of each in every way it knows.
var localityBases = []badInputBase{
	{model.KindService, `{"protocol":"http","lb_policy":"least_request",
		"locality":{"failover":"zone","min_healthy":2,"zone_weights":[{"zone":"z1","weight":3},{"zone":"z2","weight":1}]}}`},
}

// localityBadCases are the locality values only their own rule refuses (a value of
// the right type that means nothing, a reference to nothing).
func localityBadCases() []badCase {
	svc := func(what, field, json string) badCase {
		return badCase{what: what, kind: model.KindService, field: namesFieldRE(field), value: []byte(json)}
	}
	return []badCase{
		svc("an unknown failover mode", "locality.failover", `{"protocol":"http","locality":{"failover":"region"}}`),
		svc("no failover mode", "locality.failover", `{"protocol":"http","locality":{"zone_weights":[{"zone":"a","weight":2}]}}`),
		svc("locality with ring_hash", "locality", `{"protocol":"http","lb_policy":"ring_hash","locality":{"failover":"zone"}}`),
		svc("a zone weighted twice", "locality.zone_weights[1].zone",
			`{"protocol":"http","locality":{"failover":"zone","zone_weights":[{"zone":"a","weight":2},{"zone":"a","weight":3}]}}`),
		svc("a zone no endpoint can have", "locality.zone_weights[0].zone",
			`{"protocol":"http","locality":{"failover":"zone","zone_weights":[{"zone":"a/b","weight":2}]}}`),
		svc("a zone weight without a zone", "locality.zone_weights[0].zone",
			`{"protocol":"http","locality":{"failover":"zone","zone_weights":[{"weight":2}]}}`),
	}
}
