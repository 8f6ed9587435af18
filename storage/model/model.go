// Package model holds the resource kinds Chancery stores in etcd, their strict
// JSON decoding and their validation. It imports nothing of the project's.
package model

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Kind names one kind of object in the keyspace.
type Kind string

// The kinds of object an operator or the cluster writes.
const (
	KindService     Kind = "Service"
	KindEndpoint    Kind = "Endpoint"
	KindRouteTable  Kind = "RouteTable"
	KindListener    Kind = "Listener"
	KindHealth      Kind = "Health"
	KindSecret      Kind = "Secret"
	KindJWTProvider Kind = "JWTProvider"
	KindPatch       Kind = "Patch"
)

// Kinds lists every kind in keyspace order.
var Kinds = []Kind{KindService, KindEndpoint, KindRouteTable, KindListener, KindHealth, KindSecret, KindJWTProvider, KindPatch}

// Segment is the first path segment of a kind's keys, e.g. "services".
func (k Kind) Segment() string {
	switch k {
	case KindService:
		return "services"
	case KindEndpoint:
		return "endpoints"
	case KindRouteTable:
		return "routes"
	case KindListener:
		return "listeners"
	case KindHealth:
		return "health"
	case KindSecret:
		return "secrets"
	case KindJWTProvider:
		return "jwt_providers"
	case KindPatch:
		return "patches"
	}
	return ""
}

// NameParts is how many path segments a kind's object name has:
// endpoints and health verdicts are named "<service>/<id>".
func (k Kind) NameParts() int {
	if k == KindEndpoint || k == KindHealth {
		return 2
	}
	return 1
}

// KindForSegment is the inverse of Kind.Segment.
func KindForSegment(seg string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Segment() == seg {
			return k, true
		}
	}
	return "", false
}

// ParseKind accepts a kind's name in any case, or its key segment
// ("service", "services", "routetable", "routes", ...).
func ParseKind(s string) (Kind, error) {
	l := strings.ToLower(strings.ReplaceAll(s, "-", ""))
	for _, k := range Kinds {
		if l == strings.ToLower(string(k)) || l == k.Segment() || l+"s" == k.Segment() {
			return k, nil
		}
	}
	if l == "route" || l == "routetables" {
		return KindRouteTable, nil
	}
	if l == "jwt" || l == "jwtproviders" {
		return KindJWTProvider, nil
	}
	return "", fmt.Errorf("unknown kind %q (want one of service, endpoint, routetable, listener, health, secret, jwtprovider, patch)", s)
}

// Ref names one object: its kind and name ("web", or "web/10.0.0.1-8080" for
// endpoints). Its String is the key below the prefix, "services/web".
type Ref struct {
	Kind Kind
	Name string
}

func (r Ref) String() string { return r.Kind.Segment() + "/" + r.Name }

// Rejection is an object Chancery refuses to serve, or serves only in part,
// with the reason. Err does not repeat the key; Error() prefixes it.
type Rejection struct {
	Ref Ref
	Err error
	// Serving, when not nil, is the object's last accepted version, which
	// every replica serves while the live value is rejected
	// (docs/bad-writes.md has the rule).
	Serving *Accepted
}

// Accepted is an earlier version of an object that is served in place of
// its rejected live value.
type Accepted struct {
	Revision int64  // etcd mod revision of the accepted version
	For      int64  // mod revision of the rejected live value it stands in for
	Value    []byte // the accepted value as etcd held it
}

// Ignored is a key under the prefix that Chancery serves nothing from and
// that is no object's rejection: a key of no kind, or an endpoint of a
// service that does not exist. It changes nothing else.
type Ignored struct {
	Key    string // below the prefix, as etcd holds it (it may not be valid UTF-8)
	Reason string
}

func (r Rejection) Error() string { return r.Ref.String() + ": " + r.Err.Error() }

// Reason is why the object is rejected and, if so, that its last accepted
// version is served in its place.
func (r Rejection) Reason() string {
	if r.Serving == nil {
		return r.Err.Error()
	}
	return fmt.Sprintf("%v (serving its last accepted version, revision %d)", r.Err, r.Serving.Revision)
}

