package model_test

// routingBounded are the routing fields of no Limit (enumerations, addresses), with what bounds them.
var routingBounded = map[string]string{}
