package translator

import (
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// faultFilter is the fault injection filter; policies enable it per route.
const faultFilter = "envoy.filters.http.fault"

// faultPlugin translates a policy's fault.
type faultPlugin struct{}

func (faultPlugin) name() string { return "fault" }

func (faultPlugin) httpFilters(*listenerContext) ([]*hcmv3.HttpFilter, error) {
	f, err := disabledHTTPFilter(faultFilter, &faultv3.HTTPFault{})
	return []*hcmv3.HttpFilter{f}, err
}
