package health

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chancery-xds/chancery/storage/model"
)

// Thresholds count consecutive results, and only crossings are reported.
func TestTargetThresholds(t *testing.T) {
	fail := errors.New("refused")
	tests := []struct {
		name    string
		start   string
		results []error
		want    []string // verdict reported after each result, "" for none
	}{
		{"unknown to healthy after 2", "", []error{nil, nil, nil}, []string{"", model.Healthy, ""}},
		{"healthy to unhealthy after 3", model.Healthy, []error{fail, fail, fail, fail}, []string{"", "", model.Unhealthy, ""}},
		{"a pass resets the failures", model.Healthy, []error{fail, fail, nil, fail, fail}, []string{"", "", "", "", ""}},
		{"unhealthy back after 2", model.Unhealthy, []error{nil, fail, nil, nil}, []string{"", "", "", model.Healthy}},
		{"unknown to unhealthy after 3", "", []error{fail, fail, fail}, []string{"", "", model.Unhealthy}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := &target{verdict: tt.start, spec: checkSpec{healthy: 2, unhealthy: 3}}
			for i, err := range tt.results {
				got, changed := tg.observe(err)
				if changed != (tt.want[i] != "") || got != tt.want[i] {
					t.Errorf("result %d (%v): reported %q (%v), want %q", i, err, got, changed, tt.want[i])
				}
			}
		})
	}
}

// Unset fields take the documented defaults; a defaulted timeout never
// outlasts the interval.
func TestSpecDefaults(t *testing.T) {
	s, ok := specFor(&model.Service{Protocol: model.ProtocolGRPC, HealthCheck: &model.HealthCheck{Type: "tcp", Interval: model.D(500 * time.Millisecond)}})
	if !ok {
		t.Fatal("no spec for a service with a health check")
	}
	want := checkSpec{kind: "tcp", h2c: true, interval: 500 * time.Millisecond, timeout: 500 * time.Millisecond, healthy: 2, unhealthy: 3}
	if !s.equal(want) {
		t.Errorf("spec %+v, want %+v", s, want)
	}
	if _, ok := specFor(&model.Service{Protocol: model.ProtocolHTTP}); ok {
		t.Error("a service without health_check got a spec")
	}
	d, _ := specFor(&model.Service{Protocol: model.ProtocolHTTP, HealthCheck: &model.HealthCheck{Type: "http", Path: "/"}})
	if d.interval != 5*time.Second || d.timeout != time.Second || !d.expects(204) || d.expects(301) {
		t.Errorf("defaults: %+v", d)
	}
}

// A failed check's reason quotes the endpoint's error: cut to its bound, it
// stays valid UTF-8 (it was cut at a byte, through a rune).
func TestHealthReasonIsCutAtARune(t *testing.T) {
	tg := &target{spec: checkSpec{healthy: 2, unhealthy: 3}}
	got := reason(tg, errors.New("gRPC health: x"+strings.Repeat("é", maxReason)))
	if !utf8.ValidString(got) || len(got) > maxReason {
		t.Errorf("reason of %d bytes (at most %d), valid UTF-8 %v: %q", len(got), maxReason, utf8.ValidString(got), got)
	}
	if !strings.Contains(got, "3 consecutive checks failed, last: gRPC health: xéé") {
		t.Errorf("reason %q does not say what failed", got)
	}
}
