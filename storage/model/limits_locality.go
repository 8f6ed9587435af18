package model

const limLocalityEnd = limTelemetryEnd

func localityLimits() map[fieldLimit]Limit { return nil }
