package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/storage/embedetcd"
)

// --history-retention: a day by default, revisions or a duration, 0 for
// everything; a bad value and a value for an etcd chancery does not run
// are refused.
func TestHistoryRetentionFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want embedetcd.Retention
	}{
		{nil, nil, embedetcd.Retention{Period: 24 * time.Hour}},
		{[]string{"--history-retention", "10000"}, nil, embedetcd.Retention{Revisions: 10000}},
		{[]string{"--history-retention", "90m"}, nil, embedetcd.Retention{Period: 90 * time.Minute}},
		{[]string{"--history-retention", "0"}, nil, embedetcd.Retention{}},
		{nil, map[string]string{"CHANCERY_HISTORY_RETENTION": "500"}, embedetcd.Retention{Revisions: 500}},
	} {
		c, err := parseServeFlags(tc.args, envOf(tc.env))
		if err != nil || c.historyRetention != tc.want {
			t.Errorf("%v %v: %+v, %v; want %+v", tc.args, tc.env, c, err, tc.want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--history-retention", "-5"}, `--history-retention: history retention "-5": want 0 or more revisions`},
		{[]string{"--history-retention", "a day"}, `--history-retention: history retention "a day": want a number of revisions (10000), a duration (24h) or 0`},
		{[]string{"--history-retention", "10s"}, `--history-retention: history retention "10s": want at least 1m, or a number of revisions`},
		{[]string{"--history-retention", "1000", "--etcd-endpoints", "http://127.0.0.1:2379"}, "--history-retention applies to the embedded etcd only"},
	} {
		if _, err := parseServeFlags(tc.args, envOf(nil)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	if r := (embedetcd.Retention{Revisions: 7}).String(); r != "7" {
		t.Errorf("String: %q", r)
	}
}
