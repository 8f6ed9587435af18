package main

import "time"

// scaleConfig sizes a run.
type scaleConfig struct {
	groups       int // node groups of the fleet
	connectRate  int // clients a fleet starts per second
	services     int // P1, P4, P5 keyspace: services ...
	endpointsPer int // ... with this many endpoints each
	floorWrites  int
	p1Clients    []int
	p1Writes     int
	p2Services   []int
	p2Repeats    int
	p2Changes    int
	p4Clients    int
	p5Clients    int
	p5Rates      []int
	p5Duration   time.Duration
	p6Clusters   []int
}

// scales: small runs in under ten minutes on two shared cores; full is the
// issue's scale; tiny is a smoke test of the harness itself.
var scales = map[string]scaleConfig{
	"tiny": {
		groups: 2, connectRate: 2000, services: 10, endpointsPer: 2,
		floorWrites: 5,
		p1Clients:   []int{1, 20}, p1Writes: 3,
		p2Services: []int{100}, p2Repeats: 1, p2Changes: 2,
		p4Clients: 20,
		p5Clients: 10, p5Rates: []int{50}, p5Duration: 2 * time.Second,
		p6Clusters: []int{20},
	},
	"small": {
		groups: 10, connectRate: 2000, services: 100, endpointsPer: 5,
		floorWrites: 50,
		p1Clients:   []int{1, 100, 1000}, p1Writes: 10,
		p2Services: []int{1000, 10000, 50000}, p2Repeats: 2, p2Changes: 5,
		p4Clients: 1000,
		p5Clients: 200, p5Rates: []int{100, 500, 2000}, p5Duration: 10 * time.Second,
		p6Clusters: []int{1000},
	},
	"full": {
		groups: 10, connectRate: 2000, services: 100, endpointsPer: 5,
		floorWrites: 200,
		p1Clients:   []int{1, 100, 1000, 10000}, p1Writes: 20,
		p2Services: []int{1000, 10000, 50000}, p2Repeats: 5, p2Changes: 20,
		p4Clients: 5000,
		p5Clients: 1000, p5Rates: []int{100, 500, 2000}, p5Duration: 60 * time.Second,
		p6Clusters: []int{1000, 5000, 10000},
	},
}
