package model

import (
	"regexp/syntax"
	"slices"
)

// reNode is a regexp in the shape RE2's parser (re2/parse.cc) builds, which
// is what its simplifier and compiler see. Go's regexp/syntax is a port of
// that parser; fromSyntax undoes the places where the port differs.
type reNode struct {
	op       reOp
	flags    syntax.Flags
	runes    []rune // reLiteral: the runes; reCharClass: sorted [lo, hi] pairs
	min, max int    // reRepeat
	cap      int    // reCapture
	name     string // reCapture
	subs     []*reNode
}

type reOp uint8

const (
	reNoMatch reOp = iota + 1
	reEmptyMatch
	reLiteral // RE2's Literal with one rune, LiteralString with more
	reCharClass
	reAnyChar
	reBeginLine
	reEndLine
	reBeginText
	reEndText
	reWordBoundary
	reNoWordBoundary
	reCapture
	reStar
	rePlus
	reQuest
	reRepeat
	reConcat
	reAlternate
	// reUnsupported stands for an op of Go's that RE2 has no counterpart
	// for; it compiles to a program over the size limit.
	reUnsupported
)

func (n *reNode) nongreedy() bool { return n.flags&syntax.NonGreedy != 0 }

// isRune is RE2's kRegexpLiteral: a literal of exactly one rune.
func (n *reNode) isRune() bool { return n.op == reLiteral && len(n.runes) == 1 }

func (n *reNode) isRepeatOp() bool {
	return n.op == reStar || n.op == rePlus || n.op == reQuest || n.op == reRepeat
}

func (n *reNode) isEmptyWidth() bool { return n.op >= reBeginLine && n.op <= reNoWordBoundary }

func newNode(op reOp, flags syntax.Flags, subs ...*reNode) *reNode {
	return &reNode{op: op, flags: flags, subs: subs}
}

// concatOf and alternateOf are RE2's Concat and AlternateNoFactor: one
// operand is returned as is.
func concatOf(flags syntax.Flags, subs []*reNode) *reNode {
	switch len(subs) {
	case 0:
		return newNode(reEmptyMatch, flags)
	case 1:
		return subs[0]
	}
	return newNode(reConcat, flags, subs...)
}

func alternateOf(flags syntax.Flags, subs []*reNode) *reNode {
	switch len(subs) {
	case 0:
		return newNode(reNoMatch, flags)
	case 1:
		return subs[0]
	}
	return newNode(reAlternate, flags, subs...)
}

// fromSyntax converts Go's parse of the rewritten pattern (see
// latin1Pattern): private-use runes go back to the Latin-1 bytes they stand
// for, alternative markers vanish, and alternations are rebuilt and
// factored the way RE2's parser does it. It returns nil for a node that
// held only markers.
func fromSyntax(re *syntax.Regexp) *reNode {
	switch re.Op {
	case syntax.OpNoMatch:
		return newNode(reNoMatch, re.Flags)
	case syntax.OpEmptyMatch:
		return newNode(reEmptyMatch, re.Flags)
	case syntax.OpLiteral:
		return literalFromSyntax(re)
	case syntax.OpCharClass:
		if len(re.Rune) == 2 && re.Rune[0] == 0x10FFFE && re.Rune[1] == 0x10FFFF {
			return newNode(reEmptyMatch, re.Flags) // see emptyGroup
		}
		return classFromRanges(latin1Class(re.Rune), re.Flags)
	case syntax.OpAnyCharNotNL:
		// RE2 parses . as the class [^\n], not as a special op.
		return &reNode{op: reCharClass, flags: re.Flags &^ syntax.FoldCase, runes: []rune{0, '\n' - 1, '\n' + 1, 0xFF}}
	case syntax.OpAnyChar:
		return newNode(reAnyChar, re.Flags)
	case syntax.OpBeginLine:
		return newNode(reBeginLine, re.Flags)
	case syntax.OpEndLine:
		return newNode(reEndLine, re.Flags)
	case syntax.OpBeginText:
		return newNode(reBeginText, re.Flags)
	case syntax.OpEndText:
		return newNode(reEndText, re.Flags)
	case syntax.OpWordBoundary:
		return newNode(reWordBoundary, re.Flags)
	case syntax.OpNoWordBoundary:
		return newNode(reNoWordBoundary, re.Flags)
	case syntax.OpCapture:
		n := newNode(reCapture, re.Flags, subFromSyntax(re.Sub[0]))
		n.cap, n.name = re.Cap, re.Name
		return n
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		return repeatOpFromSyntax(re)
	case syntax.OpRepeat:
		n := newNode(reRepeat, re.Flags, subFromSyntax(re.Sub[0]))
		n.min, n.max = re.Min, re.Max
		return n
	case syntax.OpConcat:
		var subs []*reNode
		for _, s := range re.Sub {
			// RE2 flattens a concatenation inside a concatenation.
			switch n := fromSyntax(s); {
			case n == nil:
			case n.op == reConcat:
				subs = append(subs, n.subs...)
			default:
				subs = append(subs, n)
			}
		}
		if len(subs) == 0 {
			return nil
		}
		return concatOf(re.Flags, subs)
	case syntax.OpAlternate:
		return alternationFromSyntax(re)
	}
	return newNode(reUnsupported, re.Flags)
}

func subFromSyntax(re *syntax.Regexp) *reNode {
	if n := fromSyntax(re); n != nil {
		return n
	}
	return newNode(reEmptyMatch, re.Flags)
}

