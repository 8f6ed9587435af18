package e2e

// trafficBases are valid objects holding every traffic field: TestBadInputTable
// spoils each field of each in every way it knows.
var trafficBases []badInputBase

// trafficBadCases are the traffic values only their own rule refuses (a value of
// the right type that means nothing, a reference to nothing).
func trafficBadCases() []badCase { return nil }
