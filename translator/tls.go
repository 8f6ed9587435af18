package translator

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/chancery-xds/chancery/storage/model"
)

// defaultALPN is what an https listener offers when it names none: the
// connection manager speaks both.
var defaultALPN = []string{"h2", "http/1.1"}

// downstreamTLS terminates TLS with one certificate; with a client CA it
// requires and checks client certificates.
func downstreamTLS(t *model.ListenerTLS, cert string) (*corev3.TransportSocket, error) {
	alpn := t.ALPN
	if len(alpn) == 0 {
		alpn = defaultALPN
	}
	ctx := &tlsv3.DownstreamTlsContext{
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsParams:                      &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsVersion(t.MinVersion)},
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sds(cert)},
			AlpnProtocols:                  alpn,
		},
	}
	if t.ClientCA != "" {
		ctx.CommonTlsContext.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
			ValidationContextSdsSecretConfig: sds(t.ClientCA),
		}
		ctx.RequireClientCertificate = wrapperspb.Bool(true)
	}
	return transportSocket(ctx)
}

// upstreamTLS is a service's TLS toward its endpoints: the CA from a
// secret, the names to match (subject_alt_names, else the SNI), and the
// client certificate if any.
func upstreamTLS(svc *model.Service) (*corev3.TransportSocket, error) {
	t := svc.TLS
	sans := t.SubjectAltNames
	if len(sans) == 0 && t.SNI != "" {
		sans = []string{t.SNI}
	}
	common := &tlsv3.CommonTlsContext{
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
			CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: sanMatchers(sans)},
				ValidationContextSdsSecretConfig: sds(t.CA),
			},
		},
	}
	if t.ClientCertificate != "" {
		common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{sds(t.ClientCertificate)}
	}
	if svc.Protocol == model.ProtocolHTTP2 || svc.Protocol == model.ProtocolGRPC {
		common.AlpnProtocols = []string{"h2"}
	}
	return transportSocket(&tlsv3.UpstreamTlsContext{Sni: t.SNI, CommonTlsContext: common})
}

func transportSocket(ctx proto.Message) (*corev3.TransportSocket, error) {
	typed, err := pack(ctx)
	if err != nil {
		return nil, err
	}
	return &corev3.TransportSocket{
		Name:       wellknown.TransportSocketTLS,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: typed},
	}, nil
}

func tlsVersion(v string) tlsv3.TlsParameters_TlsProtocol {
	if v == model.TLS13 {
		return tlsv3.TlsParameters_TLSv1_3
	}
	return tlsv3.TlsParameters_TLSv1_2
}

// serviceSecrets lists the secrets a service's TLS names.
func serviceSecrets(svc *model.Service) []string {
	if svc.TLS == nil {
		return nil
	}
	out := []string{svc.TLS.CA}
	if svc.TLS.ClientCertificate != "" {
		out = append(out, svc.TLS.ClientCertificate)
	}
	return out
}
