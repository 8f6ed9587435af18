package xdsserver

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/chancery-xds/chancery/storage/model"
)

func TestRedactHidesPrivateKeys(t *testing.T) {
	key := "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n"
	s := &tlsv3.Secret{Name: "web", Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "chain"}},
		PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: []byte(key)}},
	}}}
	shown, err := protojson.Marshal(Redact(s))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(shown); !strings.Contains(got, model.Redacted) || strings.Contains(got, "c2VjcmV0") || strings.Contains(got, "LS0tLS1CRUdJTiBQUklWQVRF") {
		t.Errorf("redacted secret shows %s", got)
	}
	if string(s.GetTlsCertificate().GetPrivateKey().GetInlineBytes()) != key {
		t.Error("Redact changed the served secret")
	}
	ca := &tlsv3.Secret{Name: "ca", Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{}}}
	if !proto.Equal(Redact(ca), ca) {
		t.Error("a validation context changed")
	}
}
