package model_test

// localityBounded are the locality fields of no Limit (enumerations, addresses), with what bounds them.
var localityBounded = map[string]string{
	"Service locality.failover": "one mode (zone)",
}
