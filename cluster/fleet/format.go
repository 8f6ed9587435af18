package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// ErrNoSuchEnvoy is returned by WriteEnvoy for a node id no replica serves.
var ErrNoSuchEnvoy = errors.New("cluster: no connected Envoy has that node id")

// maxErrorColumn keeps the fleet table one line per Envoy; WriteEnvoy shows
// errors whole.
const maxErrorColumn = 60

// WriteTable writes the fleet view: the leader and the counts, then one
// line per Envoy with its state for each xDS type and its NACK error, if any.
func WriteTable(w io.Writer, f *View) error {
	var buf bytes.Buffer
	leader := f.Leader
	if leader == "" {
		leader = "(none)"
	}
	fmt.Fprintf(&buf, "Leader: %s   Revision: %d   Replicas: %d   Envoys: %d\n\n", leader, f.Revision, len(f.Replicas), len(f.Envoys))
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "NODE\tGROUP\tREPLICA\t%s\tERROR\n", strings.ToUpper(strings.Join(Types, "\t")))
	for _, e := range f.Envoys {
		states := make([]string, len(e.Sync))
		nack := ""
		for i, s := range e.Sync {
			states[i] = string(s.State)
			if s.State == Nacked && nack == "" {
				nack = s.Type + ": " + oneLine(s.NackError, maxErrorColumn)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.NodeID, e.Group, e.Replica, strings.Join(states, "\t"), nack)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(trimLines(buf.Bytes()))
	return err
}

// trimLines drops the padding tabwriter leaves after a line's last column.
func trimLines(b []byte) []byte {
	lines := bytes.Split(b, []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimRight(l, " ")
	}
	return bytes.Join(lines, []byte("\n"))
}

// WriteEnvoy writes everything the fleet knows of one Envoy: each replica
// that reports it (more than one only while a dead replica's lease runs
// out) and, per type, the versions sent, ACKed and current, and the whole
// NACK error.
func WriteEnvoy(w io.Writer, f *View, nodeID string, now time.Time) error {
	var buf bytes.Buffer
	for _, e := range f.Envoys {
		if e.NodeID != nodeID {
			continue
		}
		if buf.Len() > 0 {
			buf.WriteString("\n")
		}
		if err := writeEnvoy(&buf, f, e, now); err != nil {
			return err
		}
	}
	if buf.Len() == 0 {
		return fmt.Errorf("%w: %q", ErrNoSuchEnvoy, nodeID)
	}
	_, err := w.Write(trimLines(buf.Bytes()))
	return err
}

func writeEnvoy(buf *bytes.Buffer, f *View, e EnvoyStatus, now time.Time) error {
	mode := "state of the world"
	if e.Delta {
		mode = "delta"
	}
	fmt.Fprintf(buf, "Node:       %s\nGroup:      %s\nReplica:    %s%s\nConnected:  %s (%s ago)\nADS:        %s\n\n",
		e.NodeID, e.Group, e.Replica, replicaAddress(f, e.Replica),
		e.Connected.UTC().Format(time.RFC3339), now.Sub(e.Connected).Round(time.Second), mode)
	tw := tabwriter.NewWriter(buf, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tSTATE\tSENT\tACKED\tCURRENT")
	for _, s := range e.Sync {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Type, s.State, dash(s.Sent), dash(s.Acked), dash(s.Current))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range e.Sync {
		if s.NackError != "" {
			fmt.Fprintf(buf, "\n%s NACK error:\n  %s\n", s.Type, strings.ReplaceAll(strings.TrimSpace(s.NackError), "\n", "\n  "))
		}
	}
	return nil
}

func replicaAddress(f *View, id string) string {
	for _, r := range f.Replicas {
		if r.ID == id && r.Address != "" {
			return " (" + r.Address + ")"
		}
	}
	return ""
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine flattens s and cuts it at n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
