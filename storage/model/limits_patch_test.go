package model_test

// patchBounded are the patch fields of no Limit (enumerations, addresses), with what bounds them.
var patchBounded = map[string]string{}
