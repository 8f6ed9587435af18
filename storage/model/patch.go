package model

// Patch changes named resources of chosen groups in ways Chancery does not
// model. Key: patches/<name>.
type Patch struct{}

// Validate checks every field and reports all problems at once.
func (p *Patch) Validate() error { return (&validator{}).err() }
