package model

// Authorization is a policy's RBAC: allow and deny rules.
type Authorization struct{}

func (a *Authorization) validate(v *validator, p string) {}

// ExtAuthzPolicy turns the listener's external authorization off (or on)
// for the requests a policy covers.
type ExtAuthzPolicy struct{}

func (e *ExtAuthzPolicy) validate(v *validator, p string) {}

// NetworkAuthorization admits a tcp listener's connections by source.
type NetworkAuthorization struct{}

// ExtAuthz is a listener's external authorization service.
type ExtAuthz struct{}

func (l *Listener) validateAuthz(v *validator) {}
