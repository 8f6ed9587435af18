package translator

import (
	"maps"
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/chancery-xds/chancery/storage/model"
)

// jwtFilter is the JWT filter's name; policies enable it per route.
const jwtFilter = "envoy.filters.http.jwt_authn"

// jwtProviders are the snapshot's usable JWT providers, which every HTTP
// listener's JWT filter carries.
type jwtProviders struct {
	usable map[string]*jwtv3.JwtProvider
	remote map[string]string // provider -> the service its JWKS is fetched from
	rej    *rejections
}

// buildJWTProviders translates every accepted provider. A provider whose
// JWKS service cannot take traffic, or that Envoy would refuse, is
// rejected here: it is in no listener, and the routes requiring it answer
// 503 (a requirement that cannot be checked fails closed).
func buildJWTProviders(s *model.Snapshot, svcs *serviceSet, rej *rejections) *jwtProviders {
	jp := &jwtProviders{usable: map[string]*jwtv3.JwtProvider{}, remote: map[string]string{}, rej: rej}
	for _, name := range slices.Sorted(maps.Keys(s.JWTProviders)) {
		p := s.JWTProviders[name]
		ref := model.Ref{Kind: model.KindJWTProvider, Name: name}
		if r := p.RemoteJWKS; r != nil {
			if u := svcs.unavailable(r.Service); u != nil {
				rej.add(ref, "remote_jwks.service", "%s; routes requiring the provider answer 503", u.field())
				continue
			}
		}
		out := jwtProviderFor(p)
		if err := out.ValidateAll(); err != nil {
			rej.add(ref, "", "not sent: %v; routes requiring the provider answer 503", err)
			continue
		}
		jp.usable[name] = out
		if p.RemoteJWKS != nil {
			jp.remote[name] = p.RemoteJWKS.Service
		}
	}
	return jp
}

// jwtProviderFor is Envoy's form of one provider.
func jwtProviderFor(p *model.JWTProvider) *jwtv3.JwtProvider {
	out := &jwtv3.JwtProvider{
		Issuer:     p.Issuer,
		Audiences:  slices.Clone(p.Audiences),
		Forward:    p.Forward,
		FromParams: slices.Clone(p.FromParams),
	}
	skew := model.DefaultJWTClockSkew
	if !p.ClockSkew.IsZero() {
		skew = p.ClockSkew.Std()
	}
	out.ClockSkewSeconds = uint32(skew.Seconds())
	if r := p.RemoteJWKS; r != nil {
		out.JwksSourceSpecifier = &jwtv3.JwtProvider_RemoteJwks{RemoteJwks: remoteJWKSFor(r)}
	} else {
		out.JwksSourceSpecifier = &jwtv3.JwtProvider_LocalJwks{LocalJwks: &corev3.DataSource{
			Specifier: &corev3.DataSource_InlineString{InlineString: p.JWKS}}}
	}
	for _, h := range p.FromHeaders {
		out.FromHeaders = append(out.FromHeaders, &jwtv3.JwtHeader{Name: h.Name, ValuePrefix: h.ValuePrefix})
	}
	for _, c := range p.ClaimsToHeaders {
		out.ClaimToHeaders = append(out.ClaimToHeaders, &jwtv3.JwtClaimToHeader{HeaderName: c.Header, ClaimName: c.Claim})
	}
	return out
}

// remoteJWKSFor fetches the JWKS from the service's cluster, which the
// listeners carrying the provider reach.
func remoteJWKSFor(r *model.RemoteJWKS) *jwtv3.RemoteJwks {
	cache, timeout := model.DefaultJWKSCacheDuration, model.DefaultJWKSTimeout
	if !r.CacheDuration.IsZero() {
		cache = r.CacheDuration.Std()
	}
	if !r.Timeout.IsZero() {
		timeout = r.Timeout.Std()
	}
	return &jwtv3.RemoteJwks{
		HttpUri: &corev3.HttpUri{
			Uri:              r.URI(),
			HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: r.Service},
			Timeout:          durationpb.New(timeout),
		},
		CacheDuration: durationpb.New(cache),
	}
}

// unavailable reports why the named provider cannot be used, or nil. The
// value is the same while the reason is, for the route-table memo.
func (jp *jwtProviders) unavailable(name string) *unavailable {
	if _, ok := jp.usable[name]; ok {
		return nil
	}
	u := &unavailable{kind: "JWT provider", name: name}
	if jp.rej != nil {
		u.reason, _ = jp.rej.reason(model.Ref{Kind: model.KindJWTProvider, Name: name})
	}
	return u
}

// jwtPlugin translates JWT providers and a policy's jwt.
type jwtPlugin struct{}

func (jwtPlugin) name() string { return "jwt" }

// httpFilters is the JWT filter, disabled, with every usable provider and
// one requirement per provider, of the same name, for routes to select.
// Without providers it is the empty configuration every listener had
// before providers existed.
func (jwtPlugin) httpFilters(c *listenerContext) ([]*hcmv3.HttpFilter, error) {
	cfg := &jwtv3.JwtAuthentication{}
	if jp := c.in.jwt; len(jp.usable) > 0 {
		cfg.Providers = jp.usable
		cfg.RequirementMap = make(map[string]*jwtv3.JwtRequirement, len(jp.usable))
		for name := range jp.usable {
			cfg.RequirementMap[name] = &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_ProviderName{ProviderName: name}}
		}
		for _, name := range slices.Sorted(maps.Keys(jp.remote)) {
			// Usable means the service takes traffic: this records its
			// cluster for the listener's groups.
			if fe := c.service(model.Ref{Kind: model.KindJWTProvider, Name: name}.String()+" remote_jwks.service", jp.remote[name]); fe != nil {
				c.exclude(fe)
			}
		}
	}
	f, err := disabledHTTPFilter(jwtFilter, cfg)
	return []*hcmv3.HttpFilter{f}, err
}

// policy selects the level's requirement: the provider's, or none.
func (jwtPlugin) policy(c *routeContext, p *model.HTTPPolicy, at *policyLevel) model.FieldErrors {
	j := p.JWT
	if j == nil {
		return nil
	}
	cfg := &jwtv3.PerRouteConfig{RequirementSpecifier: &jwtv3.PerRouteConfig_Disabled{Disabled: true}}
	if !j.Disabled {
		if u := c.in.jwt.unavailable(j.Provider); u != nil {
			return model.FieldErrors{{Field: at.path + ".jwt.provider", Msg: u.field()}}
		}
		cfg.RequirementSpecifier = &jwtv3.PerRouteConfig_RequirementName{RequirementName: j.Provider}
	}
	if fe := at.set(jwtFilter, cfg); fe != nil {
		return model.FieldErrors{fe}
	}
	return nil
}
