package e2e

// authzBases are valid objects holding every authz field: TestBadInputTable
// spoils each field of each in every way it knows.
var authzBases []badInputBase

// authzBadCases are the authz values only their own rule refuses (a value of
// the right type that means nothing, a reference to nothing).
func authzBadCases() []badCase { return nil }
