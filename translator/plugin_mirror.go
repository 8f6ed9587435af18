package translator

// mirrorPlugin translates a route's mirror.
type mirrorPlugin struct{}

func (mirrorPlugin) name() string { return "mirror" }
