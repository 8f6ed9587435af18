package model

// This file mirrors RE2's compiler (re2/compile.cc) and the two passes over
// its output that decide the instruction count Envoy compares with its limit
// (Prog::Optimize and Prog::Flatten in re2/prog.cc), for the Latin-1 encoding
// Envoy's RE2 uses: one ByteRange per byte range, no UTF-8 sequences. Byte
// values, capture numbers and match ids are dropped: they never change the
// count. Instruction ids are kept exactly, because Flatten visits roots in id
// order and that order decides which instructions become roots.

type instOp uint8

const (
	instFail instOp = iota // instruction 0 of every program
	instAlt
	instAltMatch
	instByteRange
	instCapture
	instEmptyWidth
	instMatch
	instNop
)

type inst struct {
	op        instOp
	out, out1 uint32
	lo, hi    byte // instByteRange only: Optimize looks for [00-FF]
}

// patchList threads a fragment's unfilled exits through the out fields
// themselves, as RE2 does: p>>1 is the instruction, p&1 selects out1.
type patchList struct{ head, tail uint32 }

// frag is a compiled fragment; begin 0 (the fail instruction) means the
// fragment can never match, as in RE2.
type frag struct {
	begin    uint32
	end      patchList
	nullable bool
}

type progCompiler struct {
	insts  []inst
	limit  int
	tooBig bool // the program outgrew limit: its size is at least limit
}

func (c *progCompiler) alloc(n int) uint32 {
	if c.tooBig || len(c.insts)+n > c.limit {
		c.tooBig = true
		return 0
	}
	id := len(c.insts)
	c.insts = append(c.insts, make([]inst, n)...)
	return uint32(id)
}

func mkPatch(p uint32) patchList { return patchList{p, p} }

func (c *progCompiler) patch(l patchList, v uint32) {
	for l.head != 0 {
		ip := &c.insts[l.head>>1]
		if l.head&1 != 0 {
			l.head, ip.out1 = ip.out1, v
		} else {
			l.head, ip.out = ip.out, v
		}
	}
}

func (c *progCompiler) appendPatch(l1, l2 patchList) patchList {
	if l1.head == 0 {
		return l2
	}
	if l2.head == 0 {
		return l1
	}
	ip := &c.insts[l1.tail>>1]
	if l1.tail&1 != 0 {
		ip.out1 = l2.head
	} else {
		ip.out = l2.head
	}
	return patchList{l1.head, l2.tail}
}

func (c *progCompiler) cat(a, b frag) frag {
	if a.begin == 0 || b.begin == 0 {
		return frag{}
	}
	// RE2 elides a leading no-op (an empty match at the front).
	if ip := c.insts[a.begin]; ip.op == instNop && a.end.head == a.begin<<1 && ip.out == 0 {
		c.patch(a.end, b.begin)
		return b
	}
	c.patch(a.end, b.begin)
	return frag{a.begin, b.end, a.nullable && b.nullable}
}

func (c *progCompiler) alt(a, b frag) frag {
	if a.begin == 0 {
		return b
	}
	if b.begin == 0 {
		return a
	}
	id := c.alloc(1)
	if id == 0 {
		return frag{}
	}
	c.insts[id] = inst{op: instAlt, out: a.begin, out1: b.begin}
	return frag{id, c.appendPatch(a.end, b.end), a.nullable || b.nullable}
}

// loop allocates the Alt of a repetition: the preferred branch is out.
func (c *progCompiler) loop(body uint32, nongreedy bool) (uint32, patchList) {
	id := c.alloc(1)
	if id == 0 {
		return 0, patchList{}
	}
	if nongreedy {
		c.insts[id] = inst{op: instAlt, out1: body}
		return id, mkPatch(id << 1)
	}
	c.insts[id] = inst{op: instAlt, out: body}
	return id, mkPatch(id<<1 | 1)
}

