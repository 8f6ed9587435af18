package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/test/bench/workload"
	"github.com/chancery-xds/chancery/translator"
)

// protoMarkers is rawMarkers through protobuf: what the hand reading must
// agree with.
func protoMarkers(b []byte) ([]rawMarker, error) {
	var cla endpointv3.ClusterLoadAssignment
	if err := proto.Unmarshal(b, &cla); err != nil {
		return nil, err
	}
	var out []rawMarker
	for _, loc := range cla.GetEndpoints() {
		for _, ep := range loc.GetLbEndpoints() {
			fields := ep.GetMetadata().GetFilterMetadata()[workload.MetadataNamespace].GetFields()
			seq, err := strconv.ParseUint(fields[workload.MarkerKey].GetStringValue(), 10, 64)
			if err != nil {
				continue
			}
			out = append(out, rawMarker{name: cla.GetClusterName() + "/" + fields["id"].GetStringValue(), seq: seq})
		}
	}
	return out, nil
}

// The translator's own load assignments, and one built to hold everything
// the walk must step over, read the same by hand as through protobuf.
func TestRawMarkersMatchProtobuf(t *testing.T) {
	spec := workload.Spec{Services: 3, EndpointsPer: 4, Groups: workload.Groups(1)}
	objs := workload.Objects(spec)
	objs = append(objs, workload.Endpoint(1, 2, 41), workload.Endpoint(2, 0, 42))
	res, err := translator.Translate(workload.Snapshot(1, objs))
	if err != nil {
		t.Fatal(err)
	}
	var encoded [][]byte
	for _, gr := range res.Groups {
		for _, cla := range gr.Endpoints {
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(cla)
			if err != nil {
				t.Fatal(err)
			}
			encoded = append(encoded, b)
		}
	}
	md := func(fields map[string]any) *corev3.Metadata {
		st, err := structpb.NewStruct(fields)
		if err != nil {
			t.Fatal(err)
		}
		return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{workload.MetadataNamespace: st}}
	}
	other, err := structpb.NewStruct(map[string]any{"id": "x", workload.MarkerKey: "99"})
	if err != nil {
		t.Fatal(err)
	}
	mixed := &endpointv3.ClusterLoadAssignment{
		ClusterName: "svc-x",
		Endpoints: []*endpointv3.LocalityLbEndpoints{
			{Locality: &corev3.Locality{Zone: "a"}, Priority: 1, LoadBalancingWeight: wrapperspb.UInt32(3), LbEndpoints: []*endpointv3.LbEndpoint{
				{HealthStatus: corev3.HealthStatus_HEALTHY, LoadBalancingWeight: wrapperspb.UInt32(7), Metadata: md(map[string]any{"id": "e1", workload.MarkerKey: "12", "zone": "a"})},
				{Metadata: md(map[string]any{"id": "e2"})},                                                // no marker
				{Metadata: md(map[string]any{"id": "e3", workload.MarkerKey: "not-a-number"})},            // not the driver's
				{Metadata: md(map[string]any{"id": "e4", workload.MarkerKey: float64(5)})},                // a number, not a string
				{Metadata: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"other": other}}}, // another namespace
			}},
			{LbEndpoints: []*endpointv3.LbEndpoint{{Metadata: md(map[string]any{workload.MarkerKey: "13", "id": "e5"})}}},
		},
		Policy: &endpointv3.ClusterLoadAssignment_Policy{OverprovisioningFactor: wrapperspb.UInt32(140)},
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(mixed)
	if err != nil {
		t.Fatal(err)
	}
	encoded = append(encoded, b)

	markers := 0
	for i, b := range encoded {
		want, werr := protoMarkers(b)
		got, gerr := rawMarkers(b)
		if (werr == nil) != (gerr == nil) || !slices.Equal(got, want) {
			t.Errorf("load assignment %d: by hand %v (%v), protobuf %v (%v)", i, got, gerr, want, werr)
		}
		markers += len(got)
	}
	if markers != 4 { // 41, 42, 12 and 13
		t.Errorf("%d markers read, want 4", markers)
	}
	if got, err := rawMarkers(b); err != nil || fmt.Sprint(got) != "[{svc-x/e1 12} {svc-x/e5 13}]" {
		t.Errorf("mixed load assignment: %v (%v)", got, err)
	}
	for n := 1; n < len(b); n++ {
		if _, err := rawMarkers(b[:len(b)-n]); err == nil {
			if _, perr := protoMarkers(b[:len(b)-n]); perr != nil {
				t.Errorf("truncated by %d: protobuf fails (%v), the hand reading does not", n, perr)
			}
		}
	}
}

// The secrets an https listener names are its certificate and, with edge
// mTLS, the CA it checks clients with: read from the translator's own
// listener, and the same through the decoder's cache.
func TestListenerSecretNames(t *testing.T) {
	cert, err := workload.SelfSigned(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	spec := workload.Spec{Services: 1, EndpointsPer: 1, Groups: workload.Groups(1), Certificate: &cert}
	for _, tc := range []struct {
		name     string
		clientCA bool
		want     []string
	}{{"certificate", false, []string{workload.CertificateSecret}}, {"edge mTLS", true, []string{workload.CertificateSecret, "clients-ca"}}} {
		t.Run(tc.name, func(t *testing.T) {
			objs := workload.Objects(spec)
			if tc.clientCA {
				objs = withClientCA(t, objs, "clients-ca", cert.CertificateChain)
			}
			res, err := translator.Translate(workload.Snapshot(1, objs))
			if err != nil {
				t.Fatal(err)
			}
			a, err := anypb.New(res.Groups["group-00"].Listeners[0])
			if err != nil {
				t.Fatal(err)
			}
			got, err := listenerSecretNames(a)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("listenerSecretNames: %v (%v), want %v", got, err, tc.want)
			}
			cached, err := newDecoder(newLedger()).secretNames([]*anypb.Any{a, a})
			if err != nil || !slices.Equal(cached, append(slices.Clone(tc.want), tc.want...)) {
				t.Errorf("secretNames of the listener twice: %v (%v)", cached, err)
			}
		})
	}
}

// withClientCA adds a validation_context secret and makes the listener
// require client certificates signed by it.
func withClientCA(t *testing.T, objs []workload.Object, name, caPEM string) []workload.Object {
	t.Helper()
	for i, o := range objs {
		if o.Ref.Kind != model.KindListener {
			continue
		}
		var l model.Listener
		if err := json.Unmarshal(o.Value, &l); err != nil {
			t.Fatal(err)
		}
		l.TLS.ClientCA = name
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		objs[i].Value = b
	}
	ca, err := json.Marshal(model.Secret{ValidationContext: &model.ValidationContext{CABundle: caPEM}})
	if err != nil {
		t.Fatal(err)
	}
	return append(objs, workload.Object{Ref: model.Ref{Kind: model.KindSecret, Name: name}, Value: ca})
}
