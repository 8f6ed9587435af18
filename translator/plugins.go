package translator

// plugins are the policy features, registered here and nowhere else. Their
// HTTP filters run in this order, before the router: CORS answers
// preflights first; then who the caller is (JWT), whether it may (external
// authorization, RBAC), how fast (local, then global rate limits); faults
// are injected last, into requests that would reach the upstream.
var plugins = []plugin{
	corsPlugin{},
	jwtPlugin{},
	extAuthzPlugin{},
	rbacPlugin{},
	rateLimitPlugin{},
	faultPlugin{},
	mirrorPlugin{},
	routingPlugin{},
	accessLogPlugin{},
	tracingPlugin{},
	localityPlugin{},
}
