package model

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"testing"
	"time"
)

// re2Corpus is the file of patterns and the RE2 program size the real Envoy
// reports for each: "pattern<TAB>size", or "pattern<TAB>refused" when Envoy
// refuses the pattern itself. Lines starting with # are comments.
// TestRE2SizeOracle rewrites it from .venv/bin/envoy; a new pattern can be
// added with any placeholder size and the oracle run again.
const re2Corpus = "testdata/re2size.txt"

type re2Case struct {
	pattern string
	size    int // 0: Envoy refuses the pattern
}

func readRE2Corpus(t *testing.T) (header []string, cases []re2Case) {
	t.Helper()
	f, err := os.Open(re2Corpus)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			header = append(header, line)
			continue
		}
		pattern, size, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("%s:%d: no tab in %q", re2Corpus, n, line)
		}
		c := re2Case{pattern: pattern}
		if size != "refused" {
			if c.size, err = strconv.Atoi(size); err != nil {
				c.size = -1 // placeholder, filled in by the oracle
			}
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return header, cases
}

// TestRE2ProgramSizeMatchesEnvoy checks the estimate against the sizes the
// real Envoy reported for every pattern of the corpus.
func TestRE2ProgramSizeMatchesEnvoy(t *testing.T) {
	_, cases := readRE2Corpus(t)
	if len(cases) < 150 {
		t.Fatalf("corpus has %d patterns, want at least 150", len(cases))
	}
	for _, c := range cases {
		got, err := re2ProgramSize(c.pattern)
		switch {
		case c.size < 0:
			t.Errorf("%q: no size recorded; run the oracle (CHANCERY_RE2_ORACLE=1)", c.pattern)
		case c.size == 0 && !errors.Is(err, errRE2Refuses):
			t.Errorf("%q: Envoy refuses it, re2ProgramSize = %d, %v", c.pattern, got, err)
		case c.size > 0 && (err != nil || got != c.size):
			t.Errorf("%q: re2ProgramSize = %d, %v; Envoy says %d", c.pattern, got, err, c.size)
		}
	}
}

// TestCheckRE2Size checks the field errors around the limit, for patterns
// Envoy's RE2 refuses outright, and that Go-invalid patterns are left alone.
func TestCheckRE2Size(t *testing.T) {
	for _, tc := range []struct {
		re   string
		want string // "" for no error
	}{
		{`^/api/v[0-9]+/users/[^/]+$`, ""},
		// fail + the unanchored .*? loop (2) + n bytes + match: a{96} is 100.
		{`a{96}`, ""},
		{`a{97}`, "RE2 program size 101 exceeds Envoy's limit of 100"},
		{`a{1000}`, "RE2 program size 1004 exceeds Envoy's limit of 100"},
		{`(foo|bar){50}`, "exceeds Envoy's limit of 100"},
		{`^/v2/[^/]+/manifests/(sha256:[a-f0-9]{64}|[a-zA-Z0-9_.-]{1,128})$`, "RE2 program size 794 exceeds"},
		{`\x{100}`, "escape \\x{100} is above \\xFF"},
		{`\p{Letter}`, `no Unicode class named "Letter"`},
		{`a**`, ""}, // Go refuses it; checkRegex reports that
	} {
		v := &validator{}
		checkRE2Size(v, "match.regex", tc.re)
		got := ""
		if err := v.err(); err != nil {
			got = err.Error()
		}
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("checkRE2Size(%q) = %q, want %q", tc.re, got, tc.want)
		}
		if got != "" && !strings.Contains(got, "match.regex") {
			t.Errorf("checkRE2Size(%q) = %q, does not name the field", tc.re, got)
		}
	}
}

