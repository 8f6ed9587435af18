package model

import (
	"regexp/syntax"
	"slices"
)

// simplifyRE2 is RE2's Regexp::Simplify (re2/simplify.cc): first runs of
// repeats of one character coalesce (a*a+ becomes a{1,}), then counted
// repetitions expand into concatenations. simplify returns its argument
// when nothing changed, which matters: RE2 keeps an unchanged x* as is even
// where a rebuilt one would have been squashed.
func simplifyRE2(re *reNode) *reNode { return simplify(coalesce(re)) }

// coalesce returns re itself when nothing in it coalesces.
func coalesce(re *reNode) *reNode {
	subs, copied := re.subs, false
	set := func(i int, n *reNode) {
		if !copied {
			subs, copied = slices.Clone(re.subs), true
		}
		subs[i] = n
	}
	for i, s := range re.subs {
		if c := coalesce(s); c != s {
			set(i, c)
		}
	}
	if re.op == reConcat {
		merged := false
		for i := 0; i+1 < len(subs); i++ {
			if canCoalesce(subs[i], subs[i+1]) {
				a, b := doCoalesce(subs[i], subs[i+1])
				set(i, a)
				set(i+1, b)
				merged = true
			}
		}
		if merged {
			// RE2 drops every empty match left in the concatenation, not
			// only the ones coalescing made.
			subs = slices.DeleteFunc(subs, func(s *reNode) bool { return s.op == reEmptyMatch })
		}
	}
	if !copied {
		return re
	}
	n := *re
	n.subs = subs
	return &n
}

func canCoalesce(r1, r2 *reNode) bool {
	if !r1.isRepeatOp() {
		return false
	}
	s := r1.subs[0]
	if !s.isRune() && s.op != reCharClass && s.op != reAnyChar {
		return false
	}
	switch {
	case r2.isRepeatOp() && equalNodes(s, r2.subs[0]) && r1.nongreedy() == r2.nongreedy():
		return true
	case equalNodes(s, r2):
		return true
	}
	return s.isRune() && r2.op == reLiteral && len(r2.runes) > 1 && r2.runes[0] == s.runes[0] &&
		(s.flags^r2.flags)&syntax.FoldCase == 0
}

// doCoalesce returns what replaces r1 and r2: an empty match and the
// combined repeat, or the repeat and the rest of a literal string.
func doCoalesce(r1, r2 *reNode) (*reNode, *reNode) {
	nre := newNode(reRepeat, r1.flags, r1.subs[0])
	switch r1.op {
	case reStar:
		nre.min, nre.max = 0, -1
	case rePlus:
		nre.min, nre.max = 1, -1
	case reQuest:
		nre.min, nre.max = 0, 1
	default:
		nre.min, nre.max = r1.min, r1.max
	}
	grow := func(n int) {
		nre.min += n
		if nre.max != -1 {
			nre.max += n
		}
	}
	switch r2.op {
	case reStar:
		nre.max = -1
	case rePlus:
		nre.min++
		nre.max = -1
	case reQuest:
		if nre.max != -1 {
			nre.max++
		}
	case reRepeat:
		nre.min += r2.min
		if r2.max == -1 {
			nre.max = -1
		} else if nre.max != -1 {
			nre.max += r2.max
		}
	case reLiteral:
		if len(r2.runes) > 1 {
			n := 1
			for n < len(r2.runes) && r2.runes[n] == r1.subs[0].runes[0] {
				n++
			}
			grow(n)
			if n < len(r2.runes) {
				return nre, &reNode{op: reLiteral, flags: r2.flags, runes: r2.runes[n:]}
			}
			break
		}
		grow(1)
	default:
		grow(1)
	}
	return newNode(reEmptyMatch, 0), nre
}

