package model

// Locality is a service's zone-aware failover.
type Locality struct{}

func (s *Service) validateLocality(v *validator) {}