func literalFromSyntax(re *syntax.Regexp) *reNode {
	runes := make([]rune, 0, len(re.Rune))
	for _, r := range re.Rune {
		if r >= markerBase {
			continue
		}
		r = latin1Rune(r)
		// Go keeps the smallest rune of a case-folding orbit; RE2 in Latin-1
		// folds ASCII letters only and keeps the lower case one.
		if re.Flags&syntax.FoldCase != 0 && 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		runes = append(runes, r)
	}
	if len(runes) == 0 {
		return nil
	}
	return &reNode{op: reLiteral, flags: re.Flags, runes: runes}
}

// classFromRanges is RE2's PushRegexp for a parsed class: one rune becomes
// a literal, and [Aa] a case-folded literal. latin1Pattern already writes
// such classes as literals; this catches what only clipping made so.
func classFromRanges(ranges []rune, flags syntax.Flags) *reNode {
	if len(ranges) == 2 && ranges[0] == ranges[1] {
		return &reNode{op: reLiteral, flags: flags, runes: []rune{ranges[0]}}
	}
	if r := ranges; len(r) == 4 && r[0] == r[1] && r[2] == r[3] && 'A' <= r[0] && r[0] <= 'Z' && r[2] == r[0]+'a'-'A' {
		return &reNode{op: reLiteral, flags: flags | syntax.FoldCase, runes: []rune{r[2]}}
	}
	return &reNode{op: reCharClass, flags: flags, runes: ranges}
}

// latin1Class keeps the part of a Go class that stands for Latin-1 bytes:
// ASCII as is, U+E080-U+E0FF as bytes 0x80-0xFF. Runes Go added by folding
// outside ASCII, or by negating the class, fall outside both and go.
func latin1Class(ranges []rune) []rune {
	var out []rune
	add := func(lo, hi rune) {
		if n := len(out); n > 0 && out[n-1]+1 >= lo {
			out[n-1] = max(out[n-1], hi)
			return
		}
		out = append(out, lo, hi)
	}
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if lo <= 0x7F {
			add(lo, min(hi, 0x7F))
		}
		if plo, phi := max(lo, latin1PUA+0x80), min(hi, latin1PUA+0xFF); plo <= phi {
			add(plo-latin1PUA, phi-latin1PUA)
		}
	}
	return out
}

func latin1Rune(r rune) rune {
	if latin1PUA+0x80 <= r && r <= latin1PUA+0xFF {
		return r - latin1PUA
	}
	return r
}

// repeatOpFromSyntax applies the squashing RE2's parser does when a *, + or
// ? applies directly to another one with the same flags, as in (?:a+)*.
func repeatOpFromSyntax(re *syntax.Regexp) *reNode {
	op := reQuest
	switch re.Op {
	case syntax.OpStar:
		op = reStar
	case syntax.OpPlus:
		op = rePlus
	}
	sub := subFromSyntax(re.Sub[0])
	if (sub.op == reStar || sub.op == rePlus || sub.op == reQuest) && sub.flags == re.Flags {
		if sub.op != op {
			sub.op = reStar
		}
		return sub
	}
	return newNode(op, re.Flags, sub)
}

// alternationFromSyntax rebuilds an alternation as RE2's parser does: at
// each | a (?s). swallows a neighbouring single character or class, nested
// alternations are flattened, and then common prefixes are factored out.
func alternationFromSyntax(re *syntax.Regexp) *reNode {
	var alts []*reNode
	for _, s := range re.Sub {
		r1 := subFromSyntax(s)
		if n := len(alts); n > 0 {
			r3 := alts[n-1]
			if r3.op == reAnyChar && (r1.isRune() || r1.op == reCharClass || r1.op == reAnyChar) {
				continue
			}
			if r1.op == reAnyChar && (r3.isRune() || r3.op == reCharClass || r3.op == reAnyChar) {
				alts[n-1] = r1
				continue
			}
		}
		alts = append(alts, r1)
	}
	var flat []*reNode
	for _, a := range alts {
		if a.op == reAlternate {
			flat = append(flat, a.subs...)
		} else {
			flat = append(flat, a)
		}
	}
	return alternateOf(re.Flags, factorAlternation(flat, re.Flags))
}

// equalNodes is RE2's Regexp::Equal.
func equalNodes(a, b *reNode) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.op != b.op || len(a.subs) != len(b.subs) {
		return false
	}
	switch a.op {
	case reEndText:
		if (a.flags^b.flags)&syntax.WasDollar != 0 {
			return false
		}
	case reLiteral:
		if (a.flags^b.flags)&syntax.FoldCase != 0 || !slices.Equal(a.runes, b.runes) {
			return false
		}
	case reCharClass:
		if !slices.Equal(a.runes, b.runes) {
			return false
		}
	case reStar, rePlus, reQuest, reRepeat:
		if (a.flags^b.flags)&syntax.NonGreedy != 0 || a.min != b.min || a.max != b.max {
			return false
		}
	case reCapture:
		if a.cap != b.cap || a.name != b.name {
			return false
		}
	}
	for i := range a.subs {
		if !equalNodes(a.subs[i], b.subs[i]) {
			return false
		}
	}
	return true
}

// foldsASCII reports whether a class treats A-Z as it treats a-z.
func foldsASCII(ranges []rune) bool {
	for c := 'A'; c <= 'Z'; c++ {
		if inRanges(ranges, c) != inRanges(ranges, c+'a'-'A') {
			return false
		}
	}
	return true
}

func inRanges(ranges []rune, r rune) bool {
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i] <= r && r <= ranges[i+1] {
			return true
		}
	}
	return false
}
