package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdReadyTimeout bounds how long an etcd member may take to become healthy.
const etcdReadyTimeout = 30 * time.Second

// Etcd is one member of an etcd cluster run from bin/etcd on loopback ports.
type Etcd struct {
	t         testing.TB
	name      string
	clientURL string
	peerURL   string
	healthURL string // clientURL, or the plain-HTTP metrics URL when clients need TLS
	proc      *process
}

// EtcdOptions configures StartEtcdWith.
type EtcdOptions struct {
	// TLS, when set, serves clients over https (Endpoint is https://...)
	// and requires client certificates signed by TLS.ClientCAFile.
	TLS *EtcdTLS
	// ExtraArgs are appended to every member's command line, e.g.
	// --quota-backend-bytes.
	ExtraArgs []string
}

// EtcdTLS is etcd's client-side TLS: its server certificate (for
// 127.0.0.1, so with that IP SAN) and the CA that signs the client
// certificates it requires (--client-cert-auth). Health is then polled on a
// plain-HTTP --listen-metrics-urls.
type EtcdTLS struct {
	CertFile, KeyFile string
	ClientCAFile      string
}

// EtcdCluster is a set of bin/etcd members that form one cluster.
type EtcdCluster struct {
	// Members are in the order of their names, etcd-0, etcd-1, ...
	Members []*Etcd
}

// StartEtcd starts a single-member etcd with its data in t.TempDir() and waits
// until it is healthy.
func StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	return StartEtcdCluster(t, 1).Members[0]
}

// StartEtcdWith starts a single-member etcd as StartEtcd does, configured by opts.
func StartEtcdWith(t testing.TB, opts EtcdOptions) *Etcd {
	t.Helper()
	bin := binary(t, "etcd")
	var c *EtcdCluster
	startRetrying(t, "etcd", func() ([]*process, error) {
		c = newEtcdClusterWith(t, bin, 1, opts)
		return []*process{c.Members[0].proc}, startMembers(c.Members)
	})
	return c.Members[0]
}

// StartEtcdCluster starts an etcd cluster of size members and waits until every
// member is healthy.
func StartEtcdCluster(t testing.TB, size int) *EtcdCluster {
	t.Helper()
	return StartEtcdClusterWith(t, size, EtcdOptions{})
}

// StartEtcdClusterWith starts a cluster as StartEtcdCluster does, every
// member configured by opts.
func StartEtcdClusterWith(t testing.TB, size int, opts EtcdOptions) *EtcdCluster {
	t.Helper()
	bin := binary(t, "etcd")
	var c *EtcdCluster
	startRetrying(t, "etcd", func() ([]*process, error) {
		c = newEtcdClusterWith(t, bin, size, opts)
		procs := make([]*process, len(c.Members))
		for i, m := range c.Members {
			procs[i] = m.proc
		}
		return procs, startMembers(c.Members)
	})
	return c
}

func newEtcdClusterWith(t testing.TB, bin string, size int, opts EtcdOptions) *EtcdCluster {
	dir := t.TempDir()
	c := &EtcdCluster{}
	var initial []string
	for i := range size {
		m := &Etcd{
			t:         t,
			name:      fmt.Sprintf("etcd-%d", i),
			clientURL: "http://" + loopback(FreePort(t)),
			peerURL:   "http://" + loopback(FreePort(t)),
		}
		m.healthURL = m.clientURL
		if opts.TLS != nil {
			m.clientURL = "https://" + strings.TrimPrefix(m.clientURL, "http://")
			m.healthURL = "http://" + loopback(FreePort(t))
		}
		initial = append(initial, m.name+"="+m.peerURL)
		c.Members = append(c.Members, m)
	}
	for _, m := range c.Members {
		args := []string{
			"--name", m.name,
			"--data-dir", filepath.Join(dir, m.name+".data"),
			"--listen-client-urls", m.clientURL,
			"--advertise-client-urls", m.clientURL,
			"--listen-peer-urls", m.peerURL,
			"--initial-advertise-peer-urls", m.peerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", "chancery-e2e",
			// Durability against power loss is not under test, and fsync on a
			// shared 2-core machine makes every write slow.
			"--unsafe-no-fsync",
		}
		if opts.TLS != nil {
			args = append(args, "--cert-file", opts.TLS.CertFile, "--key-file", opts.TLS.KeyFile,
				"--client-cert-auth", "--trusted-ca-file", opts.TLS.ClientCAFile, "--listen-metrics-urls", m.healthURL)
		}
		args = append(args, opts.ExtraArgs...)
		m.proc = newProcess(t, m.name, bin, filepath.Join(dir, m.name+".log"), args)
	}
	return c
}

