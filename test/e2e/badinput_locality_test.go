package e2e

// localityBases are valid objects holding every locality field: TestBadInputTable
// spoils each field of each in every way it knows.
var localityBases []badInputBase

// localityBadCases are the locality values only their own rule refuses (a value of
// the right type that means nothing, a reference to nothing).
func localityBadCases() []badCase { return nil }
