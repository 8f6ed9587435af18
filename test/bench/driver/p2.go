package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// rebuildResult is one line of bench-rebuild's output.
type rebuildResult struct {
	Services         int       `json:"services"`
	Groups           int       `json:"groups"`
	FullTranslate    []float64 `json:"full_translate_ms"`
	FullPublish      []float64 `json:"full_publish_ms"`
	ChangeTranslate  []float64 `json:"change_translate_ms"`
	ChangePublish    []float64 `json:"change_publish_ms"`
	GroupBytes       int       `json:"group_bytes"`
	GroupResources   int       `json:"group_resources"`
	FullAllocMiB     float64   `json:"full_alloc_mib"`
	HeapAfterFullMiB float64   `json:"heap_after_full_mib"`
}

// p2 runs bench-rebuild, which times the replica's rebuild path in a
// process of its own, so nothing of the driver's heap is in its figures.
func (d *driver) p2(ctx context.Context) error {
	var sizes []string
	for _, n := range d.scale.p2Services {
		sizes = append(sizes, strconv.Itoa(n))
	}
	args := []string{"-services", strings.Join(sizes, ","),
		"-endpoints", "5", "-groups", strconv.Itoa(d.scale.groups),
		"-repeats", strconv.Itoa(d.scale.p2Repeats), "-changes", strconv.Itoa(d.scale.p2Changes)}
	if d.cfg.profile {
		dir := filepath.Join(d.dir, "profiles")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		args = append(args, "-cpuprofile", filepath.Join(dir, "p2-rebuild-cpu.pb.gz"))
	}
	cmd := exec.CommandContext(ctx, d.bin("bench-rebuild"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r rebuildResult
		if jerr := json.Unmarshal(sc.Bytes(), &r); jerr != nil {
			return fmt.Errorf("bench-rebuild said %q: %w", sc.Text(), jerr)
		}
		d.p2Metrics(r)
	}
	if err != nil {
		return fmt.Errorf("bench-rebuild: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func (d *driver) p2Metrics(r rebuildResult) {
	scale := fmt.Sprintf("services=%d", r.Services)
	add := func(name string, v float64, unit, note string) {
		d.report.add(Metric{Phase: "P2", Name: name, Server: chancery, Scale: scale, Value: v, Unit: unit, Note: note})
	}
	sum := func(a, b []float64) []float64 {
		out := make([]float64, len(a))
		for i := range a {
			out[i] = a[i] + b[i]
		}
		return out
	}
	full, change := sum(r.FullTranslate, r.FullPublish), sum(r.ChangeTranslate, r.ChangePublish)
	runs := fmt.Sprintf("median of %d", len(full))
	add("full_rebuild", round(median(full), 1), "ms", "translate + publish, "+runs)
	add("full_translate", round(median(r.FullTranslate), 1), "ms", runs)
	add("full_publish", round(median(r.FullPublish), 1), "ms", runs)
	runs = fmt.Sprintf("median of %d", len(change))
	add("endpoint_change_rebuild", round(median(change), 2), "ms", "translate + publish of one endpoint change, "+runs)
	add("endpoint_change_translate", round(median(r.ChangeTranslate), 2), "ms", runs)
	add("endpoint_change_publish", round(median(r.ChangePublish), 2), "ms", runs)
	add("snapshot_bytes", round(float64(r.GroupBytes)/(1<<20), 2), "MiB",
		fmt.Sprintf("one group's %d resources marshalled; the %d groups share them", r.GroupResources, r.Groups))
	add("full_rebuild_alloc", round(r.FullAllocMiB, 1), "MiB", "allocated by one full rebuild")
	add("published_heap", round(r.HeapAfterFullMiB, 1), "MiB", "live heap after a full rebuild")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
