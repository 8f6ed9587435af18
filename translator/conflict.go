package translator

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/chancery-xds/chancery/storage/model"
)

// binding is the socket a listener binds on the Envoys of its groups.
type binding struct {
	listener string
	addr     netip.Addr
	port     uint32
	groups   []string
}

func bindingOf(name string, l *model.Listener) binding {
	addr, err := netip.ParseAddr(l.BindAddress())
	if err != nil {
		// The model validated the address; a snapshot built without it
		// still gets a conservative answer: unspecified overlaps everything.
		addr = netip.IPv4Unspecified()
	}
	// An IPv4-mapped IPv6 address is the same socket as the IPv4 one.
	return binding{listener: name, addr: addr.Unmap(), port: l.Port, groups: l.Groups}
}

// conflict reports the group in which b and o would bind the same port on
// overlapping addresses: Envoy would fail to bind the second, and a failed
// bind rejects the whole listener update on that Envoy.
func (b binding) conflict(o binding) (string, bool) {
	if b.port != o.port {
		return "", false
	}
	if b.addr != o.addr && !b.addr.IsUnspecified() && !o.addr.IsUnspecified() {
		return "", false
	}
	for _, g := range b.groups {
		if slices.Contains(o.groups, g) {
			return g, true
		}
	}
	return "", false
}

// firstConflict checks b against the listeners already accepted, which are
// the older ones: the listener created first keeps the port, so a new one
// never takes it from one that serves.
func firstConflict(b binding, accepted []binding) *model.FieldError {
	for _, o := range accepted {
		if g, ok := b.conflict(o); ok {
			return &model.FieldError{Field: "port", Msg: fmt.Sprintf(
				"%s overlaps older listener %q (%s) in group %q; listener not sent",
				netip.AddrPortFrom(b.addr, uint16(b.port)), o.listener, netip.AddrPortFrom(o.addr, uint16(o.port)), g)}
		}
	}
	return nil
}
