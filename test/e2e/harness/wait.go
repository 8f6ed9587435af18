package harness

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// Eventually calls cond every interval until it returns nil, and fails the test
// with cond's last error once timeout has passed. cond runs on the test's
// goroutine, so it may call t.Fatal itself.
func Eventually(t testing.TB, timeout, interval time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", timeout, err)
		}
		<-tick.C
	}
}

// httpTimeout bounds one request made by the harness: everything is on
// loopback, so a slow answer is a hung one.
const httpTimeout = 2 * time.Second

// A fresh connection per request: tests count requests per upstream and move
// Envoy listeners around, and a pooled connection would hide both.
var httpClient = &http.Client{
	Timeout:   httpTimeout,
	Transport: &http.Transport{DisableKeepAlives: true}, // and no proxy from the environment
}

// HTTPGet makes one GET request on a new connection with a short timeout; host,
// when not empty, is sent as the Host header (to pick an Envoy virtual host).
func HTTPGet(url, host string) (status int, body string, err error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if host != "" {
		req.Host = host
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", fmt.Errorf("read body of GET %s: %w", url, err)
	}
	return resp.StatusCode, string(b), nil
}

// getOK is HTTPGet for the harness's own admin requests: anything but 200 is
// an error that carries the body.
func getOK(url string) ([]byte, error) {
	status, body, err := HTTPGet(url, "")
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d: %.200s", url, status, body)
	}
	return []byte(body), nil
}
