package model_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/chancery-xds/chancery/storage/model"
)

// readmePut is an example write of the README: $E put <prefix>/<key> '<json>'.
var readmePut = regexp.MustCompile(`(?s)\$E put /chancery/v1/([a-z_]+)/(\S+)\s+'(.*?)'`)

// Every object the README writes with etcdctl decodes: an example an
// operator copies is accepted, whatever it refers to.
func TestREADMEExamplesDecode(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	puts := readmePut.FindAllStringSubmatch(string(readme), -1)
	if len(puts) < 15 {
		t.Fatalf("found %d example writes in the README, want 15 or more", len(puts))
	}
	for _, m := range puts {
		kind, ok := model.KindForSegment(m[1])
		if !ok {
			t.Errorf("README writes %s/%s: no kind has segment %q", m[1], m[2], m[1])
			continue
		}
		name := m[2]
		if kind.NameParts() == 1 {
			name, _, _ = strings.Cut(name, "/")
		}
		if _, err := model.Decode(model.Ref{Kind: kind, Name: name}, []byte(m[3])); err != nil {
			t.Errorf("README example %s/%s: %v", m[1], m[2], err)
		}
	}
}
