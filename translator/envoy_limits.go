package translator

import "strings"

// The model validates what Envoy checks at load time; envoyValid is the
// last guard, Envoy's own proto validation, before anything is sent.

// validatable is every generated Envoy message: ValidateAll runs its
// protoc-gen-validate rules.
type validatable interface{ ValidateAll() error }

// envoyValid runs a resource's generated validation; it exists so that the
// call sites read as the policy ("never send what Envoy refuses").
func envoyValid(m validatable) error { return m.ValidateAll() }

// literalHeaderValue escapes '%': Envoy reads header values as
// access-log-style format strings, where a lone '%' (as in "100%") is a
// load error and "%VAR%" is a substitution. The model's value is literal.
func literalHeaderValue(v string) string {
	return strings.ReplaceAll(v, "%", "%%")
}
