package readiness

// KnownPeers is how many other replicas r would ask now.
func (r *Readiness) KnownPeers() int { return len(*r.peers.Load()) }
