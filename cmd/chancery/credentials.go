package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"
)

// credentialFlags are the flags that carry or guard secrets: the etcd
// password from a file, and access to the admin debug endpoints. They never
// hold the secret on the command line; --etcd-password still may, with a
// warning.
type credentialFlags struct {
	etcdPasswordFile string
	// etcdPasswordInArgs is set when --etcd-password was given on the
	// command line, where every local user can read it.
	etcdPasswordInArgs bool
	adminDebug         bool
	adminTokenFile     string
	adminToken         string // read from adminTokenFile
}

// registerCredentialFlags adds the flags of credentialFlags to fs.
func registerCredentialFlags(fs *flag.FlagSet, c *serveConfig) {
	fs.StringVar(&c.etcdPasswordFile, "etcd-password-file", "", "file holding the etcd password (read once at start, trailing newline trimmed); with CHANCERY_ETCD_PASSWORD, the way to pass it without showing it in the process list")
	fs.BoolVar(&c.adminDebug, "admin-debug", true, "serve /debug/ (pprof, snapshot, proxies) on the admin address; /healthz, /readyz and /metrics are always served")
	fs.StringVar(&c.adminTokenFile, "admin-token-file", "", "file holding a bearer token that every /debug/ request must present (Authorization: Bearer <token>)")
}

// resolveCredentials reads the secret files named by the flags and notes
// whether --etcd-password came on the command line. Its errors name the
// files, never their content.
func resolveCredentials(fs *flag.FlagSet, c *serveConfig) error {
	fs.Visit(func(f *flag.Flag) { // flags set on the command line, not from the environment
		if f.Name == "etcd-password" {
			c.etcdPasswordInArgs = true
		}
	})
	if c.etcdPasswordFile != "" {
		if c.etcdPassword != "" {
			return errors.New("--etcd-password-file and --etcd-password (or CHANCERY_ETCD_PASSWORD) are both set: give one")
		}
		pw, err := readSecretFile(c.etcdPasswordFile)
		if err != nil {
			return fmt.Errorf("--etcd-password-file: %w", err)
		}
		c.etcdPassword = pw
	}
	if c.adminTokenFile != "" {
		tok, err := readSecretFile(c.adminTokenFile)
		if err != nil {
			return fmt.Errorf("--admin-token-file: %w", err)
		}
		if strings.ContainsAny(tok, " \t\r\n") {
			return fmt.Errorf("--admin-token-file %s: the token holds white space", c.adminTokenFile)
		}
		c.adminToken = tok
	}
	return nil
}

// readSecretFile returns the content of path without its trailing newline;
// an empty secret is an error.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret: %w", err) // *PathError: path and cause, no content
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// warnCredentials logs what the configuration exposes.
func warnCredentials(log *zap.Logger, cfg *serveConfig) {
	if cfg.etcdPasswordInArgs {
		log.Warn("--etcd-password on the command line is visible to every local user in the process list; use --etcd-password-file or CHANCERY_ETCD_PASSWORD")
	}
	if cfg.adminDebug && cfg.adminToken == "" {
		log.Info("admin debug endpoints are open to whoever reaches the admin address; protect them with --admin-token-file or turn them off with --admin-debug=false",
			zap.String("admin-address", cfg.adminAddress))
	}
}
