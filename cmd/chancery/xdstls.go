package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/chancery-xds/chancery/xdsserver"
)

// xdsTLSFlags are the flags of the xDS port's TLS and client identity
// (docs/security.md, "xDS channel: TLS and identity").
type xdsTLSFlags struct {
	xdsTLSCert  string
	xdsTLSKey   string
	xdsClientCA string
}

// registerXDSTLSFlags adds the flags of xdsTLSFlags to fs.
func registerXDSTLSFlags(fs *flag.FlagSet, f *xdsTLSFlags) {
	fs.StringVar(&f.xdsTLSCert, "xds-tls-cert", "", "PEM certificate chain (leaf first) of the xDS port; with --xds-tls-key the port serves TLS 1.2 or later. Both files are read again when they change")
	fs.StringVar(&f.xdsTLSKey, "xds-tls-key", "", "PEM private key of --xds-tls-cert")
	fs.StringVar(&f.xdsClientCA, "xds-client-ca", "", "PEM bundle of the CAs that sign Envoys' client certificates: every xDS connection must present one, and a stream may claim only the node groups its certificate names in URI SANs spiffe://<trust domain>/group/<group>")
}

// validate checks that the flags go together.
func (f *xdsTLSFlags) validate() error {
	switch {
	case f.xdsTLSCert != "" && f.xdsTLSKey == "":
		return errors.New("--xds-tls-cert needs --xds-tls-key")
	case f.xdsTLSKey != "" && f.xdsTLSCert == "":
		return errors.New("--xds-tls-key needs --xds-tls-cert")
	case f.xdsClientCA != "" && f.xdsTLSCert == "":
		return errors.New("--xds-client-ca needs --xds-tls-cert and --xds-tls-key: client certificates are checked in the TLS handshake")
	}
	return nil
}

// requiresClientCertificates says whether streams are held to the groups
// their client certificates name.
func (f *xdsTLSFlags) requiresClientCertificates() bool { return f.xdsClientCA != "" }

// xdsServerTLS loads the xDS port's TLS files and returns the gRPC server
// options that serve them; none without --xds-tls-cert. Each reload is
// logged once and counted in chancery_xds_tls_reloads_total.
func xdsServerTLS(f *xdsTLSFlags, log *zap.Logger, reg prometheus.Registerer) ([]grpc.ServerOption, error) {
	if f.xdsTLSCert == "" {
		return nil, nil
	}
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chancery_xds_tls_reloads_total",
		Help: "Changes to the xDS port's TLS files: loaded (result=ok) or not, the last good files kept (result=error).",
	}, []string{"result"})
	reg.MustRegister(reloads)
	files, err := xdsserver.LoadTLSFiles(xdsserver.TLSFilesConfig{
		CertFile: f.xdsTLSCert, KeyFile: f.xdsTLSKey, ClientCAFile: f.xdsClientCA,
		OnReload: func(err error) {
			if err != nil {
				reloads.WithLabelValues("error").Inc()
				log.Warn("xDS TLS files changed but do not load: the last good ones stay in service", zap.Error(err))
				return
			}
			reloads.WithLabelValues("ok").Inc()
			log.Info("xDS TLS files reloaded", zap.String("cert", f.xdsTLSCert), zap.String("client-ca", f.xdsClientCA))
		},
	})
	if err != nil {
		return nil, fmt.Errorf("--xds-tls-cert, --xds-tls-key, --xds-client-ca: %w", err)
	}
	reloads.WithLabelValues("ok")
	reloads.WithLabelValues("error")
	log.Info("xDS port serves TLS", zap.String("cert", f.xdsTLSCert), zap.String("client-ca", f.xdsClientCA),
		zap.Bool("client-certificates-required", files.RequiresClientCertificates()))
	return []grpc.ServerOption{grpc.Creds(files.Credentials())}, nil
}
