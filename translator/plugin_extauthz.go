package translator

// extAuthzPlugin translates a listener's ext_authz and a policy's.
type extAuthzPlugin struct{}

func (extAuthzPlugin) name() string { return "ext_authz" }
