package model

import "regexp/syntax"

// factorAlternation is RE2's Regexp::FactorAlternation (re2/parse.cc): three
// rounds over the branches of an alternation, each factoring runs of
// adjacent branches, the first two recursing into what is left of them.
// Go's port skips empty-width prefixes in round 2 and merges single
// characters before round 1, so its result cannot be reused as is.
func factorAlternation(sub []*reNode, flags syntax.Flags) []*reNode {
	sub = factorLiteralPrefixes(sub, flags)
	sub = factorLeadingRegexps(sub, flags)
	return mergeCharRuns(sub, flags)
}

// factorLiteralPrefixes is round 1: abc|abd becomes ab(?:c|d).
func factorLiteralPrefixes(sub []*reNode, flags syntax.Flags) []*reNode {
	var out []*reNode
	start := 0
	var prefix []rune
	var pflags syntax.Flags
	for i := 0; i <= len(sub); i++ {
		var ri []rune
		var fi syntax.Flags
		if i < len(sub) {
			ri, fi = leadingString(sub[i])
			if fi == pflags {
				same := 0
				for same < len(prefix) && same < len(ri) && prefix[same] == ri[same] {
					same++
				}
				if same > 0 {
					prefix = prefix[:same]
					continue
				}
			}
		}
		switch i - start {
		case 0:
		case 1:
			out = append(out, sub[start])
		default:
			p := &reNode{op: reLiteral, flags: pflags, runes: append([]rune(nil), prefix...)}
			suffixes := append([]*reNode(nil), sub[start:i]...)
			for _, s := range suffixes {
				removeLeadingString(s, len(prefix))
			}
			out = append(out, newNode(reConcat, flags, p, alternateOf(flags, factorAlternation(suffixes, flags))))
		}
		if i < len(sub) {
			start, prefix, pflags = i, ri, fi
		}
	}
	return out
}

func leadingString(re *reNode) ([]rune, syntax.Flags) {
	for re.op == reConcat && len(re.subs) > 0 {
		re = re.subs[0]
	}
	if re.op == reLiteral {
		return re.runes, re.flags & syntax.FoldCase
	}
	return nil, re.flags & syntax.FoldCase
}

// removeLeadingString cuts n runes off the literal re starts with, in place,
// and drops the concatenations (at most four deep, as in RE2) it empties.
func removeLeadingString(re *reNode, n int) {
	var stk []*reNode
	for re.op == reConcat && len(re.subs) > 0 {
		if len(stk) < 4 {
			stk = append(stk, re)
		}
		re = re.subs[0]
	}
	if re.op == reLiteral {
		if n >= len(re.runes) {
			re.op, re.runes = reEmptyMatch, nil
		} else {
			re.runes = re.runes[n:]
		}
	}
	for d := len(stk) - 1; d >= 0; d-- {
		c := stk[d]
		if c.subs[0].op != reEmptyMatch {
			continue
		}
		switch len(c.subs) {
		case 1:
			c.op, c.subs = reEmptyMatch, nil
		case 2:
			*c = *c.subs[1]
		default:
			c.subs = c.subs[1:]
		}
	}
}

// factorLeadingRegexps is round 2: a common first piece that is an
// empty-width assertion, a class, or a fixed repeat of a single character
// is factored, so ^a|^b becomes ^(?:a|b).
func factorLeadingRegexps(sub []*reNode, flags syntax.Flags) []*reNode {
	var out []*reNode
	start := 0
	var first *reNode
	for i := 0; i <= len(sub); i++ {
		var fi *reNode
		if i < len(sub) {
			fi = leadingRegexp(sub[i])
			if first != nil && factorable(first) && equalNodes(first, fi) {
				continue
			}
		}
		switch i - start {
		case 0:
		case 1:
			out = append(out, sub[start])
		default:
			suffixes := make([]*reNode, 0, i-start)
			for _, s := range sub[start:i] {
				suffixes = append(suffixes, removeLeadingRegexp(s))
			}
			out = append(out, newNode(reConcat, flags, first, alternateOf(flags, factorAlternation(suffixes, flags))))
		}
		if i < len(sub) {
			start, first = i, fi
		}
	}
	return out
}

