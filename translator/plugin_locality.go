package translator

// localityPlugin translates a service's locality.
type localityPlugin struct{}

func (localityPlugin) name() string { return "locality" }