// startMembers launches the given members (which must not be running) and waits
// until each is healthy. Members that lack quorum must start together.
func startMembers(members []*Etcd) error {
	for _, m := range members {
		if err := m.proc.start(); err != nil {
			return err
		}
	}
	for _, m := range members {
		if err := m.proc.waitUntil(etcdReadyTimeout, "healthy /health", m.healthy); err != nil {
			return err
		}
	}
	return nil
}

func (e *Etcd) healthy() error {
	body, err := getOK(e.healthURL + "/health")
	if err != nil {
		return err
	}
	if !bytes.Contains(body, []byte(`"health":"true"`)) {
		return fmt.Errorf("/health says %s", body)
	}
	return nil
}

// Start starts the given stopped members again, with their data and ports, and
// waits until they are healthy; with no arguments it starts every stopped member.
func (c *EtcdCluster) Start(members ...*Etcd) {
	if len(members) == 0 {
		for _, m := range c.Members {
			if !m.proc.running() {
				members = append(members, m)
			}
		}
	}
	if len(members) == 0 {
		return
	}
	t := members[0].t
	t.Helper()
	if err := startMembers(members); err != nil {
		t.Fatalf("restart etcd: %v", err)
	}
}

// Endpoints returns the client URLs of all members.
func (c *EtcdCluster) Endpoints() []string {
	var urls []string
	for _, m := range c.Members {
		urls = append(urls, m.clientURL)
	}
	return urls
}

// Client returns a client to every member, closed when the test ends.
func (c *EtcdCluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return newEtcdClient(t, c.Endpoints())
}

// Endpoint returns the member's client URL, http://127.0.0.1:port (https
// with EtcdOptions.TLS).
func (e *Etcd) Endpoint() string { return e.clientURL }

// Name returns the member's name in the cluster.
func (e *Etcd) Name() string { return e.name }

// LogPath returns the file that holds the member's output, across restarts.
func (e *Etcd) LogPath() string { return e.proc.logPath }

// Running reports whether the member's process is alive.
func (e *Etcd) Running() bool { return e.proc.running() }

// Stop sends SIGTERM and waits for the member to exit.
func (e *Etcd) Stop() {
	e.t.Helper()
	if err := e.proc.stop(etcdReadyTimeout); err != nil && !isSignalExit(err) {
		e.t.Fatalf("stop %s: %v", e.name, err)
	}
}

// Kill sends SIGKILL and waits for the member to be gone.
func (e *Etcd) Kill() {
	e.t.Helper()
	if err := e.proc.kill(); err != nil {
		e.t.Fatal(err)
	}
}

// Start starts a stopped single member again with the same data dir and ports
// and waits until it is healthy. For a member of a larger cluster that has lost
// quorum use EtcdCluster.Start, which starts several members together.
func (e *Etcd) Start() {
	e.t.Helper()
	if err := startMembers([]*Etcd{e}); err != nil {
		e.t.Fatalf("restart %s: %v", e.name, err)
	}
}

// Client returns a client to this member only, closed when the test ends.
func (e *Etcd) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return newEtcdClient(t, []string{e.clientURL})
}

func newEtcdClient(t testing.TB, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcd client for %v: %v", endpoints, err)
	}
	t.Cleanup(func() {
		if err := cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("close etcd client: %v", err)
		}
	})
	return cli
}

// isSignalExit reports whether err is the exit of a process that re-raised the
// signal it was stopped with, as etcd does on SIGTERM.
func isSignalExit(err error) bool {
	var exit *exec.ExitError
	return errors.As(err, &exit) && exit.ExitCode() == -1
}

// Etcdctl runs bin/etcdctl --endpoints=endpoint args... and returns its stdout;
// the error carries stderr. endpoint may list several URLs separated by commas.
func Etcdctl(t testing.TB, endpoint string, args ...string) (string, error) {
	t.Helper()
	return EtcdctlEnv(t, nil, endpoint, args...)
}

// EtcdctlEnv is Etcdctl with extra environment variables ("ETCDCTL_USER=root",
// "ETCDCTL_PASSWORD=..."), for what must not be on a command line that
// errors quote.
func EtcdctlEnv(t testing.TB, env []string, endpoint string, args ...string) (string, error) {
	t.Helper()
	bin := binary(t, "etcdctl")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--endpoints=" + endpoint}, args...)...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("etcdctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// MustEtcdctl is Etcdctl that fails the test on error.
func MustEtcdctl(t testing.TB, endpoint string, args ...string) string {
	t.Helper()
	out, err := Etcdctl(t, endpoint, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
