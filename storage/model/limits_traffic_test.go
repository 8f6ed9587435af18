package model_test

// trafficBounded are the traffic fields of no Limit (enumerations, addresses), with what bounds them.
var trafficBounded = map[string]string{
	"RouteTable policy.fault.abort.percent":                            "a percentage, more than 0 and at most 100",
	"RouteTable policy.fault.delay.percent":                            "a percentage, more than 0 and at most 100",
	"RouteTable virtual_hosts[*].policy.fault.abort.percent":           "a percentage, more than 0 and at most 100",
	"RouteTable virtual_hosts[*].policy.fault.delay.percent":           "a percentage, more than 0 and at most 100",
	"RouteTable virtual_hosts[*].routes[*].policy.fault.abort.percent": "a percentage, more than 0 and at most 100",
	"RouteTable virtual_hosts[*].routes[*].policy.fault.delay.percent": "a percentage, more than 0 and at most 100",
	"RouteTable virtual_hosts[*].routes[*].mirror.percent":             "a percentage, more than 0 and at most 100",
}
