package model

import "slices"

// flattener counts what Prog::Flatten (re2/prog.cc) emits. Flatten cuts the
// program into "trees" that each grow from a root and become one list of
// instructions: Alts and no-ops disappear into the lists, every leaf
// (ByteRange, Capture, EmptyWidth, Match, Fail) is copied once per list that
// reaches it, an AltMatch costs one instruction, and reaching another root
// costs a Nop. ProgramSize() is the total length of the lists.
type flattener struct {
	c      *progCompiler
	isRoot []bool
	roots  []uint32 // in the order Flatten numbers them
	// The Alts that jump to id are preds[predStart[id]:predStart[id+1]].
	predStart []int32
	preds     []uint32
	mark      []uint32 // mark[id] == gen: id was visited in the current walk
	gen       uint32
	stack     []uint32
	reached   []uint32
}

func (c *progCompiler) flatSize(start, startUnanchored uint32) int {
	n := len(c.insts)
	f := &flattener{c: c, isRoot: make([]bool, n), mark: make([]uint32, n), roots: make([]uint32, 0, n)}
	f.addRoot(0)
	f.addRoot(startUnanchored)
	f.addRoot(start)
	f.markSuccessors(startUnanchored)
	// Dominator roots are marked from the highest id down, skipping the two
	// entry points and the fail instruction (the lowest id).
	sorted := slices.Sorted(slices.Values(f.roots))
	for i := len(sorted) - 1; i > 0; i-- {
		if r := sorted[i]; r != startUnanchored && r != start {
			f.markDominator(r)
		}
	}
	total := 0
	for _, r := range f.roots {
		total += f.listSize(r)
	}
	return total
}

func (f *flattener) addRoot(id uint32) {
	if !f.isRoot[id] {
		f.isRoot[id] = true
		f.roots = append(f.roots, id)
	}
}

// walk visits everything reachable from root through Alts and no-ops, not
// entering other roots, and calls visit once per instruction; visit reports
// whether the walk continues past it.
func (f *flattener) walk(root uint32, visit func(id uint32) bool) {
	f.gen++
	f.stack = append(f.stack[:0], root)
	for len(f.stack) > 0 {
		id := f.stack[len(f.stack)-1]
		f.stack = f.stack[:len(f.stack)-1]
		for f.mark[id] != f.gen {
			f.mark[id] = f.gen
			if !visit(id) {
				break
			}
			ip := f.c.insts[id]
			if ip.op == instAlt || ip.op == instAltMatch {
				f.stack = append(f.stack, ip.out1)
			}
			id = ip.out
		}
	}
}

// markSuccessors makes the successor of every ByteRange, Capture and
// EmptyWidth a root, and records each Alt as a predecessor of its targets.
func (f *flattener) markSuccessors(startUnanchored uint32) {
	var alts []uint32
	f.walk(startUnanchored, func(id uint32) bool {
		ip := f.c.insts[id]
		switch ip.op {
		case instAlt, instAltMatch:
			alts = append(alts, id)
		case instByteRange, instCapture, instEmptyWidth:
			f.addRoot(ip.out)
		case instMatch, instFail:
			return false
		}
		return true
	})
	// Group the Alts by target, as a counting sort.
	f.predStart = make([]int32, len(f.c.insts)+1)
	for _, a := range alts {
		f.predStart[f.c.insts[a].out+1]++
		f.predStart[f.c.insts[a].out1+1]++
	}
	for i := 1; i < len(f.predStart); i++ {
		f.predStart[i] += f.predStart[i-1]
	}
	f.preds = make([]uint32, 2*len(alts))
	next := slices.Clone(f.predStart)
	for _, a := range alts {
		for _, t := range [2]uint32{f.c.insts[a].out, f.c.insts[a].out1} {
			f.preds[next[t]] = a
			next[t]++
		}
	}
}

// markDominator makes a root of every instruction in root's tree that an
// Alt outside the tree also reaches, so nullable loops keep their own list.
func (f *flattener) markDominator(root uint32) {
	reached := f.reached[:0]
	f.walk(root, func(id uint32) bool {
		reached = append(reached, id)
		if id != root && f.isRoot[id] {
			return false
		}
		switch f.c.insts[id].op {
		case instAlt, instAltMatch, instNop:
			return true
		}
		return false
	})
	for _, id := range reached {
		for _, p := range f.preds[f.predStart[id]:f.predStart[id+1]] {
			if f.mark[p] != f.gen {
				f.addRoot(id)
			}
		}
	}
	f.reached = reached
}

// listSize is the length of the list Flatten emits for root.
func (f *flattener) listSize(root uint32) int {
	n := 0
	f.walk(root, func(id uint32) bool {
		if id != root && f.isRoot[id] {
			n++ // a Nop that jumps to the other root's list
			return false
		}
		switch f.c.insts[id].op {
		case instAlt, instNop:
			return true
		case instAltMatch:
			n++
			return true
		}
		n++
		return false
	})
	return n
}
