// Package safetext makes text from outside (a key an operator wrote to etcd,
// an Envoy's node id or error detail) fit to show anywhere: a log field, a
// metric label, an error, a record in etcd, an admin page.
package safetext

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds for Text where a string from etcd or from an Envoy becomes a
// log field, a metric label, an error, a record in etcd or an admin page.
const (
	// KeyMax bounds a key below the prefix: a valid one is at most
	// "endpoints/" and two names of 253 bytes.
	KeyMax = 1024
	// ReasonMax bounds a rejection's reason.
	ReasonMax = 16 << 10
)

// minTextMax is the least bound Text honours: room for a quote, a few
// bytes and the truncation mark.
const minTextMax = 16

// Redacted is the placeholder that replaces a secret (a private key)
// wherever a value is shown: /debug/snapshot, chanceryctl get and diff.
const Redacted = "<redacted>"

// truncated ends a cut text: the closing quote and a mark.
const truncated = `"...`

// Text makes s fit to show anywhere: a Prometheus label value (which must
// be valid UTF-8, or registration panics), a log line, a terminal, a record
// in etcd. It returns s itself when s is valid UTF-8, every rune is
// printable (strconv.IsPrint: no control or format characters), s is at
// most limit bytes long and does not look like a text Text changed before.
// Otherwise it returns s quoted as strconv.Quote does (invalid bytes as
// \xff, control characters as \n or \u202e); when that is longer than limit
// bytes it is cut at a rune and ends in `"...`. So a changed text is one
// that begins with a double quote and ends with one or with `"...`, and a
// text of that shape is quoted too: two texts never show the same unless
// both were cut. A limit below 16 is taken as 16.
func Text(s string, limit int) string {
	limit = max(limit, minTextMax)
	if len(s) <= limit && plainText(s) {
		return s
	}
	if len(s) <= limit { // quoting only lengthens: a longer s is cut anyway
		if q := strconv.Quote(s); len(q) <= limit {
			return q
		}
	}
	return quotePrefix(s, limit)
}

// plainText reports whether Text may return s as it is.
func plainText(s string) bool {
	if len(s) >= 2 && s[0] == '"' && (s[len(s)-1] == '"' || strings.HasSuffix(s, truncated)) {
		return false // it looks like a quoted text
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f { // printable ASCII, the common case
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || !strconv.IsPrint(r) {
			return false
		}
		i += n
	}
	return true
}

// quotePrefix quotes as much of s as fits in limit bytes with the mark of a
// cut text, rune by rune, as strconv.Quote would.
func quotePrefix(s string, limit int) string {
	out := make([]byte, 1, limit)
	out[0] = '"'
	var esc []byte
	for i := 0; i < len(s); {
		_, n := utf8.DecodeRuneInString(s[i:])
		esc = strconv.AppendQuote(esc[:0], s[i:i+n])
		piece := esc[1 : len(esc)-1] // without the quotes
		if len(out)+len(piece)+len(truncated) > limit {
			break
		}
		out = append(out, piece...)
		i += n
	}
	return string(append(out, truncated...))
}
