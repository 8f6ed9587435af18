package translator

import (
	"fmt"
	"strings"

	"github.com/chancery-xds/chancery/storage/model"
)

// Envoy checks some things only when it loads a resource, beyond the proto
// validation ValidateAll runs. A resource that fails them is NACKed, which
// leaves the whole group on stale config, so the translator rejects the
// object instead. These checks belong in model validation eventually; they
// live here until then because the translator is what must never emit them.

// maxDirectResponseBody is Envoy's default max_direct_response_body_size_bytes.
const maxDirectResponseBody = 4096

// validatable is every generated Envoy message: ValidateAll runs its
// protoc-gen-validate rules.
type validatable interface{ ValidateAll() error }

// envoyValid runs a resource's generated validation; it exists so that the
// call sites read as the policy ("never send what Envoy refuses").
func envoyValid(m validatable) error { return m.ValidateAll() }

// routeTableLimits reports what Envoy's route loader refuses although the
// model accepts it.
func routeTableLimits(rt *model.RouteTable) model.FieldErrors {
	var errs model.FieldErrors
	add := func(field, format string, args ...any) {
		errs = append(errs, &model.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	for i, vh := range rt.VirtualHosts {
		for j, r := range vh.Routes {
			p := fmt.Sprintf("virtual_hosts[%d].routes[%d]", i, j)
			if dr := r.DirectResponse; dr != nil && len(dr.Body) > maxDirectResponseBody {
				add(p+".direct_response.body", "is %d bytes; Envoy refuses direct responses over %d", len(dr.Body), maxDirectResponseBody)
			}
			for k, h := range r.RequestHeadersToAdd {
				if !modifiableHeader(h.Name) {
					add(fmt.Sprintf("%s.request_headers_to_add[%d].name", p, k), "Envoy refuses to set %q: pseudo-headers and host may not be modified", h.Name)
				}
			}
			for k, h := range r.ResponseHeadersToAdd {
				if !modifiableHeader(h.Name) {
					add(fmt.Sprintf("%s.response_headers_to_add[%d].name", p, k), "Envoy refuses to set %q: pseudo-headers and host may not be modified", h.Name)
				}
			}
			for k, h := range r.RequestHeadersToRemove {
				if !modifiableHeader(h) {
					add(fmt.Sprintf("%s.request_headers_to_remove[%d]", p, k), "Envoy refuses to remove %q: pseudo-headers and host may not be removed", h)
				}
			}
		}
	}
	return errs
}

// modifiableHeader mirrors Envoy's rule for header edits on routes.
func modifiableHeader(name string) bool {
	return !strings.HasPrefix(name, ":") && !strings.EqualFold(name, "host")
}

// literalHeaderValue escapes '%': Envoy reads header values as
// access-log-style format strings, where a lone '%' (as in "100%") is a
// load error and "%VAR%" is a substitution. The model's value is literal.
func literalHeaderValue(v string) string {
	return strings.ReplaceAll(v, "%", "%%")
}
