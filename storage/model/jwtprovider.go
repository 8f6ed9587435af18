package model

// JWTProvider is one issuer of JSON Web Tokens and the keys that verify
// them. Key: jwt_providers/<name>.
type JWTProvider struct{}

// Validate checks every field and reports all problems at once.
func (j *JWTProvider) Validate() error { return (&validator{}).err() }

// JWTRequirement is a policy's demand for a token.
type JWTRequirement struct{}

func (j *JWTRequirement) validate(v *validator, p string) {}

// JWTProviders returns, sorted and once each, the providers the table's
// policies name.
func (rt *RouteTable) JWTProviders() []string { return nil }
