package xdsserver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/credentials"
)

// TLSFilesConfig names the files of the xDS port's TLS.
type TLSFilesConfig struct {
	// CertFile and KeyFile are the server's PEM certificate chain (leaf
	// first) and its private key. Both are required.
	CertFile, KeyFile string
	// ClientCAFile, if set, is a PEM bundle of the CAs that sign client
	// certificates: every client must then present one that verifies
	// (and Config.ClientCertGroups decides which groups it may claim).
	ClientCAFile string
	// OnReload, if set, is told of each reload: nil when changed files
	// were loaded and are served from the next handshake on, else why
	// they were not (the last good ones stay in service). It is told once
	// per version of the files, on the goroutine of the handshake that
	// found it.
	OnReload func(error)
}

// TLSFiles serves TLS from files and reads them again when they change:
// each handshake compares the files' modification times and sizes with
// those of the files in service, and a difference loads them anew. Files
// that do not load (a key that does not match the certificate, a
// certificate that expired, a half-written file) leave the last good ones
// in service; a later change is tried again. Connections already open
// keep the certificate they were made with.
type TLSFiles struct {
	cfg     TLSFilesConfig
	current atomic.Pointer[tlsVersion] // in service
	mu      sync.Mutex                 // serialises reloads; guards failed
	failed  fileStamps                 // the version that last failed, told once
}

// tlsVersion is one loaded version of the files.
type tlsVersion struct {
	stamps fileStamps
	config *tls.Config
}

// fileStamp is what tells one version of a file from another without
// reading it; a missing or unreadable file has size -1.
type fileStamp struct {
	modTime int64
	size    int64
}

// fileStamps are the stamps of the certificate, key and client CA files.
type fileStamps [3]fileStamp

// LoadTLSFiles loads the files once; it fails if they do not load, as
// a reload would.
func LoadTLSFiles(cfg TLSFilesConfig) (*TLSFiles, error) {
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, errors.New("xdsserver: TLS needs both a certificate and a key file")
	}
	f := &TLSFiles{cfg: cfg}
	stamps := f.stat()
	config, err := f.load(time.Now())
	if err != nil {
		return nil, err
	}
	f.current.Store(&tlsVersion{stamps: stamps, config: config})
	return f, nil
}

// RequiresClientCertificates reports whether clients must present a
// certificate that a client CA signed.
func (f *TLSFiles) RequiresClientCertificates() bool { return f.cfg.ClientCAFile != "" }

// ServerConfig returns the tls.Config of the server side: TLS 1.2 at
// least, and whatever the files hold at each handshake.
func (f *TLSFiles) ServerConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: f.configForClient}
}

// Credentials returns gRPC server credentials made of ServerConfig, for
// grpc.Creds.
func (f *TLSFiles) Credentials() credentials.TransportCredentials {
	return credentials.NewTLS(f.ServerConfig())
}

func (f *TLSFiles) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	stamps := f.stat()
	if cur := f.current.Load(); cur.stamps == stamps {
		return cur.config, nil
	}
	return f.reload(stamps), nil
}

// reload loads the files that stamps describe, unless they are already in
// service or already failed, and returns the config in service.
func (f *TLSFiles) reload(stamps fileStamps) *tls.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.current.Load()
	if cur.stamps == stamps || f.failed == stamps {
		return cur.config
	}
	config, err := f.load(time.Now())
	if err != nil {
		f.failed = stamps
		f.tell(err)
		return cur.config
	}
	f.failed = fileStamps{}
	f.current.Store(&tlsVersion{stamps: stamps, config: config})
	f.tell(nil)
	return config
}

func (f *TLSFiles) tell(err error) {
	if f.cfg.OnReload != nil {
		f.cfg.OnReload(err)
	}
}

func (f *TLSFiles) stat() fileStamps {
	var out fileStamps
	for i, path := range [...]string{f.cfg.CertFile, f.cfg.KeyFile, f.cfg.ClientCAFile} {
		out[i] = stampOf(path)
	}
	return out
}

func stampOf(path string) fileStamp {
	if path == "" {
		return fileStamp{}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{size: -1}
	}
	return fileStamp{modTime: fi.ModTime().UnixNano(), size: fi.Size()}
}

// load reads the files into a config. Its errors name the files, never
// what they hold.
func (f *TLSFiles) load(now time.Time) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(f.cfg.CertFile, f.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("xdsserver: certificate %s and key %s: %w", f.cfg.CertFile, f.cfg.KeyFile, err)
	}
	if leaf := pair.Leaf; leaf != nil && now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("xdsserver: certificate %s expired at %s", f.cfg.CertFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	config := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2"}}
	if f.cfg.ClientCAFile == "" {
		return config, nil
	}
	bundle, err := os.ReadFile(f.cfg.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("xdsserver: client CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		return nil, fmt.Errorf("xdsserver: client CA bundle %s holds no PEM certificate", f.cfg.ClientCAFile)
	}
	config.ClientCAs, config.ClientAuth = pool, tls.RequireAndVerifyClientCert
	return config, nil
}
