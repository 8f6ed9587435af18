package model_test

// patchBounded are the patch fields of no Limit, with what bounds them.
var patchBounded = map[string]string{
	"Patch target.type": "one of three types",
}
