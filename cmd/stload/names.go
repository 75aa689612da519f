package main

import (
	"hash/maphash"
	"strings"
	"unicode/utf8"

	"github.com/stload/stload/loader"
)

// namer gives the names of a tensor table within a width, keeping apart
// names that shortening would make read the same.
type namer struct {
	width int
	seed  maphash.Seed
	// seen holds, per hash of a name as shortened (whole when it fits),
	// twice the number of tensors that show it, plus 1 when one of them
	// is shortened; nil when every name fits.
	seen   map[uint64]int
	widest int // the widest name shown, up to width
	short  shortener
}

// newNamer returns the namer of f's table with names in width columns;
// longest is the widest of f's names whole (displayName), as the table
// measured them. When a name does not fit, it shortens every name once,
// to count what each shortens to; it keeps hashes, not names, so that a
// header of a million tensors costs a few bytes each.
func newNamer(f *loader.File, longest, width int) *namer {
	n := &namer{width: width, widest: width}
	if longest <= width {
		return n // every name fits whole (always so with --wide)
	}
	n.seed, n.seen = maphash.MakeSeed(), map[uint64]int{}
	var buf []byte
	widest, clash := 0, false
	for name := range f.Tensors() {
		d := displayName(name)
		w, short := utf8.RuneCountInString(d), false
		var h uint64
		if w <= width {
			h = maphash.String(n.seed, d)
		} else {
			buf = n.short.append(buf[:0], d, width)
			h, w, short = maphash.Bytes(n.seed, buf), utf8.RuneCount(buf), true
		}
		v := n.seen[h] + 2
		if short {
			v |= 1
		}
		n.seen[h] = v
		// A shortened name that another name reads as is shown whole,
		// wider than width.
		clash = clash || v >= 4 && v&1 == 1
		widest = max(widest, w)
	}
	// Shortened names may all be narrower than width: the column need
	// not be wider than they are.
	if !clash {
		n.widest = min(width, widest)
	}
	return n
}

// appendName appends to b how the table shows name: whole when it fits,
// else shortName's, or whole again when another name shortens to the same
// (or a hash's collision says it might: whole names are distinct).
func (n *namer) appendName(b []byte, name string) []byte {
	d := displayName(name)
	if n.seen == nil || utf8.RuneCountInString(d) <= n.width {
		return append(b, d...)
	}
	start := len(b)
	if b = n.short.append(b, d, n.width); n.seen[maphash.Bytes(n.seed, b[start:])]>>1 == 1 {
		return b
	}
	return append(b[:start], d...)
}

// shortName returns a dot-separated tensor name in at most n characters.
// Its components do not tell tensors apart equally: the numbers (layer,
// expert) and the last two (gate_proj.weight) do, the leading ones
// ("model.", "language_model.") are the same in most names of a model.
// So components go, in elisionOrder, a run of them replaced by "…"
// ("…layers.31.mlp.gate_proj.weight", "…layers.31…experts.7.w1.weight"),
// until the name fits; what is still too long then loses its middle.
func shortName(name string, n int) string {
	var s shortener
	return string(s.append(nil, name, n))
}

// shortener shortens names as shortName does, in buffers it reuses: a
// table of a million names is shortened without a million names'
// garbage.
type shortener struct {
	parts  []string
	widths []int // of parts, in characters
	kept   []bool
	order  []int
	joined []byte
}

// append appends name shortened to n characters (shortName) to b.
func (s *shortener) append(b []byte, name string, n int) []byte {
	if utf8.RuneCountInString(name) <= n {
		return append(b, name...)
	}
	s.parts, s.widths, s.kept = s.parts[:0], s.widths[:0], s.kept[:0]
	for p := range strings.SplitSeq(name, ".") {
		s.parts = append(s.parts, p)
		s.widths = append(s.widths, utf8.RuneCountInString(p))
		s.kept = append(s.kept, true)
	}
	s.order = elisionOrder(s.order[:0], s.parts)
	for _, i := range s.order {
		s.kept[i] = false
		if keptWidth(s.widths, s.kept) <= n {
			return appendKept(b, s.parts, s.kept)
		}
	}
	s.joined = appendKept(s.joined[:0], s.parts, s.kept)
	return appendEllipsized(b, s.joined, n)
}

// elisionOrder appends to order the indices of the components of a name
// that may go, least telling first: leading words ("model",
// "language_model"), then other words in the middle ("mlp", "self_attn"),
// then the words before a number ("layers" of "layers.31"), then the
// second to last ("gate_proj"); each rank from left to right. Numbers and
// the last component stay.
func elisionOrder(order []int, parts []string) []int {
	last := len(parts) - 1
	first := len(parts) // the first number's index
	for i, p := range parts {
		if isNumber(p) {
			first = i
			break
		}
	}
	rank := func(i int) int {
		switch {
		case i == last || isNumber(parts[i]):
			return -1
		case i == last-1:
			return 3
		case isNumber(parts[i+1]):
			return 2
		case i < first:
			return 0
		}
		return 1
	}
	for r := range 4 {
		for i := range parts {
			if rank(i) == r {
				order = append(order, i)
			}
		}
	}
	return order
}

// appendKept appends the kept parts joined with dots, each run of the
// others (and the dots around it) replaced by "…".
func appendKept(b []byte, parts []string, kept []bool) []byte {
	start, gap := len(b), false
	for i, p := range parts {
		if !kept[i] {
			gap = true
			continue
		}
		switch {
		case gap:
			b = append(b, "…"...)
		case len(b) > start:
			b = append(b, '.')
		}
		gap = false
		b = append(b, p...)
	}
	if gap {
		b = append(b, "…"...)
	}
	return b
}

// keptWidth returns the characters of what appendKept appends, from the
// parts' widths.
func keptWidth(widths []int, kept []bool) int {
	n, gap := 0, false
	for i, w := range widths {
		if !kept[i] {
			gap = true
			continue
		}
		if gap || n > 0 {
			n++ // "…" or "."
		}
		gap = false
		n += w
	}
	if gap {
		n++
	}
	return n
}

// isNumber reports whether s is a non-empty run of decimal digits.
func isNumber(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }
