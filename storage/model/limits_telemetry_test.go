package model_test

// telemetryBounded are the telemetry fields of no Limit (enumerations, addresses), with what bounds them.
var telemetryBounded = map[string]string{
	"Listener access_logs[*].format": "text or json",
	"Listener tracing.sampling":      "a percentage, 0.0001–100",
}
