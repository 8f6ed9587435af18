package e2e

// telemetryBases are valid objects holding every telemetry field: TestBadInputTable
// spoils each field of each in every way it knows.
var telemetryBases []badInputBase

// telemetryBadCases are the telemetry values only their own rule refuses (a value of
// the right type that means nothing, a reference to nothing).
func telemetryBadCases() []badCase { return nil }
