package translator

import (
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// corsFilter is the CORS filter's name; policies enable it per route.
const corsFilter = "envoy.filters.http.cors"

// corsPlugin translates a policy's cors.
type corsPlugin struct{}

func (corsPlugin) name() string { return "cors" }

func (corsPlugin) httpFilters(*listenerContext) ([]*hcmv3.HttpFilter, error) {
	f, err := disabledHTTPFilter(corsFilter, &corsv3.Cors{})
	return []*hcmv3.HttpFilter{f}, err
}
