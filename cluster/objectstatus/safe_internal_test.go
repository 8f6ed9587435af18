package objectstatus

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

// A key whose name is not valid (the crash key of issue 17) gets its
// rejection recorded under the very key, with a reason that is valid UTF-8
// and bounded, so it reads back as written; a name longer than any valid
// one gets no record, which would be as long as the name.
func TestStatusOfKeysWithInvalidNames(t *testing.T) {
	ks := storage.NewKeyspace("/chancery/v1")
	crash := model.Ref{Kind: model.KindService, Name: "bad\xffx"}
	huge := model.Ref{Kind: model.KindService, Name: strings.Repeat("x", 2*model.KeyTextMax)}
	wordy := model.Ref{Kind: model.KindRouteTable, Name: "web"}
	snap := model.NewSnapshot(9)
	snap.Reject(crash, model.ValidateName(crash))
	snap.Reject(huge, model.ValidateName(huge))
	snap.Reject(wordy, errors.New("bytes \xfe\xff and "+strings.Repeat("a very long reason ", 2000)))

	got := desiredStatus(ks, &Input{Snapshot: snap})
	st, ok := got["/chancery/v1/status/services/bad\xffx"]
	if !ok || st.State != storage.StatusRejected || !strings.Contains(st.Reason, `"bad\xffx"`) {
		t.Errorf("status of the crash key: %+v (present %v), want rejected naming it escaped", st, ok)
	}
	if _, ok := got[ks.StatusKey(huge)]; ok {
		t.Errorf("a status record for a name of %d bytes", len(huge.Name))
	}
	for key, st := range got {
		if !utf8.ValidString(st.Reason) || len(st.Reason) > model.ReasonTextMax {
			t.Errorf("status %q: reason of %d bytes, valid UTF-8 %v", key, len(st.Reason), utf8.ValidString(st.Reason))
		}
	}
	if st := got[ks.StatusKey(wordy)]; st.State != storage.StatusRejected {
		t.Errorf("status of routes/web: %+v, want rejected", st)
	}
}
