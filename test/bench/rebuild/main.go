// Command bench-rebuild measures P2 in process: the replica's rebuild path,
// translator.Translate followed by xdsserver.Server.Publish, for a full
// load and for a single endpoint change, at each number of services. It
// prints one JSON line per size.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/test/bench/workload"
	"github.com/chancery-xds/chancery/translator"
	"github.com/chancery-xds/chancery/xdsserver"
)

// Result is one size's figures; durations in ms.
type Result struct {
	Services         int       `json:"services"`
	Endpoints        int       `json:"endpoints"`
	Groups           int       `json:"groups"`
	FullTranslate    []float64 `json:"full_translate_ms"`
	FullPublish      []float64 `json:"full_publish_ms"`
	ChangeTranslate  []float64 `json:"change_translate_ms"`
	ChangePublish    []float64 `json:"change_publish_ms"`
	GroupBytes       int       `json:"group_bytes"`         // one group's resources, marshalled
	DistinctBytes    int       `json:"distinct_bytes"`      // every distinct resource once (groups share them)
	GroupResources   int       `json:"group_resources"`     // resources in one group's snapshot
	FullAllocMiB     float64   `json:"full_alloc_mib"`      // allocated by one full rebuild
	HeapAfterFullMiB float64   `json:"heap_after_full_mib"` // live heap holding the published state
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench-rebuild: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	sizes := flag.String("services", "1000,10000", "comma-separated numbers of services")
	endpoints := flag.Int("endpoints", 5, "endpoints per service")
	groups := flag.Int("groups", 10, "node groups the listener selects")
	repeats := flag.Int("repeats", 3, "full rebuilds per size, each on a fresh server")
	changes := flag.Int("changes", 20, "single endpoint changes per size")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of every rebuild to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-services: %w", err)
		}
		r, err := measure(workload.Spec{Services: n, EndpointsPer: *endpoints, Groups: workload.Groups(*groups)}, *repeats, *changes)
		if err != nil {
			return fmt.Errorf("%d services: %w", n, err)
		}
		line, err := json.Marshal(r)
		if err != nil {
			return err
		}
		fmt.Println(string(line))
	}
	return nil
}

func measure(spec workload.Spec, repeats, changes int) (Result, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	snap := workload.Snapshot(1, workload.Objects(spec))
	r := Result{Services: spec.Services, Endpoints: spec.Services * spec.EndpointsPer, Groups: len(spec.Groups)}
	var srv *xdsserver.Server
	var memo *translator.Memo
	for i := range repeats {
		srv, memo = xdsserver.New(ctx, xdsserver.Config{}), translator.NewMemo()
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		tr, pub, res, err := rebuild(srv, memo, snap)
		if err != nil {
			return r, err
		}
		r.FullTranslate, r.FullPublish = append(r.FullTranslate, tr), append(r.FullPublish, pub)
		if i == 0 {
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			r.FullAllocMiB = float64(after.TotalAlloc-before.TotalAlloc) / (1 << 20)
			r.GroupBytes, r.DistinctBytes, r.GroupResources = sizes(res)
			runtime.GC()
			runtime.ReadMemStats(&after)
			r.HeapAfterFullMiB = float64(after.HeapAlloc) / (1 << 20)
		}
	}
	for i := range changes {
		// One endpoint moves, as an operator or a registration would move it.
		// The snapshot names its change, as the watcher's do.
		o := workload.Endpoint(i%spec.Services, 0, uint64(i+1))
		snap.Base, snap.Changed = snap.Revision, []model.Ref{o.Ref}
		snap.Revision++
		snap.Put(o.Ref, o.Value)
		tr, pub, _, err := rebuild(srv, memo, snap)
		if err != nil {
			return r, err
		}
		r.ChangeTranslate, r.ChangePublish = append(r.ChangeTranslate, tr), append(r.ChangePublish, pub)
	}
	return r, nil
}

// rebuild is what a replica does with each snapshot (cmd/chancery's
// rebuilder): translate, then publish.
func rebuild(srv *xdsserver.Server, memo *translator.Memo, snap *model.Snapshot) (translateMs, publishMs float64, res *translator.Resources, err error) {
	t0 := time.Now()
	res, _ = memo.Translate(snap) // the workload has no rejections; Publish would log them
	t1 := time.Now()
	if err := srv.Publish(&res.Resources); err != nil {
		return 0, 0, nil, fmt.Errorf("publish: %w", err)
	}
	t2 := time.Now()
	return float64(t1.Sub(t0).Microseconds()) / 1000, float64(t2.Sub(t1).Microseconds()) / 1000, res, nil
}

// sizes measures the marshalled resources: one group's, and every distinct
// one (groups share resource pointers).
func sizes(res *translator.Resources) (group, distinct, count int) {
	seen := map[proto.Message]bool{}
	first := true
	for _, name := range slices.Sorted(maps.Keys(res.Groups)) {
		g := res.Groups[name]
		var msgs []proto.Message
		for _, m := range g.Listeners {
			msgs = append(msgs, m)
		}
		for _, m := range g.Routes {
			msgs = append(msgs, m)
		}
		for _, m := range g.Clusters {
			msgs = append(msgs, m)
		}
		for _, m := range g.Endpoints {
			msgs = append(msgs, m)
		}
		for _, m := range msgs {
			size := proto.Size(m)
			if first {
				group += size
				count++
			}
			if !seen[m] {
				seen[m] = true
				distinct += size
			}
		}
		first = false
	}
	return group, distinct, count
}
