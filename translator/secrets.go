package translator

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/chancery-xds/chancery/storage/model"
)

// secretSet holds every secret that translated, by name, and answers why
// any other one cannot be used. Envoy gets secrets over SDS on the ADS
// stream, so listeners and clusters name them and a rotation sends the
// secret alone.
type secretSet struct {
	secrets map[string]*tlsv3.Secret
	types   map[string]string // the model's Secret.Type
	rej     *rejections
}

func buildSecrets(s *model.Snapshot, rej *rejections) *secretSet {
	set := &secretSet{
		secrets: make(map[string]*tlsv3.Secret, len(s.Secrets)),
		types:   make(map[string]string, len(s.Secrets)),
		rej:     rej,
	}
	for _, name := range slices.Sorted(maps.Keys(s.Secrets)) {
		sec := secretFor(name, s.Secrets[name])
		if err := envoyValid(sec); err != nil {
			// The error is about the resource's shape; it quotes no content.
			rej.add(model.Ref{Kind: model.KindSecret, Name: name}, "", "not sent: %s", secretError(err))
			continue
		}
		set.secrets[name] = sec
		set.types[name] = s.Secrets[name].Type()
	}
	return set
}

// secretError is Envoy's validation error without any value it quotes.
func secretError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "| caused by"); i >= 0 {
		msg = msg[:i]
	}
	return strings.TrimSpace(msg)
}

// use checks that the secret a field names exists, translated and is of
// the type the field wants; nil when it can be used.
func (ss *secretSet) use(field, name, want string) *model.FieldError {
	typ, ok := ss.types[name]
	switch {
	case ok && typ == want:
		return nil
	case ok:
		return &model.FieldError{Field: field, Msg: fmt.Sprintf("secret %q is a %s, want a %s", name, typ, want)}
	}
	if _, rejected := ss.rej.reason(model.Ref{Kind: model.KindSecret, Name: name}); rejected {
		return &model.FieldError{Field: field, Msg: fmt.Sprintf("secret %q is rejected", name)}
	}
	return &model.FieldError{Field: field, Msg: fmt.Sprintf("secret %q not found", name)}
}

// secretFor translates one secret, its PEM inline.
func secretFor(name string, s *model.Secret) *tlsv3.Secret {
	if c := s.TLSCertificate; c != nil {
		return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: inlineBytes(c.CertificateChain),
			PrivateKey:       inlineBytes(c.PrivateKey),
		}}}
	}
	vc := s.ValidationContext
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
		TrustedCa:                 inlineBytes(vc.CABundle),
		MatchTypedSubjectAltNames: sanMatchers(vc.SubjectAltNames),
	}}}
}

func inlineBytes(s string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: []byte(s)}}
}

// sanMatchers matches each name exactly, in the SAN type its form says: a
// URI ("spiffe://corp/web") has a scheme, an IP address parses as one, an
// email has an '@', anything else is a DNS name.
func sanMatchers(names []string) []*tlsv3.SubjectAltNameMatcher {
	var out []*tlsv3.SubjectAltNameMatcher
	for _, n := range names {
		typ := tlsv3.SubjectAltNameMatcher_DNS
		switch _, ipErr := netip.ParseAddr(n); {
		case strings.Contains(n, "://"):
			typ = tlsv3.SubjectAltNameMatcher_URI
		case ipErr == nil:
			typ = tlsv3.SubjectAltNameMatcher_IP_ADDRESS
		case strings.Contains(n, "@"):
			typ = tlsv3.SubjectAltNameMatcher_EMAIL
		}
		out = append(out, &tlsv3.SubjectAltNameMatcher{
			SanType: typ,
			Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: n}},
		})
	}
	return out
}

// sds points Envoy at a secret on the ADS stream; nil for no name.
func sds(name string) *tlsv3.SdsSecretConfig {
	if name == "" {
		return nil
	}
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: adsConfigSource()}
}
