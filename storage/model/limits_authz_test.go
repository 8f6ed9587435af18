package model_test

// authzBounded are the authz fields of no Limit (enumerations, addresses), with what bounds them.
var authzBounded = authzBoundedFields()

func authzBoundedFields() map[string]string {
	out := map[string]string{
		"Listener authorization.deny_cidrs[*]":  "a CIDR",
		"Listener authorization.allow_cidrs[*]": "a CIDR",
		"Listener ext_authz.protocol":           "grpc or http",
	}
	for _, level := range []string{"policy", "virtual_hosts[*].policy", "virtual_hosts[*].routes[*].policy"} {
		for _, list := range []string{"deny", "allow"} {
			f := "RouteTable " + level + ".authorization." + list + "[*]."
			out[f+"source_cidrs[*]"] = "a CIDR"
			out[f+"methods[*]"] = "one of nine methods"
		}
	}
	return out
}
