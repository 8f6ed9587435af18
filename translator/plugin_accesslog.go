package translator

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/chancery-xds/chancery/storage/model"
)

// accessLogPlugin translates a listener's access logs, and a route's stat
// prefix: what a request leaves behind once answered.
type accessLogPlugin struct{}

func (accessLogPlugin) name() string { return "access_log" }

func (accessLogPlugin) hcm(c *listenerContext, m *hcmv3.HttpConnectionManager) error {
	logs, err := accessLogs(c.l.AccessLogs)
	m.AccessLog = append(m.AccessLog, logs...)
	return err
}

// tcp gives a tcp listener's proxy its logs: a line per connection, when
// it closes (the model refuses status filters there).
func (accessLogPlugin) tcp(c *listenerContext, filters []*listenerv3.Filter, p *tcpproxyv3.TcpProxy) ([]*listenerv3.Filter, error) {
	logs, err := accessLogs(c.l.AccessLogs)
	p.AccessLog = append(p.AccessLog, logs...)
	return filters, err
}

func (accessLogPlugin) route(_ *routeContext, r *model.Route, _ string, out *routev3.Route) model.FieldErrors {
	out.StatPrefix = r.StatPrefix
	return nil
}

// accessLogs are Envoy's file access loggers for a listener's logs, in
// the listener's order; /dev/stdout and /dev/stderr are files to Envoy.
func accessLogs(logs []model.AccessLog) ([]*accesslogv3.AccessLog, error) {
	var out []*accesslogv3.AccessLog
	for i := range logs {
		a := &logs[i]
		file := &filev3.FileAccessLog{Path: a.Path}
		if f := logFormat(a); f != nil {
			file.AccessLogFormat = &filev3.FileAccessLog_LogFormat{LogFormat: f}
		}
		cfg, err := pack(file)
		if err != nil {
			return nil, fmt.Errorf("access_logs[%d]: %w", i, err)
		}
		out = append(out, &accesslogv3.AccessLog{
			Name:       wellknown.FileAccessLog,
			Filter:     statusFilter(a.Status),
			ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: cfg},
		})
	}
	return out, nil
}

// logFormat is a log's format: nil for Envoy's default text line.
func logFormat(a *model.AccessLog) *corev3.SubstitutionFormatString {
	if a.Format == model.AccessLogJSON {
		return &corev3.SubstitutionFormatString{
			Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: jsonFields(a.Fields)},
		}
	}
	if a.Text == "" {
		return nil
	}
	text := a.Text
	if !strings.HasSuffix(text, "\n") {
		text += "\n" // Envoy writes a format as is: the newline ends the line
	}
	return &corev3.SubstitutionFormatString{
		Format: &corev3.SubstitutionFormatString_TextFormatSource{TextFormatSource: &corev3.DataSource{
			Specifier: &corev3.DataSource_InlineString{InlineString: text},
		}},
	}
}

// jsonFields is a json log's keys, built in key order (the marshal sorts
// map entries too, but the Struct is then the same however it is read).
func jsonFields(fields map[string]string) *structpb.Struct {
	s := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(fields))}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		s.Fields[k] = structpb.NewStringValue(fields[k])
	}
	return s
}

// statusFilter keeps the requests whose response code is in the range;
// nil when the log keeps every one.
func statusFilter(s *model.StatusFilter) *accesslogv3.AccessLogFilter {
	if s == nil {
		return nil
	}
	cmp := func(op accesslogv3.ComparisonFilter_Op, code uint32) *accesslogv3.AccessLogFilter {
		return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_StatusCodeFilter{
			StatusCodeFilter: &accesslogv3.StatusCodeFilter{Comparison: &accesslogv3.ComparisonFilter{
				Op: op, Value: &corev3.RuntimeUInt32{DefaultValue: code},
			}},
		}}
	}
	var fs []*accesslogv3.AccessLogFilter
	if s.Min != 0 {
		fs = append(fs, cmp(accesslogv3.ComparisonFilter_GE, s.Min))
	}
	if s.Max != 0 {
		fs = append(fs, cmp(accesslogv3.ComparisonFilter_LE, s.Max))
	}
	if len(fs) == 1 {
		return fs[0]
	}
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_AndFilter{AndFilter: &accesslogv3.AndFilter{Filters: fs}}}
}
