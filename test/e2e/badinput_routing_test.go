package e2e

// routingBases are valid objects holding every routing field: TestBadInputTable
// spoils each field of each in every way it knows.
var routingBases []badInputBase

// routingBadCases are the routing values only their own rule refuses (a value of
// the right type that means nothing, a reference to nothing).
func routingBadCases() []badCase { return nil }
