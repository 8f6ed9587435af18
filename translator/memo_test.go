package translator

import (
	"testing"

	"github.com/chancery-xds/chancery/storage/model"
)

func ref(k model.Kind, n string) model.Ref { return model.Ref{Kind: k, Name: n} }

// decoder returns a function that decodes an object into objects.
func decoder(t *testing.T, objects map[model.Ref]model.Object) func(model.Ref, string) {
	return func(r model.Ref, v string) {
		t.Helper()
		obj, err := model.Decode(r, []byte(v))
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		objects[r] = obj
	}
}

// A memo's output equals pure translation at every step of a changing
// keyspace, and reuses the resources of services whose objects did not change.
func TestMemoMatchesTranslateAndReusesUnchangedServices(t *testing.T) {
	objects := map[model.Ref]model.Object{}
	decode := decoder(t, objects)
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

// A snapshot that names its changes since the last one, all endpoints and
// health verdicts, is translated by patching the last translation: the
// output equals pure translation, and groups without the changed services
// keep their resources as they were, pointer and all.
func TestMemoPatchesEndpointChanges(t *testing.T) {
	objects := map[model.Ref]model.Object{}
	decode := decoder(t, objects)
	rev := int64(1)
	snapshot := func(changed ...model.Ref) *model.Snapshot {
		s := model.NewSnapshot(rev)
		for r, o := range objects {
			s.Add(r, o)
		}
		s.Base, s.Changed = rev-1, changed
		rev++
		return s
	}
	decode(ref(model.KindService, "a"), `{"protocol":"http"}`)
	decode(ref(model.KindService, "b"), `{"protocol":"http"}`)
	decode(ref(model.KindEndpoint, "a/1"), `{"address":"10.0.0.1","port":80}`)
	decode(ref(model.KindEndpoint, "b/1"), `{"address":"10.0.0.2","port":80}`)
	decode(ref(model.KindRouteTable, "ra"), `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"a"}]}]}`)
	decode(ref(model.KindRouteTable, "rb"), `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"b"}]}]}`)
	decode(ref(model.KindListener, "la"), `{"port":80,"protocol":"http","route_table":"ra","groups":["ga"]}`)
	decode(ref(model.KindListener, "lb"), `{"port":81,"protocol":"http","route_table":"rb","groups":["gb"]}`)

	memo := NewMemo()
	check := func(step string, changed ...model.Ref) (prev, got *Resources) {
		t.Helper()
		s := snapshot(changed...)
		prev = memo.last
		got, _ = memo.Translate(s)
		want, _ := Translate(s)
		t.Log(step)
		marshalAll(t, want).diff(t, marshalAll(t, got))
		return prev, got
	}
	check("first (changes unknown)")
	decode(ref(model.KindEndpoint, "a/1"), `{"address":"10.0.0.1","port":81}`)
	prev, got := check("endpoint of a moved", ref(model.KindEndpoint, "a/1"))
	if got.Groups["gb"] != prev.Groups["gb"] {
		t.Error("group gb, which does not reach a, was rebuilt")
	}
	if got.Groups["ga"] == prev.Groups["ga"] || got.Groups["ga"].Listeners[0] != prev.Groups["ga"].Listeners[0] {
		t.Error("group ga was not patched in place of its load assignment alone")
	}
	decode(ref(model.KindHealth, "b/1"), `{"status":"unhealthy"}`)
	prev, got = check("health of b", ref(model.KindHealth, "b/1"))
	if got.Groups["ga"] != prev.Groups["ga"] {
		t.Error("group ga, which does not reach b, was rebuilt")
	}
	delete(objects, ref(model.KindEndpoint, "a/1"))
	check("endpoint of a deleted", ref(model.KindEndpoint, "a/1"))
	decode(ref(model.KindService, "a"), `{"protocol":"http","connect_timeout":"3s"}`)
	check("service a changed: a full translation", ref(model.KindService, "a"))
	decode(ref(model.KindEndpoint, "c/1"), `{"address":"10.0.0.3","port":80}`)
	check("endpoint of a service that does not exist", ref(model.KindEndpoint, "c/1"))
}
