package model

import (
	"bytes"
	"cmp"
	"encoding/json"
	"unicode/utf8"
)

// The strict pass's scanning of JSON text: space, literals, numbers and
// strings, each as JSON's grammar has them (strict.go walks the values).

func (w *walker) pop() { w.stack = w.stack[:len(w.stack)-1] }

func (w *walker) skipSpace() {
	for w.pos < len(w.data) {
		switch w.data[w.pos] {
		case ' ', '\t', '\r', '\n':
			w.pos++
		default:
			return
		}
	}
}

// next skips space and consumes one byte, 0 at the end of data.
func (w *walker) next() byte {
	w.skipSpace()
	if w.pos >= len(w.data) {
		return 0
	}
	w.pos++
	return w.data[w.pos-1]
}

// skip consumes c if it comes next.
func (w *walker) skip(c byte) bool {
	if w.pos < len(w.data) && w.data[w.pos] == c {
		w.pos++
		return true
	}
	return false
}

func (w *walker) literal(lit string) bool {
	if !bytes.HasPrefix(w.data[w.pos:], []byte(lit)) {
		return false
	}
	w.pos += len(lit)
	return true
}

// number reads a number as JSON's grammar has it and returns its text.
func (w *walker) number() ([]byte, bool) {
	start := w.pos
	w.skip('-')
	if !w.skip('0') && w.digits() == 0 {
		return nil, false
	}
	if w.skip('.') && w.digits() == 0 {
		return nil, false
	}
	if w.skip('e') || w.skip('E') {
		if !w.skip('+') {
			w.skip('-')
		}
		if w.digits() == 0 {
			return nil, false
		}
	}
	return w.data[start:w.pos], true
}

func (w *walker) digits() int {
	n := 0
	for w.pos < len(w.data) && '0' <= w.data[w.pos] && w.data[w.pos] <= '9' {
		w.pos++
		n++
	}
	return n
}

// str reads a string and returns its text: unescaped when unescape is set
// (a key), else as written. invalid says why encoding/json would have
// altered it (an invalid byte, a lone surrogate escape), "" if it would not.
func (w *walker) str(unescape bool) (text []byte, invalid string, ok bool) {
	w.pos++ // '"'
	start, escaped := w.pos, false
	for w.pos < len(w.data) {
		switch c := w.data[w.pos]; {
		case c == '"':
			text = w.data[start:w.pos]
			w.pos++
			if escaped && unescape {
				var s string
				if json.Unmarshal(w.data[start-1:w.pos], &s) != nil {
					return nil, "", false
				}
				text = []byte(s)
			}
			return text, invalid, true
		case c == '\\':
			escaped = true
			bad, ok := w.escape()
			if !ok {
				return nil, "", false
			}
			invalid = cmp.Or(invalid, bad)
		case c < 0x20:
			return nil, "", false // JSON strings hold no raw control characters
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(w.data[w.pos:])
			if r == utf8.RuneError && size == 1 {
				invalid = cmp.Or(invalid, "not valid UTF-8")
			}
			w.pos += size
		default:
			w.pos++
		}
	}
	return nil, "", false
}

// errLoneSurrogate is what encoding/json turns into U+FFFD.
const errLoneSurrogate = `not valid UTF-8: a \u escape of a lone surrogate`

// escape reads one escape sequence. A \u escape of a surrogate must be the
// first half of a pair whose second half follows.
func (w *walker) escape() (invalid string, ok bool) {
	if w.pos+1 >= len(w.data) {
		return "", false
	}
	switch w.data[w.pos+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		w.pos += 2
		return "", true
	case 'u':
	default:
		return "", false
	}
	r, ok := w.hex4()
	switch {
	case !ok:
		return "", false
	case r < 0xD800 || r > 0xDFFF:
		return "", true
	case r >= 0xDC00 || !bytes.HasPrefix(w.data[w.pos:], []byte(`\u`)):
		return errLoneSurrogate, true
	}
	save := w.pos
	low, ok := w.hex4()
	switch {
	case !ok:
		return "", false
	case low < 0xDC00 || low > 0xDFFF:
		w.pos = save // not the second half: it is read as an escape of its own
		return errLoneSurrogate, true
	}
	return "", true
}

// hex4 reads the escape `\uXXXX` at pos.
func (w *walker) hex4() (rune, bool) {
	if w.pos+6 > len(w.data) {
		return 0, false
	}
	var r rune
	for _, c := range w.data[w.pos+2 : w.pos+6] {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	w.pos += 6
	return r, true
}
