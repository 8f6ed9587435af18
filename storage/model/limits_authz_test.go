package model_test

// authzBounded are the authz fields of no Limit (enumerations, addresses), with what bounds them.
var authzBounded = map[string]string{}
