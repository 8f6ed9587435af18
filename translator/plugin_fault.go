package translator

import (
	faultcommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/chancery-xds/chancery/storage/model"
)

// faultFilter is the fault injection filter; policies enable it per route.
const faultFilter = "envoy.filters.http.fault"

// faultPlugin translates a policy's fault into the fault filter's
// per-route configuration of its level.
type faultPlugin struct{}

func (faultPlugin) name() string { return "fault" }

func (faultPlugin) httpFilters(*listenerContext) ([]*hcmv3.HttpFilter, error) {
	f, err := disabledHTTPFilter(faultFilter, &faultv3.HTTPFault{})
	return []*hcmv3.HttpFilter{f}, err
}

func (faultPlugin) policy(_ *routeContext, p *model.HTTPPolicy, at *policyLevel) model.FieldErrors {
	f := p.Fault
	if f == nil {
		return nil
	}
	cfg := &faultv3.HTTPFault{}
	if a := f.Abort; a != nil {
		cfg.Abort = &faultv3.FaultAbort{Percentage: millionths(a.Percent)}
		if a.GRPCStatus != 0 {
			cfg.Abort.ErrorType = &faultv3.FaultAbort_GrpcStatus{GrpcStatus: a.GRPCStatus}
		} else {
			cfg.Abort.ErrorType = &faultv3.FaultAbort_HttpStatus{HttpStatus: a.Status}
		}
	}
	if d := f.Delay; d != nil {
		cfg.Delay = &faultcommonv3.FaultDelay{
			FaultDelaySecifier: &faultcommonv3.FaultDelay_FixedDelay{FixedDelay: durationpb.New(d.Duration.Std())},
			Percentage:         millionths(d.Percent),
		}
	}
	if fe := at.set(faultFilter, cfg); fe != nil {
		return model.FieldErrors{fe}
	}
	return nil
}

// millionths is a share as Envoy counts it (unset is all).
func millionths(p *float64) *typev3.FractionalPercent {
	return &typev3.FractionalPercent{Numerator: model.PercentMillionths(p), Denominator: typev3.FractionalPercent_MILLION}
}
