package translator

import (
	"errors"
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
