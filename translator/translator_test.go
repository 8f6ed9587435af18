package translator

import (
	"errors"
	"slices"
	"testing"

	"github.com/chancery-xds/chancery/storage/model"
)

// TestTranslateEmpty: nothing to serve is not an error, and the result is
// still usable.
func TestTranslateEmpty(t *testing.T) {
	for _, snap := range []*model.Snapshot{nil, model.NewSnapshot(7)} {
		res, err := Translate(snap)
		if err != nil {
			t.Fatal(err)
		}
		if res == nil || res.Groups == nil || len(res.Groups) != 0 || len(res.Rejected) != 0 {
			t.Fatalf("want empty resources, got %+v", res)
		}
	}
}

// TestRejectedErrorUnwraps: the error carries each rejection, so callers
// can reach the model's FieldErrors with errors.As.
func TestRejectedErrorUnwraps(t *testing.T) {
	snap := model.NewSnapshot(3)
	snap.Listeners["l"] = &model.Listener{Port: 80, Protocol: model.ListenerTCP, Service: "missing", Groups: []string{"g"}}
	res, err := Translate(snap)
	if res.Revision != 3 {
		t.Errorf("revision %d, want 3", res.Revision)
	}
	var rj model.Rejection
	if !errors.As(err, &rj) || rj.Ref.String() != "listeners/l" {
		t.Fatalf("error %v does not carry the listener's rejection", err)
	}
	var fe *model.FieldError
	if !errors.As(rj.Err, &fe) || fe.Field != "service" {
		t.Fatalf("rejection %v does not name the field", rj.Err)
	}
	if len(res.Groups) != 0 {
		t.Errorf("a group exists without accepted listeners: %v", res.Groups)
	}
}

// Endpoints of a service that does not exist are reported as ignored and
// change nothing else; those of a rejected service are not: the service's
// rejection already says why they are not sent.
func TestEndpointsOfMissingServiceAreIgnored(t *testing.T) {
	snap := model.NewSnapshot(1)
	snap.Services["web"] = &model.Service{Protocol: model.ProtocolHTTP}
	snap.Put(model.Ref{Kind: model.KindEndpoint, Name: "web/a"}, []byte(`{"address":"192.0.2.1","port":80}`))
	snap.Put(model.Ref{Kind: model.KindEndpoint, Name: "web2/a"}, []byte(`{"address":"192.0.2.2","port":80}`))
	snap.Put(model.Ref{Kind: model.KindService, Name: "broken"}, []byte(`{"protocol":"nope"}`))
	snap.Put(model.Ref{Kind: model.KindEndpoint, Name: "broken/a"}, []byte(`{"address":"192.0.2.3","port":80}`))
	snap.Ignored = []model.Ignored{{Key: "service/typo", Reason: "no kind"}}
	snap.SortRejections()
	res, _ := Translate(snap)
	want := []model.Ignored{
		{Key: "endpoints/web2/a", Reason: `service "web2" not found; the endpoint is not sent`},
		{Key: "service/typo", Reason: "no kind"},
	}
	if !slices.Equal(res.Ignored, want) {
		t.Fatalf("ignored %v, want %v", res.Ignored, want)
	}
	if len(res.Rejected) != 1 || res.Rejected[0].Ref.Name != "broken" {
		t.Fatalf("rejected %v, want only services/broken", res.Rejected)
	}
}
