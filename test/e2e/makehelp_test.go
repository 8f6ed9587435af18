package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

var makeRule = regexp.MustCompile(`(?m)^([a-z][a-z0-9-]*):`)

// make help lists every target of the Makefile, each with what it does,
// and every phony target has a rule.
func TestMakeHelpListsEveryTarget(t *testing.T) {
	root := harness.RepoRoot(t)
	makefile := readFile(t, filepath.Join(root, "Makefile"))
	mk, err := exec.LookPath("make")
	if err != nil {
		if os.Getenv("CHANCERY_E2E") == "required" {
			t.Fatal("make is missing")
		}
		t.Skip("make is missing")
	}
	cmd := exec.Command(mk, "-s", "help")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make help: %v\n%s", err, out)
	}
	help := string(out)
	rules := map[string]bool{}
	for _, m := range makeRule.FindAllStringSubmatch(makefile, -1) {
		target := m[1]
		rules[target] = true
		if target == "all" {
			continue // make alone: the same as make build
		}
		if !regexp.MustCompile(`(?m)^  make ` + regexp.QuoteMeta(target) + ` +\S`).MatchString(help) {
			t.Errorf("make help does not describe %q (a `## %s: ...` line above its rule):\n%s", target, target, help)
		}
	}
	_, phony, ok := strings.Cut(makefile, "\n.PHONY:")
	if !ok {
		t.Fatal("the Makefile has no .PHONY line")
	}
	phony, _, _ = strings.Cut(phony, "\n")
	for _, target := range strings.Fields(phony) {
		if !rules[target] {
			t.Errorf(".PHONY names %q, which has no rule", target)
		}
	}
}
