package translator

import (
	"maps"
	"slices"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// groupContents gathers one group's resources by name before sorting.
type groupContents struct {
	listeners map[string]*listenerv3.Listener
	routes    map[string]*routev3.RouteConfiguration
	services  map[string]bool
	secrets   map[string]bool
	key       string // the group's listener names: groups with the same listeners have the same contents
}

// assembleGroups gives each group exactly what its listeners reach: a
// service no listener of the group reaches is not sent to it, so a group's
// versions change only when something it uses changes.
func assembleGroups(lis []*acceptedListener, svcs *serviceSet, secrets *secretSet) map[string]*GroupResources {
	contents := map[string]*groupContents{}
	for _, al := range lis {
		for _, g := range al.groups {
			c := contents[g]
			if c == nil {
				c = &groupContents{
					listeners: map[string]*listenerv3.Listener{},
					routes:    map[string]*routev3.RouteConfiguration{},
					services:  map[string]bool{},
					secrets:   map[string]bool{},
				}
				contents[g] = c
			}
			c.listeners[al.name] = al.listener
			c.key += al.name + "\x00"
			if al.routes != nil {
				c.routes[al.routes.Name] = al.routes
			}
			for _, s := range al.reached {
				c.services[s] = true
			}
			for _, s := range al.secrets {
				c.secrets[s] = true
			}
		}
	}
	out := make(map[string]*GroupResources, len(contents))
	byKey := map[string]*GroupResources{}
	for g, c := range contents {
		gr := byKey[c.key]
		if gr == nil {
			gr = c.resources(svcs, secrets)
			byKey[c.key] = gr
		}
		out[g] = gr // shared: resources are read-only, and consumers do the work once
	}
	return out
}

// resources lays a group's contents out sorted by name.
func (c *groupContents) resources(svcs *serviceSet, secrets *secretSet) *GroupResources {
	gr := &GroupResources{}
	for _, n := range slices.Sorted(maps.Keys(c.listeners)) {
		gr.Listeners = append(gr.Listeners, c.listeners[n])
	}
	for _, n := range slices.Sorted(maps.Keys(c.routes)) {
		gr.Routes = append(gr.Routes, c.routes[n])
	}
	for _, n := range slices.Sorted(maps.Keys(c.services)) {
		// Every reached service is in svcs: routes and TCP listeners only
		// reach services that translated.
		gr.Clusters = append(gr.Clusters, svcs.clusters[n])
		gr.Endpoints = append(gr.Endpoints, svcs.loads[n])
		for _, sec := range svcs.secrets[n] {
			c.secrets[sec] = true
		}
	}
	for _, n := range slices.Sorted(maps.Keys(c.secrets)) {
		// Listeners and services name only secrets that translated.
		gr.Secrets = append(gr.Secrets, secrets.secrets[n])
	}
	return gr
}
