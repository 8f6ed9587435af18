package model

import (
	"strconv"
	"time"
)

// The JWT limits: providers, and the policies' requirements at each level.
const (
	limJWTIssuer fieldLimit = iota + limAuthzEnd
	limJWTAudiences
	limJWTAudience
	limJWKS
	limJWKSService
	limJWKSPath
	limJWKSCacheDuration
	limJWKSTimeout
	limJWTClaims
	limJWTClaim
	limJWTClaimHeader
	limJWTFromHeaders
	limJWTFromHeaderName
	limJWTFromHeaderPrefix
	limJWTFromParams
	limJWTFromParam
	limJWTClockSkew
	limJWTTableProvider
	limJWTVHostProvider
	limJWTRouteProvider
	limJWTEnd
)

// exampleJWKS is a JWKS of one P-256 public key, for the limits' objects.
const exampleJWKS = `{"keys":[{"kty":"EC","crv":"P-256","x":"q99zNt2nv19sDRJSRwp9PPmM4I-Rw4B86Ifn0AnXdeQ","y":"QO8b3H-f7HY-brsoF483CnTsA1onPcaJvdjX-o9A3cY"}]}`

func jwtLimits() map[fieldLimit]Limit {
	jp := func(fields string) string {
		return `{"issuer":"https://auth.example.com","jwks":` + jsonString(exampleJWKS) + `,` + fields + `}`
	}
	remote := func(fields string) string {
		return `{"issuer":"https://auth.example.com","remote_jwks":{` + fields + `}}`
	}
	table := func(policy, vhost, route string) string {
		return `{` + policy + `"virtual_hosts":[{"name":"v","domains":["*"],` + vhost +
			`"routes":[{"match":{"prefix":"/"},"service":"web"` + route + `}]}]}`
	}
	const jwt = `"policy":{"jwt":{"provider":@}}`
	const hdr = 256 // a header or parameter name: as the route table's header names
	s := int64(time.Second)
	out := map[fieldLimit]Limit{
		limJWTIssuer:    {Field: "issuer", Unit: UnitBytes, Min: 1, Max: 1024, Fill: "i", In: `{"jwks":` + jsonString(exampleJWKS) + `,"issuer":@}`},
		limJWTAudiences: {Field: "audiences", Unit: UnitItems, Max: 100, Fill: `"a{i}"`, In: jp(`"audiences":@`)},
		limJWTAudience:  {Field: "audiences[*]", Unit: UnitBytes, Min: 1, Max: 1024, Fill: "a", In: jp(`"audiences":[@]`)},
		// Whitespace grows the key set: the largest is one key and padding.
		limJWKS: {Field: "jwks", Unit: UnitBytes, Max: 64 << 10, Fill: exampleJWKS[:len(exampleJWKS)-2] + " |]}",
			In: `{"issuer":"https://auth.example.com","jwks":@}`},
		limJWKSService: {Field: "remote_jwks.service", Unit: UnitBytes, Min: 1, Max: nameMax, Fill: "s",
			In: remote(`"path":"/jwks","service":@`)},
		limJWKSPath: {Field: "remote_jwks.path", Unit: UnitBytes, Min: 1, Max: 4096, Fill: "/p", In: remote(`"service":"web","path":@`)},
		limJWKSCacheDuration: {Field: "remote_jwks.cache_duration", Unit: UnitDuration, Min: s, Max: int64(24 * time.Hour), Unset: true,
			In: remote(`"service":"web","path":"/jwks","cache_duration":@`)},
		limJWKSTimeout: {Field: "remote_jwks.timeout", Unit: UnitDuration, Min: int64(time.Millisecond), Max: int64(time.Minute), Unset: true,
			Envoy: "HttpUri.timeout: Envoy counts it in milliseconds", In: remote(`"service":"web","path":"/jwks","timeout":@`)},
		limJWTClaims: {Field: "claims_to_headers", Unit: UnitItems, Max: 64, Fill: `{"claim":"c{i}","header":"x-c{i}"}`,
			In: jp(`"claims_to_headers":@`)},
		limJWTClaim: {Field: "claims_to_headers[*].claim", Unit: UnitBytes, Min: 1, Max: hdr, Fill: "c",
			In: jp(`"claims_to_headers":[{"header":"x-c","claim":@}]`)},
		limJWTClaimHeader: {Field: "claims_to_headers[*].header", Unit: UnitBytes, Min: 1, Max: hdr, Fill: "x",
			Envoy: "JwtClaimToHeader.header_name is not empty (PGV)", In: jp(`"claims_to_headers":[{"claim":"sub","header":@}]`)},
		limJWTFromHeaders:    {Field: "from_headers", Unit: UnitItems, Max: 16, Fill: `{"name":"x-t{i}"}`, In: jp(`"from_headers":@`)},
		limJWTFromHeaderName: {Field: "from_headers[*].name", Unit: UnitBytes, Min: 1, Max: hdr, Fill: "x", In: jp(`"from_headers":[{"name":@}]`)},
		limJWTFromHeaderPrefix: {Field: "from_headers[*].value_prefix", Unit: UnitBytes, Max: hdr, Fill: "B",
			In: jp(`"from_headers":[{"name":"x-t","value_prefix":@}]`)},
		limJWTFromParams: {Field: "from_params", Unit: UnitItems, Max: 16, Fill: `"p{i}"`, In: jp(`"from_params":@`)},
		limJWTFromParam:  {Field: "from_params[*]", Unit: UnitBytes, Min: 1, Max: hdr, Fill: "p", In: jp(`"from_params":[@]`)},
		limJWTClockSkew: {Field: "clock_skew", Unit: UnitDuration, Min: s, Max: int64(10 * time.Minute), Unset: true,
			Envoy: "JwtProvider.clock_skew_seconds: Envoy counts it in seconds", In: jp(`"clock_skew":@`)},
	}
	for id, l := range out {
		l.Kind = KindJWTProvider
		out[id] = l
	}
	provider := func(field, in string) Limit {
		return Limit{Kind: KindRouteTable, Field: field, Unit: UnitBytes, Max: nameMax, Fill: "j", In: in}
	}
	out[limJWTTableProvider] = provider("policy.jwt.provider", table(jwt+",", "", ""))
	out[limJWTVHostProvider] = provider("virtual_hosts[*].policy.jwt.provider", table("", jwt+",", ""))
	out[limJWTRouteProvider] = provider("virtual_hosts[*].routes[*].policy.jwt.provider", table("", "", ","+jwt))
	return out
}

