package xdsserver

// heldVersion is the type version of the resources a reconnecting delta
// client says it holds (initial_resource_versions: name -> resource hash),
// computed as a build computes its version. Resource versions are content
// hashes, so a client that holds exactly a snapshot's resources of a type
// holds that snapshot's version of the type, whichever replica sent it.
func heldVersion(held map[string]string) string {
	var sum digest
	for name, hash := range held {
		sum.add(entryDigest(name, hash))
	}
	return sum.version(len(held))
}
