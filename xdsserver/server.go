// Package xdsserver serves translated resources to Envoys over ADS, state of
// the world and delta, with go-control-plane's API types. It keeps one
// snapshot per node group (Envoy's node.cluster), versioned by content, so
// every replica serves the same versions for the same etcd content, and
// works out what changed once per group and type rather than once per
// stream (see stream.go).
package xdsserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/chancery-xds/chancery/internal/safetext"
	"github.com/chancery-xds/chancery/translator/output"
)

// Config configures a Server.
type Config struct {
	Logger     *zap.Logger
	Registerer prometheus.Registerer // nil: metrics are not registered
	// ClientCertGroups makes a stream's verified client certificate decide
	// which node groups it may claim (auth.go); set it when the port
	// requires client certificates (TLSFiles with a client CA).
	ClientCertGroups bool
}

// Server publishes snapshots and serves them over gRPC.
type Server struct {
	ctx     context.Context // streams end when it is done
	log     *zap.Logger
	metrics *metrics
	auth    *streamAuth // which groups a stream may claim
	live    groups      // what streams read: a snapshot and the streams per group
	streams streamSet   // every open stream
	// receivers counts the streams' receiving goroutines (stream.go),
	// which end once their handlers have returned.
	receivers sync.WaitGroup
	enc       *encoder // guarded by mu

	mu        sync.Mutex                // guards what follows; publishes are serialised
	groups    map[string]*groupSnapshot // published snapshot per group, including empty ones
	named     map[string]bool           // the groups the last publish's listeners name
	revision  int64                     // etcd revision of the last publish
	rejected  map[string]string         // key -> reason, as last logged
	ignored   *ignoredKeys              // keys of no kind, as last logged
	published atomic.Bool               // a first publish succeeded: ready to serve
}

// New returns a server; Register puts it on a gRPC server. Its streams end
// when ctx is done.
func New(ctx context.Context, cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Server{
		ctx:      ctx,
		log:      cfg.Logger,
		metrics:  newMetrics(cfg.Registerer),
		auth:     newStreamAuth(cfg),
		live:     groups{all: map[string]*group{}, pending: map[*group]struct{}{}},
		streams:  streamSet{all: map[int64]*stream{}},
		groups:   map[string]*groupSnapshot{},
		enc:      newEncoder(),
		rejected: map[string]string{},
		ignored:  newIgnoredKeys(cfg.Registerer),
	}
}

// Wait waits until the goroutines the server started have ended: each
// stream's receiver, which ends when its handler has returned, and the
// one waking the streams of a publish in waves. Call it once the gRPC
// server has stopped and no publish is under way.
func (s *Server) Wait() {
	s.receivers.Wait()
	s.live.workers.Wait()
}

// Ready reports whether a first snapshot has been published.
func (s *Server) Ready() bool { return s.published.Load() }

// Publish makes res the served state. Each group's snapshot is validated
// (Envoy's proto validation and reference consistency) before it replaces
// the group's previous one; a group whose snapshot fails keeps serving its
// last good one. Groups whose versions did not change are not touched, so
// nothing is pushed. Groups that Envoys use but no listener names get an
// empty snapshot, for as long as they have Envoys (forgetGroups). The
// error joins the groups that failed.
func (s *Server) Publish(res *output.Resources) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logRejections(res.Rejections)
	s.ignored.report(s.log, res.IgnoredKeys)

	names := make([]string, 0, len(res.Groups)+len(s.groups))
	for g := range res.Groups {
		names = append(names, g)
	}
	for _, g := range s.live.withStreams() {
		if res.Groups[g] == nil && !slices.Contains(names, g) {
			names = append(names, g) // Envoys of a group no listener names get an empty snapshot
		}
	}
	names = s.forgetGroups(res, names)
	sort.Strings(names)
	s.enc.begin()
	var failed []error
	var changed []*group
	for _, g := range names {
		set, err := s.publishGroup(g, res.Groups[g])
		if err != nil {
			failed = append(failed, err)
		}
		if set != nil {
			changed = append(changed, set)
		}
	}
	s.live.wake(changed)
	s.enc.prune()
	s.revision = res.Revision
	s.metrics.revision.Set(float64(res.Revision))
	if len(failed) > 0 {
		return errors.Join(failed...)
	}
	s.published.Store(true)
	return nil
}