func factorable(re *reNode) bool {
	switch re.op {
	case reBeginLine, reEndLine, reWordBoundary, reNoWordBoundary, reBeginText, reEndText, reCharClass, reAnyChar:
		return true
	case reRepeat:
		s := re.subs[0]
		return re.min == re.max && (s.isRune() || s.op == reCharClass || s.op == reAnyChar)
	}
	return false
}

func leadingRegexp(re *reNode) *reNode {
	if re.op == reEmptyMatch {
		return nil
	}
	if re.op == reConcat && len(re.subs) >= 2 {
		if re.subs[0].op == reEmptyMatch {
			return nil
		}
		return re.subs[0]
	}
	return re
}

func removeLeadingRegexp(re *reNode) *reNode {
	if re.op == reEmptyMatch {
		return re
	}
	if re.op == reConcat && len(re.subs) >= 2 {
		if re.subs[0].op == reEmptyMatch {
			return re
		}
		if len(re.subs) == 2 {
			return re.subs[1]
		}
		re.subs = re.subs[1:]
		return re
	}
	return newNode(reEmptyMatch, re.flags)
}

// mergeCharRuns is round 3: a run of single characters and classes becomes
// one class, so a|b|[cd] becomes [a-d].
func mergeCharRuns(sub []*reNode, flags syntax.Flags) []*reNode {
	var out []*reNode
	start := 0
	isChar := func(n *reNode) bool { return n.isRune() || n.op == reCharClass }
	for i := 0; i <= len(sub); i++ {
		if i < len(sub) && i > start && isChar(sub[start]) && isChar(sub[i]) {
			continue
		}
		switch i - start {
		case 0:
		case 1:
			out = append(out, sub[start])
		default:
			var set [256]bool
			for _, s := range sub[start:i] {
				addToSet(&set, s)
			}
			out = append(out, &reNode{op: reCharClass, flags: flags, runes: setRanges(&set)})
		}
		start = i
	}
	return out
}

// addToSet adds a single character (folded for ASCII letters if its flags
// say so) or a class to a Latin-1 set.
func addToSet(set *[256]bool, n *reNode) {
	if n.op == reCharClass {
		addRanges(set, n.runes)
		return
	}
	r := n.runes[0]
	if r > 0xFF {
		return
	}
	set[r] = true
	if n.flags&syntax.FoldCase != 0 {
		switch {
		case 'a' <= r && r <= 'z':
			set[r-'a'+'A'] = true
		case 'A' <= r && r <= 'Z':
			set[r-'A'+'a'] = true
		}
	}
}

func addRanges(set *[256]bool, ranges []rune) {
	for i := 0; i+1 < len(ranges); i += 2 {
		for r := ranges[i]; r <= ranges[i+1] && r <= 0xFF; r++ {
			set[r] = true
		}
	}
}

func setRanges(set *[256]bool) []rune {
	var out []rune
	for r := rune(0); r < 256; r++ {
		if !set[r] {
			continue
		}
		if n := len(out); n > 0 && out[n-1] == r-1 {
			out[n-1] = r
		} else {
			out = append(out, r, r)
		}
	}
	return out
}

// requiredPrefix is RE2's Regexp::RequiredPrefix: for ^literal... RE2
// compiles only what follows the literal (and the ^ goes with it).
func requiredPrefix(re *reNode) *reNode {
	if re.op != reConcat {
		return re
	}
	i := 0
	for i < len(re.subs) && re.subs[i].op == reBeginText {
		i++
	}
	if i == 0 || i >= len(re.subs) || re.subs[i].op != reLiteral {
		return re
	}
	return concatOf(re.flags, re.subs[i+1:])
}
