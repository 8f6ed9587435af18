package translator

import (
	"cmp"
	"math"
	"slices"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/chancery-xds/chancery/storage/model"
)

// acceptedListener is a listener that will be sent, with everything its
// groups must receive alongside it.
type acceptedListener struct {
	name     string
	groups   []string
	listener *listenerv3.Listener
	routes   *routev3.RouteConfiguration // nil for TCP listeners
	reached  []string                    // sorted services it sends traffic to
}

// buildListeners translates every accepted listener, oldest first. A TCP
// listener without its service, a listener Envoy would refuse, or one that
// would bind a port an older listener binds in a shared group is not sent;
// an HTTP listener without its route table is sent with a 503 placeholder.
func buildListeners(s *model.Snapshot, svcs *serviceSet, tables *routeTableSet, rej *rejections) []*acceptedListener {
	var out []*acceptedListener
	var bound []binding
	for _, name := range byAge(s) {
		l := s.Listeners[name]
		ref := model.Ref{Kind: model.KindListener, Name: name}
		al, partial, excluded := listenerFor(name, l, svcs, tables)
		if excluded == nil {
			// Only listeners that would be sent hold their port: a TCP
			// listener without its service must not keep another off it.
			b := bindingOf(name, l)
			if excluded = firstConflict(b, bound); excluded == nil {
				bound = append(bound, b)
			}
		}
		if excluded != nil {
			rej.add(ref, excluded.Field, "%s", excluded.Msg)
			continue
		}
		if partial != nil {
			rej.add(ref, partial.Field, "%s", partial.Msg)
		}
		out = append(out, al)
	}
	return out
}

// listenerFor translates one listener. partial is a problem it is sent
// with; excluded is why it is not sent at all.
func listenerFor(name string, l *model.Listener, svcs *serviceSet, tables *routeTableSet) (al *acceptedListener, partial, excluded *model.FieldError) {
	al = &acceptedListener{name: name, groups: l.Groups}
	var err error
	switch l.Protocol {
	case model.ListenerTCP:
		if u := svcs.unavailable(l.Service); u != nil {
			return nil, nil, &model.FieldError{Field: "service", Msg: u.field() + "; listener not sent"}
		}
		al.reached = []string{l.Service}
		al.listener, err = tcpListenerFor(name, l)
	default:
		// The model admits only http and tcp listeners.
		rt, u := tables.lookup(l.RouteTable)
		if u != nil {
			partial = &model.FieldError{Field: "route_table", Msg: u.field() + "; its requests answer 503"}
		}
		al.routes, al.reached = rt.config, rt.reached
		al.listener, err = httpListenerFor(name, l)
	}
	if err == nil {
		err = envoyValid(al.listener)
	}
	if err != nil {
		return nil, nil, &model.FieldError{Msg: "not sent: " + err.Error()}
	}
	return al, partial, nil
}

// byAge lists the listeners in the order they hold ports: by etcd create
// revision, so a new listener never takes a port from one that serves; a
// listener not yet in etcd counts as created last; equal revisions (a
// snapshot built by hand) go by name.
func byAge(s *model.Snapshot) []string {
	names := sortedKeys(s.Listeners)
	created := func(name string) int64 {
		if rev, ok := s.Created[name]; ok {
			return rev
		}
		return math.MaxInt64
	}
	slices.SortStableFunc(names, func(a, b string) int { return cmp.Compare(created(a), created(b)) })
	return names
}