func (c *progCompiler) plus(a frag, nongreedy bool) frag {
	id, pl := c.loop(a.begin, nongreedy)
	if id == 0 {
		return frag{}
	}
	c.patch(a.end, id)
	return frag{a.begin, pl, a.nullable}
}

func (c *progCompiler) star(a frag, nongreedy bool) frag {
	// A nullable body needs a second Alt to keep priorities right: (a+)?.
	if a.nullable {
		return c.quest(c.plus(a, nongreedy), nongreedy)
	}
	id, pl := c.loop(a.begin, nongreedy)
	if id == 0 {
		return frag{}
	}
	c.patch(a.end, id)
	return frag{id, pl, true}
}

func (c *progCompiler) quest(a frag, nongreedy bool) frag {
	if a.begin == 0 {
		return c.single(instNop, true)
	}
	id, pl := c.loop(a.begin, nongreedy)
	if id == 0 {
		return frag{}
	}
	return frag{id, c.appendPatch(pl, a.end), true}
}

// single allocates one instruction with one exit (a no-op, an empty-width
// assertion) or none (a match).
func (c *progCompiler) single(op instOp, nullable bool) frag {
	id := c.alloc(1)
	if id == 0 {
		return frag{}
	}
	c.insts[id].op = op
	if op == instMatch {
		return frag{id, patchList{}, false}
	}
	return frag{id, mkPatch(id << 1), nullable}
}

func (c *progCompiler) byteRange(lo, hi byte) frag {
	id := c.alloc(1)
	if id == 0 {
		return frag{}
	}
	c.insts[id] = inst{op: instByteRange, lo: lo, hi: hi}
	return frag{id, mkPatch(id << 1), false}
}

func (c *progCompiler) capture(a frag) frag {
	if a.begin == 0 {
		return frag{}
	}
	id := c.alloc(2)
	if id == 0 {
		return frag{}
	}
	c.insts[id] = inst{op: instCapture, out: a.begin}
	c.insts[id+1] = inst{op: instCapture}
	c.patch(a.end, id+1)
	return frag{id, mkPatch((id + 1) << 1), a.nullable}
}

// charClass is RE2's rune range compiler in Latin-1: one ByteRange per range
// and an Alt per range after the first. A class that treats A-Z like a-z
// drops its A-Z ranges and matches a-z case-insensitively instead.
func (c *progCompiler) charClass(ranges []rune) frag {
	fold := foldsASCII(ranges)
	var rr frag
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], min(ranges[i+1], 0xFF)
		if (fold && 'A' <= lo && hi <= 'Z') || lo > hi {
			continue
		}
		f := c.byteRange(byte(lo), byte(hi))
		if f.begin == 0 {
			return frag{}
		}
		rr.end = c.appendPatch(rr.end, f.end)
		if rr.begin == 0 {
			rr.begin = f.begin
			continue
		}
		id := c.alloc(1)
		if id == 0 {
			return frag{}
		}
		c.insts[id] = inst{op: instAlt, out: rr.begin, out1: f.begin}
		rr.begin = id
	}
	return rr
}