func simplify(re *reNode) *reNode {
	switch re.op {
	case reConcat, reAlternate, reCapture:
		subs, changed := simplifySubs(re.subs)
		if !changed {
			return re
		}
		n := *re
		n.subs = subs
		return &n
	case reStar, rePlus, reQuest:
		sub := simplify(re.subs[0])
		switch {
		case sub.op == reEmptyMatch:
			return sub
		case sub == re.subs[0]:
			return re
		case sub.op == re.op && sub.flags == re.flags:
			return sub
		}
		return newNode(re.op, re.flags, sub)
	case reRepeat:
		sub := simplify(re.subs[0])
		if sub.op == reEmptyMatch {
			return sub
		}
		return simplifyRepeat(sub, re.min, re.max, re.flags)
	case reCharClass:
		if len(re.runes) == 0 {
			return newNode(reNoMatch, re.flags)
		}
	}
	return re
}

func simplifySubs(subs []*reNode) ([]*reNode, bool) {
	out := make([]*reNode, len(subs))
	changed := false
	for i, s := range subs {
		out[i] = simplify(s)
		changed = changed || out[i] != s
	}
	return out, changed
}

// simplifyRepeat expands x{n,m} into n copies of x and m-n nested x?, so
// x{2,5} is xx(x(x(x)?)?)?, and x{n,} into n-1 copies and x+.
func simplifyRepeat(re *reNode, lo, hi int, f syntax.Flags) *reNode {
	// Repeating an empty-width assertion more than once changes nothing.
	if re.isEmptyWidth() || ((re.op == reConcat || re.op == reAlternate) && allEmptyWidth(re.subs)) {
		lo, hi = min(lo, 1), min(hi, 1)
	}
	if hi == -1 {
		switch lo {
		case 0:
			return starPlusQuest(reStar, re, f)
		case 1:
			return starPlusQuest(rePlus, re, f)
		}
		subs := slices.Repeat([]*reNode{re}, lo-1)
		return concatOf(f, append(subs, starPlusQuest(rePlus, re, f)))
	}
	if lo == 0 && hi == 0 {
		return newNode(reEmptyMatch, f)
	}
	if lo == 1 && hi == 1 {
		return re
	}
	var nre *reNode
	if lo > 0 {
		nre = concatOf(f, slices.Repeat([]*reNode{re}, lo))
	}
	if hi > lo {
		suf := starPlusQuest(reQuest, re, f)
		for i := lo + 1; i < hi; i++ {
			suf = starPlusQuest(reQuest, newNode(reConcat, f, re, suf), f)
		}
		if nre == nil {
			nre = suf
		} else {
			nre = newNode(reConcat, f, nre, suf)
		}
	}
	if nre == nil {
		return newNode(reNoMatch, f)
	}
	return nre
}

func allEmptyWidth(subs []*reNode) bool {
	for _, s := range subs {
		if !s.isEmptyWidth() {
			return false
		}
	}
	return true
}

// starPlusQuest is RE2's Regexp::Star/Plus/Quest, which squash x** and the
// like when the flags agree.
func starPlusQuest(op reOp, sub *reNode, f syntax.Flags) *reNode {
	if sub.op == op && sub.flags == f {
		return sub
	}
	if (sub.op == reStar || sub.op == rePlus || sub.op == reQuest) && sub.flags == f {
		if sub.op == reStar {
			return sub
		}
		return newNode(reStar, f, sub.subs[0])
	}
	return newNode(op, f, sub)
}

// stripAnchor is RE2's IsAnchorStart (atEnd false) or IsAnchorEnd: a leading
// \A (or trailing \z) up to four levels into concatenations and captures is
// removed from the program and recorded as a flag instead.
func stripAnchor(re *reNode, atEnd bool, depth int) (*reNode, bool) {
	anchor := reBeginText
	if atEnd {
		anchor = reEndText
	}
	if depth >= 4 {
		return re, false
	}
	switch re.op {
	case reConcat:
		if len(re.subs) == 0 {
			return re, false
		}
		i := 0
		if atEnd {
			i = len(re.subs) - 1
		}
		s, ok := stripAnchor(re.subs[i], atEnd, depth+1)
		if !ok {
			return re, false
		}
		subs := slices.Clone(re.subs)
		subs[i] = s
		return concatOf(re.flags, subs), true
	case reCapture:
		s, ok := stripAnchor(re.subs[0], atEnd, depth+1)
		if !ok {
			return re, false
		}
		n := *re
		n.subs = []*reNode{s}
		return &n, true
	case anchor:
		return newNode(reEmptyMatch, re.flags), true
	}
	return re, false
}