// checkLimits bounds every size and count of a provider; the policies'
// requirements are bounded where they are validated.
func (j *JWTProvider) checkLimits(v *validator) {
	v.checkLen(limJWTIssuer, len(j.Issuer), "issuer")
	v.checkLen(limJWTAudiences, len(j.Audiences), "audiences")
	for i, a := range j.Audiences {
		v.checkLen(limJWTAudience, len(a), "audiences[", strconv.Itoa(i), "]")
	}
	v.checkLen(limJWKS, len(j.JWKS), "jwks")
	if r := j.RemoteJWKS; r != nil {
		v.checkLen(limJWKSService, len(r.Service), "remote_jwks.service")
		v.checkLen(limJWKSPath, len(r.Path), "remote_jwks.path")
		v.checkDuration(limJWKSCacheDuration, r.CacheDuration, "remote_jwks.cache_duration")
		v.checkDuration(limJWKSTimeout, r.Timeout, "remote_jwks.timeout")
	}
	v.checkLen(limJWTClaims, len(j.ClaimsToHeaders), "claims_to_headers")
	for i, c := range j.ClaimsToHeaders {
		n := strconv.Itoa(i)
		v.checkLen(limJWTClaim, len(c.Claim), "claims_to_headers[", n, "].claim")
		v.checkLen(limJWTClaimHeader, len(c.Header), "claims_to_headers[", n, "].header")
	}
	v.checkLen(limJWTFromHeaders, len(j.FromHeaders), "from_headers")
	for i, h := range j.FromHeaders {
		n := strconv.Itoa(i)
		v.checkLen(limJWTFromHeaderName, len(h.Name), "from_headers[", n, "].name")
		v.checkLen(limJWTFromHeaderPrefix, len(h.ValuePrefix), "from_headers[", n, "].value_prefix")
	}
	v.checkLen(limJWTFromParams, len(j.FromParams), "from_params")
	for i, p := range j.FromParams {
		v.checkLen(limJWTFromParam, len(p), "from_params[", strconv.Itoa(i), "]")
	}
	v.checkDuration(limJWTClockSkew, j.ClockSkew, "clock_skew")
}
