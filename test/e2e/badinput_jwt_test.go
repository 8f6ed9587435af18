package e2e

// jwtBases are valid objects holding every jwt field: TestBadInputTable
// spoils each field of each in every way it knows.
var jwtBases []badInputBase

// jwtBadCases are the jwt values only their own rule refuses (a value of
// the right type that means nothing, a reference to nothing).
func jwtBadCases() []badCase { return nil }
