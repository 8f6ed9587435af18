package model

const limAuthzEnd = limTLSEnd

func authzLimits() map[fieldLimit]Limit { return nil }