func BenchmarkRE2ProgramSize(b *testing.B) {
	for _, p := range []string{`^/api/v[0-9]+/users/[^/]+$`, `(?i)^/(static|assets)/.*\.(css|js|png)$`} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := re2ProgramSize(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRE2SizeOracle asks the real Envoy for the program size of every corpus
// pattern and rewrites the corpus. It runs only when CHANCERY_RE2_ORACLE=1:
//
//	CHANCERY_RE2_ORACLE=1 go test -run TestRE2SizeOracle ./storage/model/
func TestRE2SizeOracle(t *testing.T) {
	if os.Getenv("CHANCERY_RE2_ORACLE") != "1" {
		t.Skip("set CHANCERY_RE2_ORACLE=1 to regenerate " + re2Corpus + " from Envoy")
	}
	envoy, err := filepath.Abs("../../.venv/bin/envoy")
	if err != nil {
		t.Fatal(err)
	}
	header, cases := readRE2Corpus(t)
	var b strings.Builder
	for _, h := range header {
		b.WriteString(h + "\n")
	}
	mismatches := 0
	for _, c := range cases {
		size, msg := envoyRE2Size(t, envoy, c.pattern)
		field := strconv.Itoa(size)
		if size == 0 {
			field = "refused"
			t.Logf("%q: Envoy refuses it: %s", c.pattern, msg)
		}
		if got, err := re2ProgramSize(c.pattern); (size == 0) != (err != nil) || got != size && size != 0 {
			mismatches++
			t.Logf("%q: Envoy %d, re2ProgramSize %d, %v", c.pattern, size, got, err)
		}
		fmt.Fprintf(&b, "%s\t%s\n", c.pattern, field)
	}
	if err := os.WriteFile(re2Corpus, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d patterns, %d differ from re2ProgramSize", len(cases), mismatches)
}

var envoyProgramSize = regexp.MustCompile(`RE2 program size of (\d+) >`)

// envoyRE2Size validates a bootstrap whose only route matches pattern, with
// the program size limit at 0 so that Envoy always reports the size. It
// returns 0 and Envoy's message when Envoy refuses the pattern otherwise.
func envoyRE2Size(t *testing.T, envoy, pattern string) (int, string) {
	t.Helper()
	cfg := map[string]any{
		"layered_runtime": map[string]any{"layers": []any{map[string]any{
			"name": "static", "static_layer": map[string]any{"re2.max_program_size.error_level": 0},
		}}},
		"static_resources": map[string]any{"listeners": []any{map[string]any{
			"name":    "l",
			"address": map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": 10000}},
			"filter_chains": []any{map[string]any{"filters": []any{map[string]any{
				"name": "envoy.filters.network.http_connection_manager",
				"typed_config": map[string]any{
					"@type":       "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
					"stat_prefix": "re2",
					"http_filters": []any{map[string]any{"name": "envoy.filters.http.router", "typed_config": map[string]any{
						"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}},
					"route_config": map[string]any{"virtual_hosts": []any{map[string]any{
						"name": "v", "domains": []any{"*"},
						"routes": []any{map[string]any{
							"match":           map[string]any{"safe_regex": map[string]any{"regex": pattern}},
							"direct_response": map[string]any{"status": 200},
						}},
					}}},
				},
			}}}},
		}}},
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bootstrap.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, envoy, "--mode", "validate", "-c", path,
		"--base-id", strconv.Itoa(1+rand.IntN(60000)), "--disable-hot-restart", "--log-level", "critical").CombinedOutput()
	if err == nil {
		t.Fatalf("%q: Envoy accepted a regex with a program size limit of 0", pattern)
	}
	if m := envoyProgramSize.FindSubmatch(out); m != nil {
		n, err := strconv.Atoi(string(m[1]))
		if err != nil {
			t.Fatalf("%q: Envoy reported size %q: %v", pattern, m[1], err)
		}
		return n, ""
	}
	msg := string(out)
	if i := strings.Index(msg, "error initializing configuration"); i >= 0 {
		msg = msg[i:]
	}
	return 0, strings.TrimSpace(msg)
}

// FuzzRE2ProgramSize checks that no input panics and that only patterns Go
// accepts can be reported as refused by Envoy's RE2: the others are left to
// checkRegex.
func FuzzRE2ProgramSize(f *testing.F) {
	for _, s := range []string{`a|b`, `[abc`, `(?:`, `(?i`, `\`, `\x{`, `\xf`, `\p{`, `\p`, `[\pL-z]`, `(?P<n`,
		`|*`, `(?i)*`, `(?:)*`, `\x{110000}`, "\xff", `[é-a]`, `a{2}{3}`, `(a|b`, `\Qab`, `[[:alpha:]`, `[]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		_, goErr := syntax.Parse(pattern, syntax.Perl)
		size, err := re2ProgramSize(pattern)
		switch {
		case goErr != nil && err == nil:
			t.Errorf("%q: Go refuses it (%v), re2ProgramSize = %d", pattern, goErr, size)
		case goErr != nil && errors.Is(err, errRE2Refuses):
			t.Errorf("%q: Go refuses it (%v), re2ProgramSize blames RE2: %v", pattern, goErr, err)
		case err == nil && (size < 1 || size > re2SizeLimit):
			t.Errorf("%q: size %d", pattern, size)
		}
	})
}
