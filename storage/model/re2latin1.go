package model

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Runes the rewritten pattern uses for what Go must not interpret itself.
const (
	latin1PUA  = 0xE000  // U+E080-U+E0FF stand for bytes 0x80-0xFF
	markerBase = 0xF0000 // each alternative starts with two of one marker
	markerMax  = 0x10FFFD
	// emptyGroup is written for (?:), which RE2 keeps as an empty match
	// that literals do not merge across; no Latin-1 pattern has these runes.
	emptyGroup = `[\x{10FFFE}\x{10FFFF}]`
)

// errUnreadable is returned for a pattern latin1Pattern cannot follow;
// re2ProgramSize then lets Go's parser say what is wrong with it.
var errUnreadable = fmt.Errorf("%w: cannot read it", errRE2Refuses)

// latin1Pattern rewrites a pattern so that Go's parser builds the tree RE2's
// parser would:
//   - Envoy's RE2 reads the pattern as Latin-1, one rune per byte, and folds
//     case for ASCII letters only. Bytes 0x80-0xFF, and escapes of those
//     values, become private-use runes Go never case-folds; \p classes
//     become the Latin-1 part of their table, written out; escapes above
//     0xFF are refused as RE2 does.
//   - Every alternative starts with its own marker, so that Go neither
//     factors nor merges alternatives: RE2 does that differently, and
//     fromSyntax does it RE2's way once the markers are gone.
//   - A class of one character is written as that character, because RE2
//     makes it a literal that keeps (?i) and so joins the literals around
//     it, where Go makes a literal without (?i).
//
// suspect reports that the rewritten pattern may parse where the original
// does not, so the original must be parsed too.
func latin1Pattern(p string) (rewritten string, suspect bool, err error) {
	w := &latin1Writer{src: p, fold: []bool{false}}
	w.out.Grow(len(p) + 16)
	if err := w.marker(); err != nil {
		return "", false, err
	}
	for w.i < len(p) {
		if err := w.step(); err != nil {
			return "", false, err
		}
	}
	return w.out.String(), w.suspect || !utf8.ValidString(p), nil
}

type latin1Writer struct {
	src   string
	i     int
	out   bytes.Buffer
	fold  []bool // (?i) per open group, innermost last
	nalts int
	// altStart: nothing but flag groups since the last marker. A repetition
	// operator there has no argument in the original pattern but would have
	// the marker in the rewritten one: suspect asks for the original to be
	// parsed, to report Go's error.
	altStart, suspect bool
}

func (w *latin1Writer) folding() bool { return w.fold[len(w.fold)-1] }

func (w *latin1Writer) marker() error {
	r := rune(markerBase + w.nalts)
	if r > markerMax {
		return fmt.Errorf("%w: too many alternatives", errRE2Refuses)
	}
	w.nalts++
	w.out.WriteRune(r)
	w.out.WriteRune(r)
	w.altStart = true
	return nil
}

func (w *latin1Writer) byteRune(b byte) {
	if b >= 0x80 {
		w.out.WriteRune(latin1PUA + rune(b))
	} else {
		w.out.WriteByte(b)
	}
}

// step rewrites one token outside a class.
func (w *latin1Writer) step() error {
	c := w.src[w.i]
	if w.altStart && strings.IndexByte("*+?{", c) >= 0 {
		w.suspect = true
	}
	if c != '(' || !strings.HasPrefix(w.src[w.i:], "(?") {
		w.altStart = false
	}
	switch c {
	case '\\':
		return w.escape(false)
	case '[':
		return w.class()
	case '(':
		return w.group()
	case ')':
		if len(w.fold) > 1 {
			w.fold = w.fold[:len(w.fold)-1]
		}
	case '|':
		w.out.WriteByte(c)
		w.i++
		return w.marker()
	}
	w.byteRune(w.src[w.i])
	w.i++
	return nil
}

// group copies a group opening, tracking (?i), and marks where its first
// alternative begins; a bare flag group such as (?i) opens nothing.
func (w *latin1Writer) group() error {
	rest := w.src[w.i:]
	fold := w.folding()
	end := 1 // a plain capturing (
	switch {
	case strings.HasPrefix(rest, "(?P<") || strings.HasPrefix(rest, "(?<"):
		end = strings.IndexByte(rest, '>') + 1
	case strings.HasPrefix(rest, "(?"):
		end = strings.IndexAny(rest, ":)") + 1
		if end == 0 {
			return errUnreadable
		}
		fold = applyFoldFlag(fold, rest[2:end-1])
		if rest[end-1] == ')' {
			w.out.WriteString(rest[:end])
			w.i += end
			w.fold[len(w.fold)-1] = fold
			return nil
		}
		if n, ok := flagGroupsThenClose(rest[end:]); ok {
			w.out.WriteString(emptyGroup)
			w.i += end + n
			return nil
		}
	}
	if end == 0 {
		return errUnreadable
	}
	w.out.WriteString(rest[:end])
	w.i += end
	w.fold = append(w.fold, fold)
	return w.marker()
}

// applyFoldFlag applies the i of a flag string such as "i-s" or "-i".
func applyFoldFlag(fold bool, flags string) bool {
	on := true
	for _, f := range flags {
		switch f {
		case '-':
			on = false
		case 'i':
			fold = on
		}
	}
	return fold
}

// flagGroupsThenClose reports whether s holds only flag groups up to a ),
// that is whether the group that s continues is empty, and its length.
func flagGroupsThenClose(s string) (int, bool) {
	j := 0
	for strings.HasPrefix(s[j:], "(?") {
		k := strings.IndexByte(s[j:], ')')
		if k < 0 || strings.Trim(s[j+2:j+k], "imsU-") != "" {
			return 0, false
		}
		j += k + 1
	}
	return j + 1, j < len(s) && s[j] == ')'
}

// escape rewrites one backslash escape.
func (w *latin1Writer) escape(inClass bool) error {
	rest := w.src[w.i:]
	if len(rest) < 2 {
		return errUnreadable
	}
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
		if n == 0 {
			return errUnreadable
		}
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
		if len(rest) < 3 {
			return errUnreadable
		}
		name, n := rest[2:3], 3
		if rest[2] == '{' {
			n = strings.IndexByte(rest, '}') + 1
			if n == 0 {
				return errUnreadable
			}
			name = rest[3 : n-1]
		}
		if err := w.unicodeClass(name, c == 'P', inClass); err != nil {
			return err
		}
		w.i += n
		// After a class escape a - is a literal; after the ranges written
		// out for it, it would start a range.
		if inClass && strings.HasPrefix(w.src[w.i:], "-") && !strings.HasPrefix(w.src[w.i:], "-]") {
			w.out.WriteString(`\-`)
			w.i++
		}
	default:
		w.out.WriteString(rest[:2])
		w.i += 2
	}
	return nil
}

// escapeValue decodes \xHH, \x{H...} or an octal escape at the start of s
// and returns its length, 0 if it is malformed.
func escapeValue(s string) (rune, int) {
	if s[1] == 'x' {
		var digits string
		var n int
		switch {
		case strings.HasPrefix(s[2:], "{"):
			n = strings.IndexByte(s, '}') + 1
			if n == 0 {
				return 0, 0
			}
			digits = s[3 : n-1]
		case len(s) >= 4:
			digits, n = s[2:4], 4
		default:
			return 0, 0
		}
		v, err := strconv.ParseUint(digits, 16, 32)
		if err != nil || v > unicode.MaxRune {
			return 0, 0
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
