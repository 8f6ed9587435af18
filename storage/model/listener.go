package model

import (
	"fmt"
	"net/netip"
)

// Listener protocols.
const (
	ListenerHTTP = "http" // HTTP connection manager, routes from a RouteTable over RDS
	ListenerTCP  = "tcp"  // TCP proxy to one service
)

// Listener is one Envoy listener, sent to the node groups (Envoy's
// node.cluster) it names. Key: listeners/<name>.
type Listener struct {
	Address    string   `json:"address,omitempty"` // default 0.0.0.0
	Port       uint32   `json:"port"`
	Protocol   string   `json:"protocol"`
	RouteTable string   `json:"route_table,omitempty"` // http listeners
	Service    string   `json:"service,omitempty"`     // tcp listeners
	Groups     []string `json:"groups"`
}

// BindAddress is the address the listener binds, with the default applied.
func (l *Listener) BindAddress() string {
	if l.Address == "" {
		return "0.0.0.0"
	}
	return l.Address
}

// Validate checks every field and reports all problems at once.
func (l *Listener) Validate() error {
	v := &validator{}
	l.checkLimits(v) // port and every size, from Limits (limits_check.go)
	if l.Address != "" {
		if _, err := netip.ParseAddr(l.Address); err != nil {
			v.add("address", "want an IP address, got %q", l.Address)
		}
	}
	switch l.Protocol {
	case ListenerHTTP:
		if l.RouteTable == "" {
			v.add("route_table", "required for an http listener")
		} else if !ValidName(l.RouteTable) {
			v.add("route_table", "%q is not a valid route table name", l.RouteTable)
		}
		if l.Service != "" {
			v.add("service", "an http listener routes by route_table; service is for tcp listeners")
		}
	case ListenerTCP:
		if l.Service == "" {
			v.add("service", "required for a tcp listener")
		} else if !ValidName(l.Service) {
			v.add("service", "%q is not a valid service name", l.Service)
		}
		if l.RouteTable != "" {
			v.add("route_table", "a tcp listener proxies to service; route_table is for http listeners")
		}
	case "":
		v.add("protocol", "required: http or tcp")
	default:
		v.add("protocol", "unknown protocol %q: want http or tcp", l.Protocol)
	}
	if len(l.Groups) == 0 {
		v.add("groups", "at least one node group is required")
	}
	seen := map[string]bool{}
	for i, g := range l.Groups {
		switch {
		case !ValidName(g):
			v.add(fmt.Sprintf("groups[%d]", i), "%q is not a valid group name", g)
		case seen[g]:
			v.add(fmt.Sprintf("groups[%d]", i), "duplicate group %q", g)
		}
		seen[g] = true
	}
	return v.err()
}
