package translator

import (
	"fmt"
	"strings"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/chancery-xds/chancery/storage/model"
)

// adsConfigSource points Envoy back at the ADS stream it is already on, so
// one connection carries every resource type and their order is ADS's.
func adsConfigSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// pack wraps msg in an Any. anypb.New marshals maps in random order, which
// would make versions differ between replicas; this marshal is deterministic.
func pack(msg proto.Message) (*anypb.Any, error) {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, msg, proto.MarshalOptions{Deterministic: true}); err != nil {
		return nil, fmt.Errorf("pack %s: %w", msg.ProtoReflect().Descriptor().FullName(), err)
	}
	return a, nil
}

func socketAddress(addr string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Protocol:      corev3.SocketAddress_TCP,
		Address:       addr,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// duration converts a model duration; unset stays unset so Envoy's own
// default applies rather than a zero that might mean "disabled".
func duration(d model.Duration) *durationpb.Duration {
	if d.IsZero() {
		return nil
	}
	return durationpb.New(d.Std())
}

// u32 converts an optional count; zero means unset in the model.
func u32(v uint32) *wrapperspb.UInt32Value {
	if v == 0 {
		return nil
	}
	return wrapperspb.UInt32(v)
}

// maxExplanation bounds the 503 bodies the translator writes. Envoy refuses
// direct responses above 4096 bytes by default, and a rejection reason can
// list many fields.
const maxExplanation = 1024

// explanation makes text safe for a direct response body: valid UTF-8 (a
// proto string must be, and a rejection may quote raw bytes) and short.
func explanation(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxExplanation {
		return s
	}
	const ellipsis = "..."
	cut := maxExplanation - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}
