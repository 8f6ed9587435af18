package model_test

// jwtBounded are the jwt fields of no Limit (enumerations, addresses), with what bounds them.
var jwtBounded = map[string]string{}
