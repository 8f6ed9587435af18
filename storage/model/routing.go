package model

// RegexRewrite rewrites the path of a forwarded request by a regex.
type RegexRewrite struct{}

// HashPolicy is one input of a ring_hash or maglev service's hash.
type HashPolicy struct{}

// QueryParameterMatch matches one query parameter.
type QueryParameterMatch struct{}

// CORS is a policy's cross-origin rules.
type CORS struct{}

func (c *CORS) validate(v *validator, p string) {}

// RetryBudget caps a service's retries as a share of its active requests.
type RetryBudget struct{}

func (r *Route) validateRouting(v *validator, p string) {}

func (m *RouteMatch) validateQueryParameters(v *validator, p string) {}

func (s *Service) validateRouting(v *validator) {}
