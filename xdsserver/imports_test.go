package xdsserver

import (
	"os/exec"
	"strings"
	"testing"
)

// The xDS server streams what the translator hands it (translator/output)
// and knows nothing of the model it was translated from: neither the
// model's package nor the translator's is among its dependencies.
func TestImportsOnlyTranslatorOutput(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err) // no toolchain beside the test binary
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasSuffix(dep, "/storage/model") || strings.HasSuffix(dep, "/chancery/translator") || strings.Contains(dep, "/storage/") {
			t.Errorf("xdsserver depends on %s; it should import only translator/output", dep)
		}
	}
}
