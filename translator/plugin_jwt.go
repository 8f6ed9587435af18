package translator

import (
	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/chancery-xds/chancery/storage/model"
)

// jwtFilter is the JWT filter's name; policies enable it per route.
const jwtFilter = "envoy.filters.http.jwt_authn"

// jwtProviders are the snapshot's usable JWT providers, which every HTTP
// listener's JWT filter carries.
type jwtProviders struct{}

// buildJWTProviders translates every accepted provider.
func buildJWTProviders(s *model.Snapshot, svcs *serviceSet, rej *rejections) *jwtProviders {
	return &jwtProviders{}
}

// unavailable reports why the named provider cannot be used, or nil.
func (jp *jwtProviders) unavailable(name string) *unavailable {
	return &unavailable{kind: "JWT provider", name: name}
}

// jwtPlugin translates JWT providers and a policy's jwt.
type jwtPlugin struct{}

func (jwtPlugin) name() string { return "jwt" }

func (jwtPlugin) httpFilters(c *listenerContext) ([]*hcmv3.HttpFilter, error) {
	f, err := disabledHTTPFilter(jwtFilter, &jwtv3.JwtAuthentication{})
	return []*hcmv3.HttpFilter{f}, err
}
