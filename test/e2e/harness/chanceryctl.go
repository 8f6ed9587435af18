package harness

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// ctlTimeout bounds one chanceryctl run: every command but endpoint
// register finishes in well under a second on loopback.
const ctlTimeout = 30 * time.Second

// Chanceryctl runs bin/chanceryctl args... and returns what it printed and
// its exit status. CHANCERY_* variables of the test's environment are not
// passed on, so only the arguments say where etcd is.
func Chanceryctl(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return ChanceryctlInput(t, "", args...)
}

// ChanceryctlInput is Chanceryctl with stdin, for apply -f -.
func ChanceryctlInput(t testing.TB, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin := binary(t, "chanceryctl")
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = ctlEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		code = exit.ExitCode()
	default:
		t.Fatalf("chanceryctl %s: %v (stderr %q)", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String(), code
}

// MustChanceryctl is Chanceryctl that fails the test unless the status is 0.
func MustChanceryctl(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, code := Chanceryctl(t, args...)
	if code != 0 {
		t.Fatalf("chanceryctl %s: status %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func ctlEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHANCERY_") {
			env = append(env, kv)
		}
	}
	return env
}

// Registration is a running `chanceryctl endpoint register`.
type Registration struct {
	t    testing.TB
	proc *process
}

var registrationSeq atomic.Int64

// StartRegistration starts bin/chanceryctl endpoint register args... in the
// background and waits until it reports the endpoint registered.
func StartRegistration(t testing.TB, args ...string) *Registration {
	t.Helper()
	bin := binary(t, "chanceryctl")
	name := fmt.Sprintf("register-%d", registrationSeq.Add(1))
	r := &Registration{t: t}
	r.proc = newProcess(t, "chanceryctl "+name, bin, filepath.Join(t.TempDir(), name+".log"),
		append([]string{"endpoint", "register"}, args...))
	if err := r.proc.start(); err != nil {
		t.Fatal(err)
	}
	r.WaitLog(t, 1, "registered ")
	return r
}

// WaitLog waits until the log holds at least n lines containing substr.
func (r *Registration) WaitLog(t testing.TB, n int, substr string) {
	t.Helper()
	err := r.proc.waitUntil(20*time.Second, fmt.Sprintf("%d log lines with %q", n, substr), func() error {
		if got := strings.Count(r.Log(), substr); got < n {
			return fmt.Errorf("%d so far", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Log returns everything the process has printed, across restarts.
func (r *Registration) Log() string {
	b, err := os.ReadFile(r.proc.logPath)
	if err != nil {
		return ""
	}
	return string(b)
}

// Kill sends SIGKILL: the lease is left to expire.
func (r *Registration) Kill() {
	r.t.Helper()
	if err := r.proc.kill(); err != nil {
		r.t.Fatal(err)
	}
}

// Stop sends SIGTERM and returns how the process exited (nil for status 0).
func (r *Registration) Stop() error {
	r.t.Helper()
	return r.proc.stop(10 * time.Second)
}

// StartEnvoyWithBootstrap starts bin/envoy with a bootstrap that write
// produces for the given admin port (e.g. with chanceryctl bootstrap
// --admin-port) and returns its path; it waits until /ready answers 200.
// A port taken meanwhile makes it try again with another.
func StartEnvoyWithBootstrap(t testing.TB, nodeID string, write func(adminPort int) string) *Envoy {
	t.Helper()
	bin := binary(t, "envoy")
	dir := t.TempDir()
	var e *Envoy
	startRetrying(t, "envoy "+nodeID, func() ([]*process, error) {
		port := FreePort(t)
		e = &Envoy{
			t:        t,
			opts:     EnvoyOptions{NodeID: nodeID, ReadyTimeout: 30 * time.Second},
			adminURL: fmt.Sprintf("http://127.0.0.1:%d", port),
			config:   write(port),
		}
		args := []string{"-c", e.config, "--base-id", strconv.Itoa(1 + rand.IntN(60000)),
			"--disable-hot-restart", "--log-level", "info", "--concurrency", "1"}
		e.proc = newProcess(t, "envoy "+nodeID, bin, filepath.Join(dir, nodeID+".log"), args)
		if err := e.proc.start(); err != nil {
			return []*process{e.proc}, err
		}
		return []*process{e.proc}, e.waitReady()
	})
	return e
}

// EnvoyValidate runs bin/envoy --mode validate on a bootstrap and returns
// its output and whether Envoy accepted it.
func EnvoyValidate(t testing.TB, config string) (string, bool) {
	t.Helper()
	bin := binary(t, "envoy")
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--mode", "validate", "-c", config,
		"--base-id", strconv.Itoa(1+rand.IntN(60000)), "--disable-hot-restart", "--log-level", "warn").CombinedOutput()
	return string(out), err == nil
}

// SelfSignedCert writes a self-signed certificate for dnsName, usable as a
// CA, a server and a client certificate, and its key; it returns their
// paths. Envoy loads such files while validating a TLS bootstrap.
func SelfSignedCert(t testing.TB, dir, dnsName string) (cert, key string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: dnsName}, DNSNames: []string{dnsName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(cryptorand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, dnsName+".pem"), filepath.Join(dir, dnsName+"-key.pem")
	for path, block := range map[string]*pem.Block{cert: {Type: "CERTIFICATE", Bytes: der}, key: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cert, key
}
