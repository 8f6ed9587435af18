// Package names holds the rule every name Chancery uses follows: an
// object's name (each part of it), a node group, a resource name sent to
// Envoy.
package names

import "regexp"

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,251}[a-zA-Z0-9])?$`)

// Valid reports whether s is a valid name: 1 to 253 letters, digits, '.',
// '_' and '-', beginning and ending with a letter or digit.
func Valid(s string) bool { return nameRE.MatchString(s) }
