package translator

import (
	"cmp"
	"fmt"
	"maps"
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
	routes   *routev3.RouteConfiguration // nil for TCP listeners; a grpc listener's own copy (listener_grpc.go)
	reached  []string                    // sorted services it sends traffic to
	secrets  []string                    // secrets its TLS names
}

// buildListeners translates every accepted listener, oldest first. A TCP
// listener without its service, an https listener without a usable
// certificate or its client CA, a listener Envoy would refuse, or one that
// would bind a port an older listener binds in a shared group is not sent;
// an HTTP listener without its route table is sent with a 503 placeholder,
// and a certificate or passthrough route that cannot be used is left out.
func buildListeners(s *model.Snapshot, in *policyInputs, svcs *serviceSet, tables *routeTableSet, secrets *secretSet, rej *rejections) []*acceptedListener {
	var out []*acceptedListener
	var bound []binding
	for _, name := range byAge(s) {
		l := s.Listeners[name]
		ref := model.Ref{Kind: model.KindListener, Name: name}
		lt := &listenerTranslation{name: name, l: l, svcs: svcs, tables: tables, secrets: secrets,
			c: &listenerContext{name: name, l: l, in: in, svcs: svcs}}
		al, excluded := lt.translate()
		if excluded == nil && l.Binds() {
			// Only listeners that would be sent hold their port: a TCP
			// listener without its service must not keep another off it.
			// A grpc listener binds nothing.
			b := bindingOf(name, l)
			if excluded = firstConflict(b, bound); excluded == nil {
				bound = append(bound, b)
			}
		}
		for _, p := range lt.partial {
			rej.add(ref, p.Field, "%s", p.Msg)
		}
		if excluded != nil {
			rej.add(ref, excluded.Field, "%s", excluded.Msg)
			continue
		}
		out = append(out, al)
	}
	return out
}

// listenerTranslation is one listener being translated, with the problems
// it is sent with (partial).
type listenerTranslation struct {
	name    string
	l       *model.Listener
	svcs    *serviceSet
	tables  *routeTableSet
	secrets *secretSet
	c       *listenerContext // what the plugins' hooks see and found
	partial model.FieldErrors
}

// translate translates the listener; excluded is why it is not sent at all.
func (lt *listenerTranslation) translate() (al *acceptedListener, excluded *model.FieldError) {
	name, l := lt.name, lt.l
	al = &acceptedListener{name: name, groups: l.Groups}
	var err error
	switch l.Protocol {
	case model.ListenerTCP:
		if len(l.TLSPassthrough) > 0 {
			return lt.passthrough(al)
		}
		if u := lt.svcs.unavailable(l.Service); u != nil {
			return nil, &model.FieldError{Field: "service", Msg: u.field() + "; listener not sent"}
		}
		al.reached = []string{l.Service}
		al.listener, err = tcpListenerFor(lt.c)
	case model.ListenerGRPC:
		return lt.grpc(al)
	default:
		// The model admits only http, https, tcp and grpc listeners.
		rt, u := lt.tables.lookup(l.RouteTable)
		if u != nil {
			lt.partial = append(lt.partial, &model.FieldError{Field: "route_table", Msg: u.field() + "; its requests answer 503"})
		}
		al.routes, al.reached = rt.config, rt.reached
		if l.Protocol == model.ListenerHTTPS {
			return lt.https(al)
		}
		al.listener, err = httpListenerFor(lt.c)
	}
	return lt.checked(al, err)
}

