package translator

// tracingPlugin translates a listener's tracing.
type tracingPlugin struct{}

func (tracingPlugin) name() string { return "tracing" }
