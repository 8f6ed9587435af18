// Package benchapi is what the benchmark driver and the simulated fleet say
// to each other over the fleet's small HTTP API, and the latency histogram
// both use.
package benchapi

// Write is one etcd write the driver made. Seq is carried in the written
// endpoint's metadata (workload.MarkerKey), so a client recognises the
// change by its content.
type Write struct {
	Seq   uint64 `json:"seq"`
	Key   string `json:"key"`    // "<cluster>/<endpoint id>", as a client sees it
	PutNs int64  `json:"put_ns"` // wall clock (Unix ns) when etcd's Put returned
	// Raw keeps every client's latency of this write, not only the
	// histogram, and so who holds it: for the few writes whose
	// distribution is plotted or whose arrival a run waits for.
	Raw bool `json:"raw,omitempty"`
}

// Status is how far the fleet's clients are.
type Status struct {
	Clients   int `json:"clients"`
	Connected int `json:"connected"` // clients with a stream open now
	// Synced counts clients that have received every type at least once
	// since they started (a later reconnect does not unsync them).
	Synced       int    `json:"synced"`
	Streams      int64  `json:"streams"`       // streams opened, reconnects included
	StreamErrors int64  `json:"stream_errors"` // streams that ended with an error
	LastError    string `json:"last_error,omitempty"`
}

// WriteResult is how far one Raw write has reached; the fleet follows
// only Raw writes one by one, and reports nothing of the others.
type WriteResult struct {
	Seq       uint64 `json:"seq"`
	Delivered int    `json:"delivered"` // clients that hold it
	// LatenciesNs are the delivered clients' latencies, Put returned to
	// ACK sent.
	LatenciesNs []int64 `json:"latencies_ns,omitempty"`
}

// Summary is what the fleet counted since the last reset.
type Summary struct {
	Seconds   float64          `json:"seconds"`   // since the reset
	Responses map[string]int64 `json:"responses"` // short type name -> responses received
	Resources map[string]int64 `json:"resources"` // short type name -> resources received
	Lag       Quantiles        `json:"lag"`       // of every delivery since the reset
	Pending   int              `json:"pending"`   // deliveries still waiting for their write's record
}

// Quantiles summarise a latency distribution, in nanoseconds.
type Quantiles struct {
	Count int64 `json:"count"`
	Min   int64 `json:"min_ns"`
	P50   int64 `json:"p50_ns"`
	P90   int64 `json:"p90_ns"`
	P99   int64 `json:"p99_ns"`
	Max   int64 `json:"max_ns"`
}
