package model

// AccessLog is one place a listener writes a line per request.
type AccessLog struct{}

// Tracing sends a listener's spans to an OpenTelemetry collector.
type Tracing struct{}

func (l *Listener) validateTelemetry(v *validator) {}
