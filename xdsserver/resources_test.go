package xdsserver_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"

	"github.com/chancery-xds/chancery/test/xdsclient"
	"github.com/chancery-xds/chancery/xdsserver"
)

// What a stream receives decodes to exactly what the translator built,
// although the server sends encodings made once per publish and shared by
// every stream.
func TestStreamsReceiveTheTranslatedResources(t *testing.T) {
	res := translate(t, 10, nil)
	_, addr := startReplica(t, res)
	c := dial(t, addr, xdsclient.Options{NodeID: "n", Group: "edge"})
	want := map[string]proto.Message{}
	g := res.Groups["edge"]
	for _, r := range g.Clusters {
		want[r.GetName()] = r
	}
	for _, r := range g.Endpoints {
		want["cla/"+r.GetClusterName()] = r
	}
	for _, r := range g.Listeners {
		want[r.GetName()] = r
	}
	for _, r := range g.Routes {
		want["route/"+r.GetName()] = r
	}
	got := 0
	deadline := time.After(5 * time.Second)
	for got < len(want) {
		select {
		case r := <-c.Responses():
			for name, res := range r.Resources {
				key := name
				switch xdsserver.TypeName(r.TypeURL) {
				case "endpoints":
					key = "cla/" + name
				case "routes":
					key = "route/" + name
				}
				w := want[key]
				if w == nil {
					t.Fatalf("unexpected %s %s", r.TypeURL, name)
				}
				m := w.ProtoReflect().New().Interface()
				if err := res.GetResource().UnmarshalTo(m); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(w, m, protocmp.Transform()); diff != "" {
					t.Errorf("%s %s differs from the translation (-want +got):\n%s", r.TypeURL, name, diff)
				}
				got++
			}
		case <-deadline:
			t.Fatalf("received %d of %d resources", got, len(want))
		}
	}
}
