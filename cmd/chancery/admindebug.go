package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"slices"
	"strings"

	"github.com/chancery-xds/chancery/xdsserver"
)

// redacted stands in for the value of a secret flag.
const redacted = "<redacted>"

// debugAccess says whether /debug/ is served and what it asks for.
type debugAccess struct {
	enabled bool
	token   string // when set, /debug/ requires "Authorization: Bearer <token>"
}

func (c *serveConfig) debugAccess() debugAccess {
	return debugAccess{enabled: c.adminDebug, token: c.adminToken}
}

// debugHandler serves /debug/: the snapshot and proxy views and pprof, with
// the command line's secrets redacted; behind the bearer token when one is
// configured, or a 404 that says why when debugging is off.
func debugHandler(xds *xdsserver.Server, access debugAccess) http.Handler {
	if !access.enabled {
		return http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
			http.Error(rw, "debug endpoints are off (--admin-debug=false)", http.StatusNotFound)
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/snapshot", func(rw http.ResponseWriter, r *http.Request) {
		debugSnapshot(rw, r, xds)
	})
	mux.HandleFunc("GET /debug/proxies", func(rw http.ResponseWriter, _ *http.Request) {
		writeJSON(rw, xds.Proxies())
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", redactedCmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if access.token == "" {
		return mux
	}
	return requireBearer(access.token, mux)
}

// requireBearer passes on only the requests that carry the token. Both
// sides are hashed first, so the comparison takes the same time whatever
// the length or content of what was sent.
func requireBearer(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		got, ok := bearerToken(r.Header.Get("Authorization"))
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || !ok {
			rw.Header().Set("WWW-Authenticate", `Bearer realm="chancery-admin"`)
			http.Error(rw, "unauthorized: /debug/ requires the admin bearer token (--admin-token-file)", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(rw, r)
	})
}

// bearerToken returns the credentials of an "Authorization: Bearer ..."
// header; the scheme is case-insensitive (RFC 9110).
func bearerToken(header string) (string, bool) {
	scheme, cred, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	cred = strings.TrimSpace(cred)
	return cred, cred != ""
}

// redactedCmdline is pprof.Cmdline with the values of secret flags replaced.
func redactedCmdline(rw http.ResponseWriter, _ *http.Request) {
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(rw, strings.Join(redactArgs(os.Args), "\x00"))
}

// redactArgs returns a copy of a command line (program name first) with the
// value of every secret flag, "--etcd-password=v" or "--etcd-password v",
// replaced by "<redacted>".
func redactArgs(args []string) []string {
	out := slices.Clone(args)
	for i := 1; i < len(out); i++ {
		name, hasValue := flagName(out[i])
		if !isSecretFlag(name) {
			continue
		}
		switch {
		case hasValue:
			out[i] = out[i][:strings.IndexByte(out[i], '=')+1] + redacted
		case i+1 < len(out):
			i++
			out[i] = redacted
		}
	}
	return out
}

// flagName returns the name of a "-name", "--name" or "--name=value"
// argument, and whether the value is in the same argument.
func flagName(arg string) (name string, hasValue bool) {
	if len(arg) < 2 || arg[0] != '-' || arg == "--" {
		return "", false
	}
	s := strings.TrimPrefix(arg[1:], "-")
	name, _, hasValue = strings.Cut(s, "=")
	return name, hasValue
}

// isSecretFlag reports whether a flag's value is a secret: a password, a
// token or a secret, given inline (not a "-file" naming where one is).
func isSecretFlag(name string) bool {
	name = strings.ToLower(name)
	for _, suffix := range []string{"password", "token", "secret"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}
