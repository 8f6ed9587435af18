package model

const limTrafficEnd = limJWTEnd

func trafficLimits() map[fieldLimit]Limit { return nil }
