package translator

import (
	"testing"

	"github.com/chancery-xds/chancery/storage/model"
)

// A memo's output equals pure translation at every step of a changing
// keyspace, and reuses the resources of services whose objects did not change.
func TestMemoMatchesTranslateAndReusesUnchangedServices(t *testing.T) {
	ref := func(k model.Kind, n string) model.Ref { return model.Ref{Kind: k, Name: n} }
	objects := map[model.Ref]model.Object{}
	decode := func(r model.Ref, v string) {
		obj, err := model.Decode(r, []byte(v))
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		objects[r] = obj
	}
	snapshot := func() *model.Snapshot { // as the watcher builds it: new maps, the same objects
		s := model.NewSnapshot(1)
		for r, o := range objects {
			s.Add(r, o)
		}
		return s
	}
	decode(ref(model.KindService, "a"), `{"protocol":"http"}`)
	decode(ref(model.KindService, "b"), `{"protocol":"http2"}`)
	decode(ref(model.KindEndpoint, "a/1"), `{"address":"10.0.0.1","port":80}`)
	decode(ref(model.KindEndpoint, "b/1"), `{"address":"10.0.0.2","port":80}`)
	decode(ref(model.KindRouteTable, "r"), `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/b"},"service":"b"},{"match":{"prefix":"/"},"service":"a"}]}]}`)
	decode(ref(model.KindListener, "l"), `{"port":80,"protocol":"http","route_table":"r","groups":["g"]}`)

	memo := NewMemo()
	check := func(step string) *Resources {
		t.Helper()
		t.Log(step)
		s := snapshot()
		got, _ := memo.Translate(s)
		want, _ := Translate(s)
		marshalAll(t, want).diff(t, marshalAll(t, got))
		return got
	}
	first := check("first")
	decode(ref(model.KindEndpoint, "a/1"), `{"address":"10.0.0.1","port":81}`)
	second := check("endpoint of a changed")
	if second.Groups["g"].Endpoints[1] != first.Groups["g"].Endpoints[1] || second.Groups["g"].Clusters[1] != first.Groups["g"].Clusters[1] {
		t.Error("service b's resources were rebuilt although none of its objects changed")
	}
	if second.Groups["g"].Routes[0] != first.Groups["g"].Routes[0] {
		t.Error("the route table was rebuilt although neither it nor its services' availability changed")
	}
	if second.Groups["g"].Endpoints[0] == first.Groups["g"].Endpoints[0] {
		t.Error("service a's load assignment was reused after its endpoint changed")
	}
	decode(ref(model.KindHealth, "b/1"), `{"status":"unhealthy"}`)
	check("health of b added")
	delete(objects, ref(model.KindService, "a"))
	check("service a deleted")
	decode(ref(model.KindService, "a"), `{"protocol":"tcp","connect_timeout":"2s"}`)
	check("service a back, changed")
}
