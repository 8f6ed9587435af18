package e2e

// patchBases are valid objects holding every patch field: TestBadInputTable
// spoils each field of each in every way it knows.
var patchBases []badInputBase

// patchBadCases are the patch values only their own rule refuses (a value of
// the right type that means nothing, a reference to nothing).
func patchBadCases() []badCase { return nil }
