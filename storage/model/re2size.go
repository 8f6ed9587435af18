package model

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode"
)

// MaxRE2ProgramSize is the largest RE2 program Envoy accepts for a regex:
// the default of its runtime key re2.max_program_size.error_level.
const MaxRE2ProgramSize = 100

// re2SizeLimit bounds the work spent on one pattern: a program that grows
// this large is reported with this size, which is far over the limit.
const re2SizeLimit = 1 << 14

// Runes the rewritten pattern uses for what Go must not interpret itself.
const (
	latin1PUA  = 0xE000  // U+E080-U+E0FF stand for bytes 0x80-0xFF
	markerBase = 0xF0000 // each alternative starts with two of one marker
	markerMax  = 0x10FFFD
)

// errRE2Refuses marks a pattern Go accepts and Envoy's RE2 refuses.
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
	if _, err := syntax.Parse(pattern, syntax.Perl); err != nil {
		return 0, err
	}
	rewritten, err := latin1Pattern(pattern)
	if err != nil {
		return 0, err
	}
	re, err := syntax.Parse(rewritten, syntax.Perl)
	if err != nil {
		return 0, fmt.Errorf("%w: read as Latin-1: %v", errRE2Refuses, err)
	}
	tree := subFromSyntax(re)
	tree = simplifyRE2(requiredPrefix(tree))
	tree, anchorStart := stripAnchor(tree, false, 0)
	tree, _ = stripAnchor(tree, true, 0)
	return programSize(tree, anchorStart, re2SizeLimit), nil
}

// latin1Pattern rewrites a pattern Go accepts so that Go's parser builds the
// tree RE2's parser would:
//   - Envoy's RE2 reads the pattern as Latin-1, one rune per byte, and folds
//     case for ASCII letters only. Bytes 0x80-0xFF, and escapes of those
//     values, become private-use runes Go never case-folds; \p classes
//     become the Latin-1 part of their table, written out; escapes above
//     0xFF are refused as RE2 does.
//   - Every alternative starts with its own marker, so that Go neither
//     factors nor merges alternatives: RE2 does that differently, and
//     fromSyntax does it RE2's way once the markers are gone.
func latin1Pattern(p string) (string, error) {
	w := &latin1Writer{src: p, fold: []bool{false}}
	w.out.Grow(len(p) + 16)
	if err := w.marker(); err != nil {
		return "", err
	}
	for w.i < len(p) {
		if err := w.step(); err != nil {
			return "", err
		}
	}
	return w.out.String(), nil
}

type latin1Writer struct {
	src   string
	i     int
	out   strings.Builder
	fold  []bool // (?i) per open group, innermost last
	nalts int
}

func (w *latin1Writer) marker() error {
	r := rune(markerBase + w.nalts)
	if r > markerMax {
		return fmt.Errorf("%w: too many alternatives", errRE2Refuses)
	}
	w.nalts++
	w.out.WriteRune(r)
	w.out.WriteRune(r)
	return nil
}

// step rewrites one token outside a class.
func (w *latin1Writer) step() error {
	c := w.src[w.i]
	switch {
	case c >= 0x80:
		w.out.WriteRune(latin1PUA + rune(c))
		w.i++
	case c == '\\':
		return w.escape(false)
	case c == '[':
		return w.class()
	case c == '(':
		return w.group()
	case c == ')':
		w.out.WriteByte(c)
		w.i++
		if len(w.fold) > 1 {
			w.fold = w.fold[:len(w.fold)-1]
		}
	case c == '|':
		w.out.WriteByte(c)
		w.i++
		return w.marker()
	default:
		w.out.WriteByte(c)
		w.i++
	}
	return nil
}

// group copies a group opening, tracking (?i), and marks where its first
// alternative begins; a bare flag group (?i) opens nothing.
func (w *latin1Writer) group() error {
	rest := w.src[w.i:]
	fold := w.fold[len(w.fold)-1]
	end := 1
	switch {
	case strings.HasPrefix(rest, "(?P<") || strings.HasPrefix(rest, "(?<"):
		end = strings.IndexByte(rest, '>') + 1
	case strings.HasPrefix(rest, "(?"):
		end = strings.IndexAny(rest, ":)") + 1
		for _, f := range strings.Split(rest[2:end-1], "-")[0] {
			fold = fold || f == 'i'
		}
		if strings.Contains(rest[2:end-1], "-") && strings.ContainsRune(strings.SplitN(rest[2:end-1], "-", 2)[1], 'i') {
			fold = false
		}
		if rest[end-1] == ')' {
			w.out.WriteString(rest[:end])
			w.i += end
			w.fold[len(w.fold)-1] = fold
			return nil
		}
	}
	w.out.WriteString(rest[:end])
	w.i += end
	w.fold = append(w.fold, fold)
	return w.marker()
}

