package translator

import (
	"strconv"
	"strings"

	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/chancery-xds/chancery/storage/model"
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

// policy enables the CORS filter at the level with the policy's rules.
func (corsPlugin) policy(_ *routeContext, p *model.HTTPPolicy, at *policyLevel) model.FieldErrors {
	if p.CORS == nil {
		return nil
	}
	if fe := at.set(corsFilter, corsPolicy(p.CORS)); fe != nil {
		return model.FieldErrors{fe}
	}
	return nil
}

// corsPolicy translates the rules. Envoy takes an allowed origin that
// matches "*" as allowing every origin, so an exact "*" is sent as it is.
func corsPolicy(c *model.CORS) *corsv3.CorsPolicy {
	out := &corsv3.CorsPolicy{
		AllowMethods:  strings.Join(c.AllowMethods, ","),
		AllowHeaders:  strings.Join(c.AllowHeaders, ","),
		ExposeHeaders: strings.Join(c.ExposeHeaders, ","),
	}
	for _, o := range c.AllowOrigins {
		if o.Exact != "" {
			out.AllowOriginStringMatch = append(out.AllowOriginStringMatch, &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: o.Exact}})
			continue
		}
		out.AllowOriginStringMatch = append(out.AllowOriginStringMatch, &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: o.Regex}},
		})
	}
	if !c.MaxAge.IsZero() {
		out.MaxAge = strconv.FormatInt(int64(c.MaxAge.Std().Seconds()), 10)
	}
	if c.AllowCredentials {
		out.AllowCredentials = wrapperspb.Bool(true)
	}
	return out
}