func (c *progCompiler) compile(n *reNode) frag {
	switch n.op {
	case reNoMatch:
		return frag{}
	case reEmptyMatch:
		return c.single(instNop, true)
	case reLiteral:
		var f frag
		for i, r := range n.runes {
			b := c.byteRange(byte(r), byte(r))
			if i == 0 {
				f = b
			} else {
				f = c.cat(f, b)
			}
		}
		return f
	case reCharClass:
		return c.charClass(n.runes)
	case reAnyChar:
		return c.byteRange(0x00, 0xFF)
	case reBeginLine, reEndLine, reBeginText, reEndText, reWordBoundary, reNoWordBoundary:
		return c.single(instEmptyWidth, true)
	case reCapture:
		return c.capture(c.compile(n.subs[0]))
	case reStar:
		return c.star(c.compile(n.subs[0]), n.nongreedy())
	case rePlus:
		return c.plus(c.compile(n.subs[0]), n.nongreedy())
	case reQuest:
		return c.quest(c.compile(n.subs[0]), n.nongreedy())
	case reConcat, reAlternate:
		// RE2 compiles every child before joining them, so the Alts of an
		// alternation get ids after all of its branches.
		if len(n.subs) == 0 {
			if n.op == reConcat {
				return c.single(instNop, true)
			}
			return frag{}
		}
		fs := make([]frag, len(n.subs))
		for i, s := range n.subs {
			fs[i] = c.compile(s)
		}
		f := fs[0]
		for _, g := range fs[1:] {
			if n.op == reConcat {
				f = c.cat(f, g)
			} else {
				f = c.alt(f, g)
			}
		}
		return f
	}
	// reRepeat never survives simplify, and reUnsupported has no RE2
	// program: count it as too big rather than guess.
	c.tooBig = true
	return frag{}
}

// programSize compiles the simplified regexp as RE2::Init does and returns
// the size of the flattened forward program, RE2::ProgramSize().
func programSize(re *reNode, anchorStart bool, limit int) int {
	c := &progCompiler{limit: limit, insts: make([]inst, 0, 64)}
	c.alloc(1) // the fail instruction, id 0
	all := c.compile(re)
	all = c.cat(all, c.single(instMatch, false))
	start := all.begin
	if !anchorStart {
		// The unanchored entry point is a non-greedy loop over any byte.
		all = c.cat(c.star(c.byteRange(0x00, 0xFF), true), all)
	}
	if c.tooBig {
		return limit
	}
	if start == 0 && all.begin == 0 {
		return 1 // nothing can match: only the fail instruction is kept
	}
	c.optimize(start)
	return c.flatSize(start, all.begin)
}

// skipNops follows a chain of no-ops.
func (c *progCompiler) skipNops(id uint32) uint32 {
	for id != 0 && c.insts[id].op == instNop {
		id = c.insts[id].out
	}
	return id
}

// optimize is Prog::Optimize: it bypasses no-ops reachable from start, and
// marks an Alt that loops over any byte next to a match as AltMatch, which
// Flatten turns into one more instruction.
func (c *progCompiler) optimize(start uint32) {
	seen := make([]bool, len(c.insts))
	q := make([]uint32, 1, len(c.insts))
	q[0] = start
	seen[start] = true
	add := func(id uint32) {
		if id != 0 && !seen[id] {
			seen[id] = true
			q = append(q, id)
		}
	}
	for i := 0; i < len(q); i++ {
		ip := &c.insts[q[i]]
		ip.out = c.skipNops(ip.out)
		add(ip.out)
		if ip.op == instAlt {
			ip.out1 = c.skipNops(ip.out1)
			add(ip.out1)
		}
	}
	clear(seen)
	q = append(q[:0], start)
	seen[start] = true
	for i := 0; i < len(q); i++ {
		id := q[i]
		ip := &c.insts[id]
		add(ip.out)
		if ip.op != instAlt {
			continue
		}
		add(ip.out1)
		j, k := c.insts[ip.out], c.insts[ip.out1]
		if (c.anyByteLoop(j, id) && c.isMatch(ip.out1)) || (c.isMatch(ip.out) && c.anyByteLoop(k, id)) {
			ip.op = instAltMatch
		}
	}
}

func (c *progCompiler) anyByteLoop(ip inst, alt uint32) bool {
	return ip.op == instByteRange && ip.out == alt && ip.lo == 0x00 && ip.hi == 0xFF
}

// isMatch reports whether id reaches a match through captures and no-ops.
func (c *progCompiler) isMatch(id uint32) bool {
	for {
		switch c.insts[id].op {
		case instCapture, instNop:
			id = c.insts[id].out
		case instMatch:
			return true
		default:
			return false
		}
	}
}
