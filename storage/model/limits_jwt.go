package model

const limJWTEnd = limAuthzEnd

func jwtLimits() map[fieldLimit]Limit { return nil }