// publishGroup builds and stores a group's snapshot. It returns the live
// group if the snapshot changed, for the caller to wake its streams.
func (s *Server) publishGroup(group string, g *output.Group) (*group, error) {
	next, err := buildSnapshot(s.enc, g, s.groups[group])
	if err != nil {
		s.metrics.publishErrors.WithLabelValues(group).Inc()
		s.log.Error("snapshot not published: the group keeps its last good one",
			zap.String("group", group), zap.Error(err))
		return nil, fmt.Errorf("group %q: %w", group, err)
	}
	if prev := s.groups[group]; prev != nil && sameVersions(prev.versions, next.versions) {
		return nil, nil
	}
	s.groups[group] = next
	live := s.live.get(group)
	live.set(next)
	s.metrics.publishes.WithLabelValues(group).Inc()
	s.log.Debug("published", zap.String("group", group), zap.Any("versions", next.versions))
	return live, nil
}

// ensureGroup gives a group that has Envoys but no snapshot an empty one, so
// its Envoys finish initialising instead of waiting.
func (s *Server) ensureGroup(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups[name] != nil || !s.published.Load() {
		return
	}
	set, err := s.publishGroup(name, nil)
	if err != nil {
		s.log.Error("empty snapshot for new group", zap.String("group", name), zap.Error(err))
	}
	if set != nil {
		s.live.wake([]*group{set})
	}
}

// GroupVersions is what /debug/snapshot shows of one group.
type GroupVersions struct {
	Group    string            `json:"group"`
	Revision int64             `json:"revision"`
	Versions map[string]string `json:"versions"`
}

// Versions returns the published versions of one group.
func (s *Server) Versions(group string) (GroupVersions, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[group]
	if !ok {
		return GroupVersions{}, false
	}
	return GroupVersions{Group: group, Revision: s.revision, Versions: g.versions}, true
}

// Groups lists the groups with a published snapshot.
func (s *Server) Groups() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := mapKeys(s.groups)
	sort.Strings(out)
	return out
}

// Resources returns the published resources of one group and type, for
// debugging.
func (s *Server) Resources(group, typeName string) ([]proto.Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[group]
	if !ok {
		return nil, false
	}
	for typ, name := range typeNames {
		if name == typeName {
			items := g.types[typ].items // sorted by name, as the translator gives them
			out := make([]proto.Message, len(items))
			for i, r := range items {
				out[i] = r
			}
			return out, true
		}
	}
	return nil, false
}

// logRejections logs each rejection once, when it appears or changes, and
// when it clears, and keeps the per-key gauge current. Keys and reasons
// are shown as safetext.Text makes them: a key is any bytes an operator
// wrote to etcd, and a label that is not valid UTF-8 panics.
func (s *Server) logRejections(rejected []output.Problem) {
	now := make(map[string]string, len(rejected))
	s.metrics.rejected.Reset()
	for _, r := range rejected {
		key, reason := rejectionText(r)
		now[key] = reason
		s.metrics.rejected.WithLabelValues(r.Kind, key).Set(1)
		if s.rejected[key] != reason {
			s.log.Warn("object rejected", zap.String("key", key), zap.String("kind", r.Kind), zap.String("reason", reason))
		}
	}
	for key := range s.rejected {
		if _, ok := now[key]; !ok {
			s.log.Info("object accepted again", zap.String("key", key))
		}
	}
	s.rejected = now
}

// rejectionText is a rejection's key and reason, safe to log and export.
func rejectionText(r output.Problem) (key, reason string) {
	return safetext.Text(r.Key, safetext.KeyMax), safetext.Text(r.Reason, safetext.ReasonMax)
}

// Rejections returns the current rejections, key -> reason, as logged.
func (s *Server) Rejections() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.rejected))
	for k, v := range s.rejected {
		out[k] = v
	}
	return out
}

func sameVersions(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
