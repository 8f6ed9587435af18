package mailbox

import "testing"

// The mailbox keeps only the newest value and never blocks the producer.
func TestMailbox(t *testing.T) {
	m := New[*int]()
	if m.Take() != nil {
		t.Fatal("empty mailbox returned a value")
	}
	for i := range 3 {
		m.Put(&i)
	}
	select {
	case <-m.ready:
	default:
		t.Fatal("no token after put")
	}
	if got := m.Take(); *got != 2 {
		t.Errorf("took %d, want the newest, 2", *got)
	}
}
