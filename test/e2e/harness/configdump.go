package harness

import (
	"encoding/json"
	"fmt"
)

// DumpedResource is one resource an Envoy took from xDS, as its admin
// /config_dump shows it.
type DumpedResource struct {
	// Name is the resource's name (a load assignment's cluster_name).
	Name string
	// Version is the version_info Envoy keeps for it: under delta xDS the
	// resource's own version. Envoy dumps load assignments rebuilt from its
	// hosts, with no version: "" for Endpoints.
	Version string
	// JSON is the resource as Envoy renders it, an Any with its "@type".
	JSON json.RawMessage
}

// ConfigDump is what an Envoy holds from xDS, by type. Only the active
// resources are in the lists; NotActive names every resource Envoy holds
// but does not use: warming, draining or rejected (error_state).
type ConfigDump struct {
	Listeners, Routes, Clusters, Endpoints, Secrets []DumpedResource
	NotActive                                       []string
}

// ConfigDump fetches /config_dump?include_eds and sorts out its dynamic
// resources; the static ones (the bootstrap's) are left out.
func (e *Envoy) ConfigDump() (*ConfigDump, error) {
	body, err := getOK(e.adminURL + "/config_dump?include_eds")
	if err != nil {
		return nil, fmt.Errorf("envoy %s: %w", e.opts.NodeID, err)
	}
	d, err := parseConfigDump(body)
	if err != nil {
		return nil, fmt.Errorf("envoy %s: /config_dump: %w", e.opts.NodeID, err)
	}
	return d, nil
}

// dumpEntry is an entry of any of the dump's dynamic lists; each type names
// its resource field differently, and listeners nest it in states.
type dumpEntry struct {
	Name           string          `json:"name"` // secrets only
	VersionInfo    string          `json:"version_info"`
	Listener       json.RawMessage `json:"listener"`
	RouteConfig    json.RawMessage `json:"route_config"`
	Cluster        json.RawMessage `json:"cluster"`
	EndpointConfig json.RawMessage `json:"endpoint_config"`
	Secret         json.RawMessage `json:"secret"`
	ActiveState    *dumpEntry      `json:"active_state"`
	WarmingState   *dumpEntry      `json:"warming_state"`
	DrainingState  *dumpEntry      `json:"draining_state"`
	ErrorState     json.RawMessage `json:"error_state"`
}

type dumpConfig struct {
	Type string `json:"@type"`
	// Listeners
	DynamicListeners []dumpEntry `json:"dynamic_listeners"`
	// Routes
	DynamicRouteConfigs []dumpEntry `json:"dynamic_route_configs"`
	// Clusters
	DynamicActiveClusters  []dumpEntry `json:"dynamic_active_clusters"`
	DynamicWarmingClusters []dumpEntry `json:"dynamic_warming_clusters"`
	// Endpoints
	DynamicEndpointConfigs []dumpEntry `json:"dynamic_endpoint_configs"`
	// Secrets
	DynamicActiveSecrets  []dumpEntry `json:"dynamic_active_secrets"`
	DynamicWarmingSecrets []dumpEntry `json:"dynamic_warming_secrets"`
}

func parseConfigDump(body []byte) (*ConfigDump, error) {
	var raw struct {
		Configs []dumpConfig `json:"configs"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, err
	}
	d := &ConfigDump{}
	for _, c := range raw.Configs {
		if err := d.add(c); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (d *ConfigDump) add(c dumpConfig) error {
	var err error
	for _, e := range c.DynamicListeners {
		if e.WarmingState != nil || e.DrainingState != nil || e.ErrorState != nil {
			d.NotActive = append(d.NotActive, "listener "+listenerName(e))
		}
		if e.ActiveState != nil {
			err = d.keep(&d.Listeners, *e.ActiveState, e.ActiveState.Listener, err)
		}
	}
	for _, e := range c.DynamicRouteConfigs {
		err = d.keep(&d.Routes, e, e.RouteConfig, err)
	}
	for _, e := range c.DynamicActiveClusters {
		err = d.keep(&d.Clusters, e, e.Cluster, err)
	}
	for _, e := range c.DynamicWarmingClusters {
		d.NotActive = append(d.NotActive, "warming cluster "+resourceName(e.Cluster, "name"))
	}
	for _, e := range c.DynamicEndpointConfigs {
		err = d.keep(&d.Endpoints, e, e.EndpointConfig, err)
	}
	for _, e := range c.DynamicActiveSecrets {
		err = d.keep(&d.Secrets, e, e.Secret, err)
	}
	for _, e := range c.DynamicWarmingSecrets {
		d.NotActive = append(d.NotActive, "warming secret "+e.Name)
	}
	return err
}

// keep appends one entry's resource to list; a missing resource is an
// error (the first one found is kept in err).
func (d *ConfigDump) keep(list *[]DumpedResource, e dumpEntry, res json.RawMessage, err error) error {
	if len(res) == 0 {
		if err == nil {
			err = fmt.Errorf("entry of version %q holds no resource", e.VersionInfo)
		}
		return err
	}
	name := e.Name
	if name == "" {
		name = resourceName(res, "name")
	}
	if name == "" {
		name = resourceName(res, "cluster_name")
	}
	*list = append(*list, DumpedResource{Name: name, Version: e.VersionInfo, JSON: res})
	return err
}

func listenerName(e dumpEntry) string {
	for _, s := range []*dumpEntry{e.ActiveState, e.WarmingState, e.DrainingState} {
		if s != nil {
			return resourceName(s.Listener, "name")
		}
	}
	return "(in error_state)"
}

// resourceName reads a string field of a resource's JSON; "" if absent.
func resourceName(res json.RawMessage, field string) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(res, &fields) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(fields[field], &s) != nil {
		return ""
	}
	return s
}

// Group returns the Envoy's node.cluster, the node group it is served as.
func (e *Envoy) Group() string { return e.opts.Group }
