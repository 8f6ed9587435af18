package model

import (
	"errors"
	"fmt"
	"regexp/syntax"
)

// MaxRE2ProgramSize is the largest RE2 program Envoy accepts for a regex:
// the default of its runtime key re2.max_program_size.error_level.
const MaxRE2ProgramSize = 100

// re2SizeLimit bounds the work spent on one pattern: a program that grows
// this large is reported with this size, which is far over the limit.
const re2SizeLimit = 1 << 14

// errRE2Refuses marks a pattern Go accepts and Envoy's RE2 refuses.
//
//lint:ignore ST1005 the message starts with a name, Envoy
var errRE2Refuses = errors.New("Envoy's RE2 refuses the pattern")

// checkRE2Size refuses a regex Envoy would refuse for its RE2 program size,
// or because its RE2, which reads patterns as Latin-1, rejects an escape.
// A pattern Go's regexp rejects is left to checkRegex.
func checkRE2Size(v *validator, field, re string) {
	if re == "" {
		return
	}
	size, err := re2ProgramSize(re)
	switch {
	case errors.Is(err, errRE2Refuses):
		v.add(field, "%v", err)
	case err != nil:
	case size > MaxRE2ProgramSize:
		v.add(field, "RE2 program size %d exceeds Envoy's limit of %d", size, MaxRE2ProgramSize)
	}
}

// re2ProgramSize is the RE2::ProgramSize() Envoy computes for pattern and
// compares with MaxRE2ProgramSize. It follows RE2::Init: parse (Latin-1,
// like the RE2 Envoy ships), strip a ^literal prefix, simplify, strip the
// anchors, compile, optimize, flatten. Sizes of re2SizeLimit or more are
// reported as re2SizeLimit.
func re2ProgramSize(pattern string) (int, error) {
	// The original is parsed only when the rewritten pattern cannot stand
	// for it: a pattern Go refuses is reported with Go's error.
	rewritten, suspect, err := latin1Pattern(pattern)
	var re *syntax.Regexp
	if err == nil {
		re, err = syntax.Parse(rewritten, syntax.Perl)
		if err != nil {
			err = fmt.Errorf("%w: read as Latin-1: %v", errRE2Refuses, err)
		}
	}
	if err != nil || suspect {
		if _, goErr := syntax.Parse(pattern, syntax.Perl); goErr != nil {
			return 0, goErr
		}
	}
	if err != nil {
		return 0, err
	}
	tree := subFromSyntax(re)
	tree = simplifyRE2(requiredPrefix(tree))
	tree, anchorStart := stripAnchor(tree, false, 0)
	tree, _ = stripAnchor(tree, true, 0)
	return programSize(tree, anchorStart, re2SizeLimit), nil
}
