package model_test

// routingBounded are the routing fields of no Limit (enumerations, addresses), with what bounds them.
var routingBounded = map[string]string{
	"Service circuit_breakers.retry_budget.budget_percent": "a percentage, above 0 and at most 100",
}
