package xdsserver

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
)

// heldVersion is the type version of the resources a reconnecting delta
// client says it holds (initial_resource_versions: name -> resource hash),
// computed as buildSnapshot computes a type's version. Resource versions are
// content hashes, so a client that holds exactly a snapshot's resources of a
// type holds that snapshot's version of the type, whichever replica sent it.
func heldVersion(held map[string]string) string {
	names := make([]string, 0, len(held))
	for name := range held {
		names = append(names, name)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		writeField(h, name)
		writeField(h, held[name])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
