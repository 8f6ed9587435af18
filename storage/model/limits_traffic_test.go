package model_test

// trafficBounded are the traffic fields of no Limit (enumerations, addresses), with what bounds them.
var trafficBounded = map[string]string{}
