package model

const limRoutingEnd = limTrafficEnd

func routingLimits() map[fieldLimit]Limit { return nil }
