package model

import (
	"fmt"
	"regexp/syntax"
	"strings"
	"unicode"
)

// Classes, in latin1Pattern's rewriting: RE2 makes a literal of a class of
// one character, and knows its Unicode tables by exact names only.

// class rewrites a bracketed class. A ] right after [ or [^ is a literal.
func (w *latin1Writer) class() error {
	start, srcStart := w.out.Len(), w.i
	w.out.WriteByte('[')
	w.i++
	if strings.HasPrefix(w.src[w.i:], "^") {
		w.out.WriteByte('^')
		w.i++
	}
	for first := true; ; first = false {
		if w.i >= len(w.src) {
			return errUnreadable
		}
		c := w.src[w.i]
		switch {
		case c == ']' && !first:
			w.out.WriteByte(c)
			w.i++
			w.classAsLiteral(start, w.src[srcStart:w.i])
			return nil
		case c == '\\':
			if err := w.escape(true); err != nil {
				return err
			}
		case strings.HasPrefix(w.src[w.i:], "[:") && strings.Contains(w.src[w.i+2:], ":]"):
			// A POSIX class such as [:alpha:]; they are all ASCII.
			n := strings.Index(w.src[w.i+2:], ":]") + 4
			w.out.WriteString(w.src[w.i : w.i+n])
			w.i += n
		default:
			// A range between multibyte characters reads differently
			// byte by byte: Go may refuse what the Latin-1 reading allows.
			if c == '-' && (w.src[w.i-1] >= 0x80 || w.i+1 < len(w.src) && w.src[w.i+1] >= 0x80) {
				w.suspect = true
			}
			w.byteRune(c)
			w.i++
		}
	}
}

// classAsLiteral rewrites the class src, written from start, as a literal
// if it holds one Latin-1 character, or one ASCII letter in both cases.
func (w *latin1Writer) classAsLiteral(start int, src string) {
	set, ok := plainClassSet(src, w.folding())
	if !ok {
		set, ok = w.parsedClassSet(start)
	}
	if !ok {
		return
	}
	if lit, ok := literalFor(&set); ok {
		w.out.Truncate(start)
		w.out.WriteString(lit)
	}
}

// plainClassSet is the Latin-1 set of a class made of bytes and ranges of
// bytes only, as most are; ok is false for any other class.
func plainClassSet(src string, fold bool) (set [256]bool, ok bool) {
	body, negated := strings.CutPrefix(src[1:len(src)-1], "^")
	if strings.ContainsAny(body, `\[`) {
		return set, false
	}
	for i := 0; i < len(body); i++ {
		lo, hi := body[i], body[i]
		if i+2 < len(body) && body[i+1] == '-' {
			hi = body[i+2]
			i += 2
		}
		if lo > hi {
			return set, false // Go reports the bad range
		}
		for c := int(lo); c <= int(hi); c++ {
			set[c] = true
		}
	}
	if fold {
		for c := 'A'; c <= 'Z'; c++ {
			set[c] = set[c] || set[c+'a'-'A']
			set[c+'a'-'A'] = set[c]
		}
	}
	if negated {
		for c := range set {
			set[c] = !set[c]
		}
	}
	return set, true
}

// parsedClassSet asks Go's parser for the class written from start.
func (w *latin1Writer) parsedClassSet(start int) (set [256]bool, ok bool) {
	flags := syntax.Perl
	if w.folding() {
		flags |= syntax.FoldCase
	}
	re, err := syntax.Parse(string(w.out.Bytes()[start:]), flags)
	if err != nil {
		return set, false // Go reports it when it parses the whole pattern
	}
	switch re.Op {
	case syntax.OpCharClass:
		addRanges(&set, latin1Class(re.Rune))
	case syntax.OpLiteral:
		if lit := literalFromSyntax(re); lit != nil {
			addToSet(&set, lit)
		}
	default:
		return set, false
	}
	return set, true
}

// literalFor is the literal RE2's parser makes of a class (PushRegexp): a
// single character, or an ASCII letter in both cases, matched with (?i).
func literalFor(set *[256]bool) (string, bool) {
	ranges := setRanges(set)
	switch {
	case len(ranges) == 2 && ranges[0] == ranges[1]:
		r := ranges[0]
		if r >= 0x80 {
			r += latin1PUA
		}
		return fmt.Sprintf(`\x{%X}`, r), true
	case len(ranges) == 4 && ranges[0] == ranges[1] && ranges[2] == ranges[3] &&
		'A' <= ranges[0] && ranges[0] <= 'Z' && ranges[2] == ranges[0]+'a'-'A':
		return "(?i:" + string(ranges[2]) + ")", true
	}
	return "", false
}

// unicodeClass writes the Latin-1 part of a \p table. Inside a class a
// negated table is written as its complement, folded first under (?i) as
// RE2 does; an empty result is written as two private-use runes that Go
// keeps as a class and that nothing maps back to Latin-1.
func (w *latin1Writer) unicodeClass(name string, negated, inClass bool) error {
	if strings.HasPrefix(name, "^") {
		negated, name = !negated, name[1:]
	}
	// RE2 knows Any, the categories and the scripts by their exact names;
	// Go also accepts aliases, other spellings and LC.
	table := unicode.Categories[name]
	if table == nil || name == "LC" {
		table = unicode.Scripts[name]
	}
	if table == nil && name != "Any" {
		return fmt.Errorf("%w: it has no Unicode class named %q", errRE2Refuses, name)
	}
	var set [256]bool
	for r := rune(0); r < 256; r++ {
		set[r] = table == nil || unicode.Is(table, r)
		if w.folding() && isASCIILetter(r) && table != nil && unicode.Is(table, r^0x20) {
			set[r] = true
		}
	}
	if negated {
		for r := range set {
			set[r] = !set[r]
		}
	}
	if !inClass {
		if lit, ok := literalFor(&set); ok {
			w.out.WriteString(lit)
			return nil
		}
	}
	text := latin1RangesText(&set)
	switch {
	case inClass && text == "":
		w.out.WriteString(`\x{E000}\x{E002}`)
	case inClass:
		w.out.WriteString(text)
	case text == "":
		w.out.WriteString(`[^\x00-\x{10FFFF}]`)
	default:
		w.out.WriteString("[" + text + "]")
	}
	return nil
}

func isASCIILetter(r rune) bool { return ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') }

// latin1RangesText writes a Latin-1 set as class ranges, bytes from 0x80 as
// their private-use runes.
func latin1RangesText(set *[256]bool) string {
	var b strings.Builder
	for _, r := range splitAt80(setRanges(set)) {
		fmt.Fprintf(&b, `\x{%X}-\x{%X}`, r[0], r[1])
	}
	return b.String()
}

func splitAt80(ranges []rune) [][2]rune {
	var out [][2]rune
	shift := func(r rune) rune {
		if r >= 0x80 {
			return r + latin1PUA
		}
		return r
	}
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if lo < 0x80 && hi >= 0x80 {
			out = append(out, [2]rune{lo, 0x7F})
			lo = 0x80
		}
		out = append(out, [2]rune{shift(lo), shift(hi)})
	}
	return out
}
