package safetext

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	cases := []struct {
		in    string
		limit int
		want  string
	}{
		{"services/web", 100, "services/web"},
		{"services/bad\xffx", 100, `"services/bad\xffx"`},
		{"a\nb", 100, `"a\nb"`},
		{"tab\there", 100, `"tab\there"`},
		{"bidi\u202eoverride", 100, `"bidi\u202eoverride"`},
		{"del\x7f", 100, `"del\x7f"`},
		{"c1\u0085", 100, `"c1\u0085"`},
		{"zoné ünïcode", 100, "zoné ünïcode"},
		{`back\slash and "quotes" inside`, 100, `back\slash and "quotes" inside`},
		{`"quoted"`, 100, `"\"quoted\""`},
		{`"cut"...`, 100, `"\"cut\"..."`},
		{`"services" is not a kind`, 100, `"services" is not a kind`},
		{`"`, 100, `"`},
		{"", 100, ""},
		{strings.Repeat("a", 20), 20, strings.Repeat("a", 20)},
		{strings.Repeat("a", 21), 20, `"` + strings.Repeat("a", 15) + `"...`},
		{strings.Repeat("\xff", 10), 20, `"` + strings.Repeat(`\xff`, 3) + `"...`},
		{strings.Repeat("é", 20), 16, `"` + strings.Repeat("é", 5) + `"...`},
		{"short", 1, "short"}, // a limit below 16 is 16
	}
	for _, c := range cases {
		if got := Text(c.in, c.limit); got != c.want {
			t.Errorf("Text(%q, %d) = %q, want %q", c.in, c.limit, got, c.want)
		}
	}
}

// What Text returns is always valid, printable, within the bound, and
// tells apart any two texts it does not cut.
func FuzzText(f *testing.F) {
	for _, s := range []string{"services/bad\xffx", "a\nb", `"q"`, `"\xff"`, "é", ""} {
		f.Add(s, 64)
	}
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit = limit%4096 + 4096/2 // keep the bound sane: 0 < limit < 6144
		if limit < 1 {
			limit = 1
		}
		got := Text(s, limit)
		if !utf8.ValidString(got) {
			t.Fatalf("Text(%q) = %q: not valid UTF-8", s, got)
		}
		if len(got) > max(limit, minTextMax) {
			t.Fatalf("Text(%q, %d) = %d bytes", s, limit, len(got))
		}
		for _, r := range got {
			if !strconv.IsPrint(r) {
				t.Fatalf("Text(%q) = %q: holds %U", s, got, r)
			}
		}
		switch {
		case got == s:
		case strings.HasSuffix(got, truncated):
			if !strings.HasPrefix(got, `"`) {
				t.Fatalf("Text(%q) = %q: a cut text must begin with a quote", s, got)
			}
		default:
			back, err := strconv.Unquote(got)
			if err != nil || back != s {
				t.Fatalf("Text(%q) = %q, which unquotes to %q (%v)", s, got, back, err)
			}
		}
	})
}
