package translator

// accessLogPlugin translates a listener's access logs.
type accessLogPlugin struct{}

func (accessLogPlugin) name() string { return "access_log" }