// https sends the certificates whose secrets can be used, if any, and only
// with its client CA when it names one: never without the client check.
func (lt *listenerTranslation) https(al *acceptedListener) (*acceptedListener, *model.FieldError) {
	t := lt.l.TLS
	if t.ClientCA != "" {
		if fe := lt.secrets.use("tls.client_ca", t.ClientCA, model.SecretValidationContext); fe != nil {
			return nil, &model.FieldError{Field: fe.Field, Msg: fe.Msg + "; listener not sent"}
		}
		al.secrets = append(al.secrets, t.ClientCA)
	}
	var certs []model.ServerCertificate
	for i, c := range t.Certificates {
		if fe := lt.secrets.use(fmt.Sprintf("tls.certificates[%d].secret", i), c.Secret, model.SecretTLSCertificate); fe != nil {
			lost := "its server names are not served"
			if len(c.ServerNames) == 0 {
				lost = "names no other certificate has are not served"
			}
			lt.partial = append(lt.partial, &model.FieldError{Field: fe.Field, Msg: fe.Msg + "; " + lost})
			continue
		}
		certs = append(certs, c)
		al.secrets = append(al.secrets, c.Secret)
	}
	if len(certs) == 0 {
		return nil, &model.FieldError{Field: "tls.certificates", Msg: "no certificate can be used; listener not sent"}
	}
	var err error
	al.listener, err = httpsListenerFor(lt.c, certs)
	return lt.checked(al, err)
}

// passthrough sends the routes whose services can take traffic, if any.
func (lt *listenerTranslation) passthrough(al *acceptedListener) (*acceptedListener, *model.FieldError) {
	l := lt.l
	var routes []model.SNIRoute
	for i, r := range l.TLSPassthrough {
		if u := lt.svcs.unavailable(r.Service); u != nil {
			lt.partial = append(lt.partial, &model.FieldError{Field: fmt.Sprintf("tls_passthrough[%d].service", i), Msg: u.field() + "; its server names are not served"})
			continue
		}
		routes = append(routes, r)
		al.reached = append(al.reached, r.Service)
	}
	def := l.Service
	if def != "" {
		if u := lt.svcs.unavailable(def); u != nil {
			lt.partial = append(lt.partial, &model.FieldError{Field: "service", Msg: u.field() + "; other server names are not served"})
			def = ""
		} else {
			al.reached = append(al.reached, def)
		}
	}
	if len(routes) == 0 && def == "" {
		return nil, &model.FieldError{Field: "tls_passthrough", Msg: "no route's service can take traffic; listener not sent"}
	}
	slices.Sort(al.reached)
	al.reached = slices.Compact(al.reached)
	var err error
	al.listener, err = passthroughListenerFor(lt.c, def, routes)
	return lt.checked(al, err)
}

// checked is al, with what the plugins' hooks found, unless they excluded
// it or building or Envoy's validation failed.
func (lt *listenerTranslation) checked(al *acceptedListener, err error) (*acceptedListener, *model.FieldError) {
	c := lt.c
	lt.partial = append(lt.partial, c.partial...)
	if c.excluded != nil {
		return nil, c.excluded
	}
	for _, p := range plugins {
		if h, ok := p.(listenerHook); ok && err == nil {
			if err = h.listener(c, al.listener); err != nil {
				err = fmt.Errorf("%s: %w", p.name(), err)
			}
		}
	}
	if err == nil {
		err = envoyValid(al.listener)
	}
	if err != nil {
		return nil, &model.FieldError{Msg: "not sent: " + err.Error()}
	}
	if len(c.reached) > 0 {
		// A new slice: al.reached may be its route table's, shared.
		al.reached = slices.Concat(al.reached, c.reached)
		slices.Sort(al.reached)
		al.reached = slices.Compact(al.reached)
	}
	return al, nil
}

// byAge lists the listeners in the order they hold ports: by etcd create
// revision, so a new listener never takes a port from one that serves; a
// listener not yet in etcd counts as created last; equal revisions (a
// snapshot built by hand) go by name.
func byAge(s *model.Snapshot) []string {
	names := slices.Sorted(maps.Keys(s.Listeners))
	created := func(name string) int64 {
		if rev, ok := s.Created[name]; ok {
			return rev
		}
		return math.MaxInt64
	}
	slices.SortStableFunc(names, func(a, b string) int { return cmp.Compare(created(a), created(b)) })
	return names
}
