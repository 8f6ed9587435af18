package model_test

// telemetryBounded are the telemetry fields of no Limit (enumerations, addresses), with what bounds them.
var telemetryBounded = map[string]string{}
