package model

const limTelemetryEnd = limRoutingEnd

func telemetryLimits() map[fieldLimit]Limit { return nil }
