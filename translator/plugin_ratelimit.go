package translator

import (
	localratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// localRateLimitFilter is the local rate limit filter policies enable per
// route; a listener's own bucket is a filter of its own before it.
const localRateLimitFilter = "envoy.filters.http.local_ratelimit"

// rateLimitPlugin translates local and global rate limits.
type rateLimitPlugin struct{}

func (rateLimitPlugin) name() string { return "rate_limit" }

func (rateLimitPlugin) httpFilters(*listenerContext) ([]*hcmv3.HttpFilter, error) {
	f, err := disabledHTTPFilter(localRateLimitFilter, &localratelimitv3.LocalRateLimit{StatPrefix: "route_rate_limit"})
	return []*hcmv3.HttpFilter{f}, err
}
