package model

// The policy features number their limits one file after another, each
// from the previous file's end: limits_authz.go, limits_jwt.go,
// limits_traffic.go, limits_routing.go, limits_telemetry.go,
// limits_locality.go, limits_patch.go. A file's block is
//
//	const (
//		limFirst fieldLimit = iota + limPreviousEnd
//		...
//		limThisEnd
//	)
//
// so a new limit in one file renumbers the files after it and nothing
// else.
const numLimits = limPatchEnd