// class rewrites a bracketed class. A ] right after [ or [^ is a literal.
func (w *latin1Writer) class() error {
	w.out.WriteByte('[')
	w.i++
	if w.src[w.i] == '^' {
		w.out.WriteByte('^')
		w.i++
	}
	for first := true; ; first = false {
		c := w.src[w.i]
		switch {
		case c == ']' && !first:
			w.out.WriteByte(c)
			w.i++
			return nil
		case c >= 0x80:
			w.out.WriteRune(latin1PUA + rune(c))
			w.i++
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
			w.out.WriteByte(c)
			w.i++
		}
	}
}

// escape rewrites one backslash escape.
func (w *latin1Writer) escape(inClass bool) error {
	rest := w.src[w.i:]
	switch c := rest[1]; {
	case c == 'Q' && !inClass:
		lit, n := rest[2:], len(rest)
		if j := strings.Index(lit, `\E`); j >= 0 {
			lit, n = lit[:j], j+4
		}
		w.out.WriteString(`\Q`)
		for k := 0; k < len(lit); k++ {
			w.byteRune(lit[k])
		}
		if n > len(lit)+2 {
			w.out.WriteString(`\E`)
		}
		w.i += n
	case c == 'x' || ('0' <= c && c <= '7'):
		v, n := escapeValue(rest)
		if v > 0xFF {
			return fmt.Errorf("%w: it reads patterns as Latin-1, and the escape %s is above \\xFF", errRE2Refuses, rest[:n])
		}
		if v >= 0x80 {
			fmt.Fprintf(&w.out, `\x{%X}`, latin1PUA+v)
		} else {
			w.out.WriteString(rest[:n])
		}
		w.i += n
	case c == 'p' || c == 'P':
		name, n := rest[2:3], 3
		if rest[2] == '{' {
			n = strings.IndexByte(rest, '}') + 1
			name = rest[3 : n-1]
		}
		w.unicodeClass(name, c == 'P', inClass)
		w.i += n
	default:
		w.out.WriteString(rest[:2])
		w.i += 2
	}
	return nil
}

func (w *latin1Writer) byteRune(b byte) {
	if b >= 0x80 {
		w.out.WriteRune(latin1PUA + rune(b))
	} else {
		w.out.WriteByte(b)
	}
}

// escapeValue decodes \xHH, \x{H...} or an octal escape at the start of s.
func escapeValue(s string) (rune, int) {
	if s[1] == 'x' {
		digits, n := s[2:4], 4
		if s[2] == '{' {
			n = strings.IndexByte(s, '}') + 1
			digits = s[3 : n-1]
		}
		v, err := strconv.ParseUint(digits, 16, 32)
		if err != nil || v > unicode.MaxRune {
			return unicode.MaxRune + 1, n
		}
		return rune(v), n
	}
	v, n := rune(0), 1
	for n < len(s) && n < 4 && '0' <= s[n] && s[n] <= '7' {
		v = v*8 + rune(s[n]-'0')
		n++
	}
	return v, n
}

// unicodeClass writes the Latin-1 part of a \p table. Inside a class a
// negated table is written as its complement, folded first under (?i) as
// RE2 does; an empty result is written as \x{100}, which nothing maps back.
func (w *latin1Writer) unicodeClass(name string, negated, inClass bool) {
	if strings.HasPrefix(name, "^") {
		negated, name = !negated, name[1:]
	}
	var set [256]bool
	for r := rune(0); r < 256; r++ {
		set[r] = name == "Any" || (unicode.Categories[name] != nil && unicode.Is(unicode.Categories[name], r)) ||
			(unicode.Scripts[name] != nil && unicode.Is(unicode.Scripts[name], r))
	}
	if inClass && negated {
		fold := w.fold[len(w.fold)-1]
		var neg [256]bool
		for r := range neg {
			neg[r] = !set[r] && !(fold && isASCIILetter(r) && set[r^0x20])
		}
		set, negated = neg, false
	}
	text := latin1RangesText(&set)
	switch {
	case inClass && text == "":
		w.out.WriteString(`\x{100}`)
	case inClass:
		w.out.WriteString(text)
	case text == "" && negated:
		w.out.WriteString(`[\x00-\x{10FFFF}]`)
	case text == "":
		w.out.WriteString(`[^\x00-\x{10FFFF}]`)
	case negated:
		w.out.WriteString("[^" + text + "]")
	default:
		w.out.WriteString("[" + text + "]")
	}
}

func isASCIILetter(r int) bool { return ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') }

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
