package translator

import (
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// The two RBAC filters: a policy's deny rules run first, then its allow
// rules. Envoy gives one RBAC filter one action.
const (
	rbacDenyFilter  = "chancery.rbac.deny"
	rbacAllowFilter = "chancery.rbac.allow"
)

// rbacPlugin translates a policy's authorization and a tcp listener's.
type rbacPlugin struct{}

func (rbacPlugin) name() string { return "rbac" }

func (rbacPlugin) httpFilters(*listenerContext) ([]*hcmv3.HttpFilter, error) {
	var out []*hcmv3.HttpFilter
	for _, name := range []string{rbacDenyFilter, rbacAllowFilter} {
		f, err := disabledHTTPFilter(name, &rbacv3.RBAC{})
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}
