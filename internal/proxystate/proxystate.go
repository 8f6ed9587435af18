// Package proxystate is what an xDS stream of one Envoy holds of each type
// Chancery serves: the one form in which the xDS server keeps it, per
// stream, and the cluster's publisher reads it. It has no map, so that a
// replica can look at ten thousand of them every publish interval, and
// compare each with what it wrote, without allocating.
package proxystate

import "time"

// Type indexes Proxy.Types: one of the xDS types Chancery serves.
type Type int

// The types served, in the order of Proxy.Types.
const (
	Clusters Type = iota
	Endpoints
	Listeners
	Routes
	Secrets
	NumTypes // how many types there are
)

// names are the types' short names, which versions, records and logs use.
var names = [NumTypes]string{"clusters", "endpoints", "listeners", "routes", "secrets"}

// String is the type's short name ("clusters", ...).
func (t Type) String() string { return names[t] }

// TypeStatus is what one Envoy holds of one xDS type.
type TypeStatus struct {
	Sent      string `json:"sent,omitempty"`       // version of the last response sent
	Acked     string `json:"acked,omitempty"`      // version the Envoy last accepted
	NackError string `json:"nack_error,omitempty"` // its last rejection, cleared by an ACK
}

// Proxy is one xDS stream of a connected Envoy.
type Proxy struct {
	NodeID    string
	Group     string
	Delta     bool
	Connected time.Time
	// Types is what the stream holds of each type, by Type; the zero
	// TypeStatus for a type it has not been sent nor told of.
	Types [NumTypes]TypeStatus
}
