package e2e

import (
	"context"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	clusterfleet "github.com/chancery-xds/chancery/cluster/fleet"
	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// TestUIFleetPageInChromium loads the admin port's fleet page in headless
// Chromium against a replica with two real Envoys and one bad object, and
// reads the DOM after the page's script ran: both Envoys SYNCED for every
// type, and the rejection with its reason. With CHANCERY_UI_SCREENSHOT=path
// it also writes a screenshot of the page there (docs/fleet-page.png).
func TestUIFleetPageInChromium(t *testing.T) {
	browser := chromiumBinary(t)
	c := harness.StartChancery(t, harness.ChanceryOptions{ReplicaID: "ui-a"})
	etcd := c.EmbeddedEtcdEndpoint()
	put := func(key, value string) { harness.MustEtcdctl(t, etcd, "put", prefix+"/"+key, value) }

	up := harness.StartUpstream(t, "web")
	host, port := up.Addr()
	put("services/web", `{"protocol":"http"}`)
	put("endpoints/web/a", fmt.Sprintf(`{"address":%q,"port":%d}`, host, port))
	put("routes/web", `{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web"}]}]}`)
	put("listeners/web", fmt.Sprintf(`{"address":"127.0.0.1","port":%d,"protocol":"http","route_table":"web","groups":["ui"]}`, harness.FreePort(t)))
	put("services/bad", `{"protocol":"http","connect_timeout":"soon"}`)
	nodes := []string{"envoy-ui-1", "envoy-ui-2"}
	for _, id := range nodes {
		harness.StartEnvoy(t, harness.EnvoyOptions{NodeID: id, Group: "ui", XDSAddresses: []string{c.XDSAddress()}, Delta: true})
	}

	url := c.AdminURL() + "/ui"
	var dom string
	harness.Eventually(t, 90*time.Second, time.Second, func() error {
		var err error
		if dom, err = runChromium(t, browser, url, "--dump-dom"); err != nil {
			return err
		}
		return checkFleetDOM(dom, nodes)
	})
	if path := os.Getenv("CHANCERY_UI_SCREENSHOT"); path != "" {
		if !filepath.IsAbs(path) {
			path = filepath.Join(harness.RepoRoot(t), path)
		}
		if _, err := runChromium(t, browser, url, "--screenshot="+path, "--window-size=1280,900"); err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		t.Logf("screenshot of %s written to %s", url, path)
	}
}

// checkFleetDOM checks the rendered page: both Envoys' rows SYNCED with a
// SYNCED badge for every type, and services/bad rejected with its reason.
func checkFleetDOM(dom string, nodes []string) error {
	if !strings.Contains(dom, `data-loaded="yes"`) {
		return fmt.Errorf("the page has not rendered a feed yet:\n%s", lastBytes(dom, 2000))
	}
	for _, node := range nodes {
		row := regexp.MustCompile(`<tr data-node="` + regexp.QuoteMeta(node) + `" data-state="([A-Z ]+)">(.*?)</tr>`).FindStringSubmatch(dom)
		if row == nil {
			return fmt.Errorf("no row for Envoy %s on the page", node)
		}
		if row[1] != string(clusterfleet.Synced) {
			return fmt.Errorf("Envoy %s shows %s: %s", node, row[1], row[2])
		}
		for _, typ := range clusterfleet.Types {
			cell := regexp.MustCompile(`<td data-type="` + typ + `"[^>]*><span class="badge [A-Z-]+" data-state="([A-Z ]+)">`).FindStringSubmatch(row[2])
			if cell == nil || cell[1] != string(clusterfleet.Synced) {
				return fmt.Errorf("Envoy %s: %s not SYNCED: %s", node, typ, row[2])
			}
		}
	}
	rej := regexp.MustCompile(`<tr data-key="services/bad">(.*?)</tr>`).FindStringSubmatch(dom)
	if rej == nil {
		return fmt.Errorf("the rejection of services/bad is not on the page")
	}
	if reason := html.UnescapeString(rej[1]); !strings.Contains(reason, "connect_timeout") {
		return fmt.Errorf("the rejection of services/bad does not name the field: %s", reason)
	}
	return nil
}

// runChromium runs headless Chromium on url with a virtual time budget, so
// that the page's script fetches the feed and renders before the DOM is
// dumped or the screenshot taken; it returns what Chromium printed.
func runChromium(t *testing.T, browser, url string, flags ...string) (string, error) {
	t.Helper()
	args := []string{"--headless", "--disable-gpu", "--no-sandbox", "--no-proxy-server",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--no-default-browser-check", "--hide-scrollbars", "--user-data-dir=" + t.TempDir(),
		"--virtual-time-budget=5000"}
	args = append(append(args, flags...), url)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("chromium %s: %w\n%s", strings.Join(args, " "), err, lastBytes(stderr.String(), 2000))
	}
	return string(out), nil
}

// chromiumBinary finds Debian's chromium (scripts/install-chromium.sh); a
// missing one skips the test, or fails it when CHANCERY_E2E=required.
func chromiumBinary(t *testing.T) string {
	t.Helper()
	if path, err := exec.LookPath("chromium"); err == nil {
		return path
	}
	if os.Getenv("CHANCERY_E2E") == "required" {
		t.Fatal("chromium is not installed: run scripts/install-chromium.sh (make tools)")
	}
	t.Skip("chromium is not installed: run scripts/install-chromium.sh (CHANCERY_E2E=required turns this skip into a failure)")
	return ""
}

func lastBytes(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