// Snapshot is the whole keyspace decoded at one etcd revision. Objects that
// failed decoding or validation are absent from the maps and listed in
// Rejected, sorted by key.
type Snapshot struct {
	Revision    int64
	Services    map[string]*Service
	Endpoints   map[string]map[string]*Endpoint // service -> endpoint id -> endpoint
	RouteTables map[string]*RouteTable
	Listeners   map[string]*Listener
	Health      map[string]map[string]*Health // service -> endpoint id -> verdict
	Secrets     map[string]*Secret
	// JWTProviders are the token issuers route policies require by name.
	JWTProviders map[string]*JWTProvider
	Patches      map[string]*Patch
	Rejected     []Rejection
	// Ignored lists the keys of no kind, sorted by key.
	Ignored []Ignored
	// Created is each listener's etcd create revision: of two listeners
	// that would bind one port, the one created first keeps it. A listener
	// missing here (not yet written) counts as created last.
	Created map[string]int64

	// Changed, when not nil, lists every object that differs from the
	// snapshot at revision Base (written, deleted, or newly rejected): a
	// consumer that kept what it made of Base may update that instead of
	// starting over. nil means unknown.
	Base    int64
	Changed []Ref
}

// NewSnapshot returns an empty snapshot at revision rev.
func NewSnapshot(rev int64) *Snapshot {
	return &Snapshot{
		Revision:     rev,
		Services:     map[string]*Service{},
		Endpoints:    map[string]map[string]*Endpoint{},
		RouteTables:  map[string]*RouteTable{},
		Listeners:    map[string]*Listener{},
		Health:       map[string]map[string]*Health{},
		Secrets:      map[string]*Secret{},
		JWTProviders: map[string]*JWTProvider{},
		Patches:      map[string]*Patch{},
		Created:      map[string]int64{},
	}
}

// Add puts a decoded object into the snapshot. It reports false for an
// object of a type it does not hold.
func (s *Snapshot) Add(ref Ref, obj any) bool {
	switch o := obj.(type) {
	case *Service:
		s.Services[ref.Name] = o
	case *RouteTable:
		s.RouteTables[ref.Name] = o
	case *Listener:
		s.Listeners[ref.Name] = o
	case *Secret:
		s.Secrets[ref.Name] = o
	case *JWTProvider:
		s.JWTProviders[ref.Name] = o
	case *Patch:
		s.Patches[ref.Name] = o
	case *Endpoint:
		svc, id, _ := strings.Cut(ref.Name, "/")
		if s.Endpoints[svc] == nil {
			s.Endpoints[svc] = map[string]*Endpoint{}
		}
		s.Endpoints[svc][id] = o
	case *Health:
		svc, id, _ := strings.Cut(ref.Name, "/")
		if s.Health[svc] == nil {
			s.Health[svc] = map[string]*Health{}
		}
		s.Health[svc][id] = o
	default:
		return false
	}
	return true
}

// Reject records a rejection; SortRejections orders them.
func (s *Snapshot) Reject(ref Ref, err error) {
	s.Rejected = append(s.Rejected, Rejection{Ref: ref, Err: err})
}

// SortRejections orders Rejected by key so that output is deterministic.
func (s *Snapshot) SortRejections() {
	sort.Slice(s.Rejected, func(i, j int) bool { return s.Rejected[i].Ref.String() < s.Rejected[j].Ref.String() })
}

// RejectionOf returns the rejection recorded for ref, if any.
func (s *Snapshot) RejectionOf(ref Ref) (Rejection, bool) {
	for _, r := range s.Rejected {
		if r.Ref == ref {
			return r, true
		}
	}
	return Rejection{}, false
}

// Duration is a time.Duration written as a Go duration string ("250ms",
// "5s"). Text that does not parse is kept and reported by Validate, which
// knows the field's path; decoding itself never fails on it.
type Duration struct {
	d   time.Duration
	bad string
}

// D makes a Duration from a time.Duration.
func D(d time.Duration) Duration { return Duration{d: d} }

// Std returns the value as a time.Duration.
func (d Duration) Std() time.Duration { return d.d }

// IsZero reports whether the duration is unset (or zero).
func (d Duration) IsZero() bool { return d.d == 0 && d.bad == "" }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	if d.bad != "" {
		return []byte(d.bad), nil
	}
	return json.Marshal(d.d.String())
}

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		*d = Duration{bad: string(b)}
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		*d = Duration{bad: string(b)}
		return nil
	}
	*d = Duration{d: v}
	return nil
}

// check reports a duration that did not parse or is negative.
func (d Duration) check(v *validator, field string) {
	switch {
	case d.bad != "":
		v.add(field, "want a duration such as \"250ms\" or \"5s\", got %s", d.bad)
	case d.d < 0:
		v.add(field, "must not be negative, got %s", d.d)
	}
}

// Put decodes one stored value and adds it to the snapshot, or records why
// it was rejected; an object usable in part is added and its rejection
// recorded too. It is how every snapshot is built, so all replicas and
// tools judge the same bytes the same way.
func (s *Snapshot) Put(ref Ref, data []byte) {
	obj, err := Decode(ref, data)
	if obj != nil {
		s.Add(ref, obj)
	}
	if err != nil {
		s.Reject(ref, err)
	}
}
