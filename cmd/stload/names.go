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
	width  int
	seed   maphash.Seed
	seen   map[uint64]int // per shortened name's hash, how many tensors show it; nil when every name fits
	widest int            // the widest name shown, up to width
}

// newNamer returns the namer of f's table with names in width columns.
// When a name does not fit, it counts what every name shortens to; it
// keeps hashes, not names, so that a header of a million tensors costs
// a few bytes each.
func newNamer(f *loader.File, width int) *namer {
	n := &namer{width: width, seed: maphash.MakeSeed()}
	for name := range f.Tensors() {
		if utf8.RuneCountInString(displayName(name)) > width {
			n.seen = map[uint64]int{}
			break
		}
	}
	if n.seen == nil {
		n.widest = width
		return n
	}
	for name := range f.Tensors() {
		n.seen[maphash.String(n.seed, shortName(displayName(name), width))]++
	}
	// Shortened names may all be narrower than width: the column need
	// not be wider than they are.
	for name := range f.Tensors() {
		n.widest = min(width, max(n.widest, utf8.RuneCountInString(n.name(name))))
	}
	return n
}

// name returns how the table shows name: whole when it fits, else
// shortName's, or whole again when another name shortens to the same
// (or a hash's collision says it might: whole names are distinct).
func (n *namer) name(name string) string {
	d := displayName(name)
	if n.seen == nil || utf8.RuneCountInString(d) <= n.width {
		return d
	}
	if s := shortName(d, n.width); n.seen[maphash.String(n.seed, s)] == 1 {
		return s
	}
	return d
}

// shortName returns a dot-separated tensor name in at most n characters.
// Its components do not tell tensors apart equally: the numbers (layer,
// expert) and the last two (gate_proj.weight) do, the leading ones
// ("model.", "language_model.") are the same in most names of a model.
// So components go, in elisionOrder, a run of them replaced by "…"
// ("…layers.31.mlp.gate_proj.weight", "…layers.31…experts.7.w1.weight"),
// until the name fits; what is still too long then loses its middle.
func shortName(name string, n int) string {
	if utf8.RuneCountInString(name) <= n {
		return name
	}
	parts := strings.Split(name, ".")
	kept := make([]bool, len(parts))
	for i := range kept {
		kept[i] = true
	}
	s := name
	for _, i := range elisionOrder(parts) {
		kept[i] = false
		if s = joinKept(parts, kept); utf8.RuneCountInString(s) <= n {
			return s
		}
	}
	return ellipsize(s, n)
}

// elisionOrder returns the indices of the components of a name that may
// go, least telling first: leading words ("model", "language_model"),
// then other words in the middle ("mlp", "self_attn"), then the words
// before a number ("layers" of "layers.31"), then the second to last
// ("gate_proj"); each rank from left to right. Numbers and the last
// component stay.
func elisionOrder(parts []string) []int {
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
	var order []int
	for r := range 4 {
		for i := range parts {
			if rank(i) == r {
				order = append(order, i)
			}
		}
	}
	return order
}

// joinKept joins the kept parts with dots, each run of the others (and
// the dots around it) replaced by "…".
func joinKept(parts []string, kept []bool) string {
	var b strings.Builder
	gap := false
	for i, p := range parts {
		if !kept[i] {
			gap = true
			continue
		}
		switch {
		case gap:
			b.WriteString("…")
		case b.Len() > 0:
			b.WriteByte('.')
		}
		gap = false
		b.WriteString(p)
	}
	if gap {
		b.WriteString("…")
	}
	return b.String()
}

// isNumber reports whether s is a non-empty run of decimal digits.
func isNumber(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }
