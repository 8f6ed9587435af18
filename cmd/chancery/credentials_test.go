package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEtcdPasswordSources(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		env    map[string]string
		want   string
		inArgs bool
	}{
		{name: "file with newline", args: []string{"--etcd-password-file", writeFile(t, "pw from file\n")}, want: "pw from file"},
		{name: "file with CRLF", args: []string{"--etcd-password-file=" + writeFile(t, "pw\r\n")}, want: "pw"},
		{name: "file without newline, leading space kept", args: []string{"--etcd-password-file", writeFile(t, " pw")}, want: " pw"},
		{name: "file from env", env: map[string]string{"CHANCERY_ETCD_PASSWORD_FILE": writeFile(t, "pw env file\n")}, want: "pw env file"},
		{name: "env", env: map[string]string{"CHANCERY_ETCD_PASSWORD": "pw from env"}, want: "pw from env"},
		{name: "argv", args: []string{"--etcd-password", "pw from argv"}, want: "pw from argv", inArgs: true},
		{name: "argv over env", args: []string{"--etcd-password=argv"}, env: map[string]string{"CHANCERY_ETCD_PASSWORD": "env"}, want: "argv", inArgs: true},
		{name: "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseServeFlags(tc.args, envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.etcdPassword != tc.want || c.etcdPasswordInArgs != tc.inArgs {
				t.Errorf("password %q, on the command line %v; want %q, %v", c.etcdPassword, c.etcdPasswordInArgs, tc.want, tc.inArgs)
			}
		})
	}
}

func TestCredentialErrorsHideContent(t *testing.T) {
	const secret = "top-secret-value"
	pwFile := writeFile(t, secret+"\n")
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"password and file", []string{"--etcd-password", secret, "--etcd-password-file", pwFile}, nil, "both set"},
		{"env password and file", []string{"--etcd-password-file", pwFile}, map[string]string{"CHANCERY_ETCD_PASSWORD": secret}, "both set"},
		{"missing file", []string{"--etcd-password-file", filepath.Join(t.TempDir(), "nope")}, nil, "no such file"},
		{"empty file", []string{"--etcd-password-file", writeFile(t, "\n")}, nil, "is empty"},
		{"empty token", []string{"--admin-token-file", writeFile(t, "")}, nil, "is empty"},
		{"token with space", []string{"--admin-token-file", writeFile(t, secret+" x\n")}, nil, "white space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseServeFlags(tc.args, envOf(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

func TestAdminFlags(t *testing.T) {
	c, err := parseServeFlags(nil, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.debugAccess(); !got.enabled || got.token != "" {
		t.Errorf("default debug access %+v, want on and open", got)
	}
	c, err = parseServeFlags([]string{"--admin-debug=false"}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.debugAccess().enabled {
		t.Error("--admin-debug=false left debugging on")
	}
	c, err = parseServeFlags(nil, envOf(map[string]string{"CHANCERY_ADMIN_TOKEN_FILE": writeFile(t, "tok-123\n")}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.debugAccess(); !got.enabled || got.token != "tok-123" {
		t.Errorf("debug access %+v, want on with token tok-123", got)
	}
}

func TestPasswordOnCommandLineWarns(t *testing.T) {
	const secret = "pw-visible-in-ps"
	for _, tc := range []struct {
		args []string
		env  map[string]string
		warn bool
	}{
		{args: []string{"--etcd-password", secret}, warn: true},
		{env: map[string]string{"CHANCERY_ETCD_PASSWORD": secret}},
		{args: []string{"--etcd-password-file", writeFile(t, secret)}},
	} {
		c, err := parseServeFlags(tc.args, envOf(tc.env))
		if err != nil {
			t.Fatal(err)
		}
		core, logs := observer.New(zapcore.InfoLevel)
		warnCredentials(zap.New(core), c)
		var warned bool
		var all bytes.Buffer
		for _, e := range logs.All() {
			warned = warned || e.Level == zapcore.WarnLevel && strings.Contains(e.Message, "process list")
			all.WriteString(e.Message)
			for _, f := range e.Context {
				all.WriteString(f.String)
			}
		}
		if warned != tc.warn {
			t.Errorf("args %q env %v: warned %v, want %v (%q)", tc.args, tc.env, warned, tc.warn, all.String())
		}
		if strings.Contains(all.String(), secret) {
			t.Errorf("a log line shows the password: %q", all.String())
		}
	}
}
