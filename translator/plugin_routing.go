package translator

// routingPlugin translates a route's rewrites, upgrades, hashing and retries, and a service's.
type routingPlugin struct{}

func (routingPlugin) name() string { return "routing" }
