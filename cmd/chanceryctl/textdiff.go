package main

import (
	"fmt"
	"strings"
)

// diffContext is how many unchanged lines surround each change.
const diffContext = 3

// maxDiffCells bounds the longest-common-subsequence table. Objects are
// small; past this, the diff shows the whole old value replaced by the new.
const maxDiffCells = 4 << 20

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// edit is one line of a diff: ' ' kept, '-' removed, '+' added.
type edit struct {
	op   byte
	line string
}

// lineEdits is a shortest edit script from a to b by longest common
// subsequence.
func lineEdits(a, b []string) []edit {
	if len(a)*len(b) > maxDiffCells {
		var out []edit
		for _, l := range a {
			out = append(out, edit{'-', l})
		}
		for _, l := range b {
			out = append(out, edit{'+', l})
		}
		return out
	}
	// lcs[i][j] is the LCS length of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []edit
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out = append(out, edit{' ', a[i]})
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			// Removals before additions, as diff -u prints them.
			out = append(out, edit{'-', a[i]})
			i++
		default:
			out = append(out, edit{'+', b[j]})
			j++
		}
	}
	return out
}

// unifiedDiff renders the edits from a to b as a unified diff with hunk
// headers, or "" if they are equal.
func unifiedDiff(nameA, nameB string, a, b []string) string {
	edits := lineEdits(a, b)
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", nameA, nameB)
	changed := false
	for start := 0; start < len(edits); {
		// Find the next change and the hunk around it.
		first := start
		for first < len(edits) && edits[first].op == ' ' {
			first++
		}
		if first == len(edits) {
			break
		}
		changed = true
		lo := max(first-diffContext, start)
		hi := hunkEnd(edits, first)
		writeHunk(&sb, edits, lo, hi)
		start = hi
	}
	if !changed {
		return ""
	}
	return sb.String()
}

// hunkEnd extends a hunk from the change at first until diffContext lines
// past a change are followed by more than 2*diffContext unchanged lines.
func hunkEnd(edits []edit, first int) int {
	last := first
	for k := first; k < len(edits); k++ {
		if edits[k].op != ' ' {
			last = k
		} else if k-last > 2*diffContext {
			break
		}
	}
	return min(last+1+diffContext, len(edits))
}

func writeHunk(sb *strings.Builder, edits []edit, lo, hi int) {
	// Line numbers of the hunk's start in a and in b.
	aLine, bLine := 1, 1
	for _, e := range edits[:lo] {
		if e.op != '+' {
			aLine++
		}
		if e.op != '-' {
			bLine++
		}
	}
	aLen, bLen := 0, 0
	for _, e := range edits[lo:hi] {
		if e.op != '+' {
			aLen++
		}
		if e.op != '-' {
			bLen++
		}
	}
	if aLen == 0 {
		aLine--
	}
	if bLen == 0 {
		bLine--
	}
	fmt.Fprintf(sb, "@@ -%d,%d +%d,%d @@\n", aLine, aLen, bLine, bLen)
	for _, e := range edits[lo:hi] {
		sb.WriteByte(e.op)
		sb.WriteString(e.line)
		sb.WriteByte('\n')
	}
}
