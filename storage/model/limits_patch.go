package model

const limPatchEnd = limLocalityEnd

func patchLimits() map[fieldLimit]Limit { return nil }
