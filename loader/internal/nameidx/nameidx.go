// Package nameidx finds entries of a table by name with a compact hash
// table of their positions, for the packages of stload that index
// millions of tensors: a File's tensors, a load's, a checkpoint's.
package nameidx

import "hash/maphash"

// Index finds entries of a slice (tensors, metadata pairs) by name: an
// open-addressing hash table of their positions. At 4 bytes a slot and at
// most 3/4 full it takes a tenth of what a map[string]int does for the
// same names (which it does not copy: the caller's table keeps them), and
// inserting reports a name already there in the same probe. The seed is
// random, so a hostile header cannot choose names that collide.
//
// The methods take nameAt, which returns the name of the entry at a
// position: the index stores positions only. The zero Index is empty and
// ready for Find; Make sizes one for inserting.
type Index struct {
	seed  maphash.Seed
	slots []uint32 // 1 + the position of an entry; 0 for an empty slot
	n     int      // entries
}

// MaxEntries is the most entries an Index holds: positions are counted in
// 32 bits, 0 marking an empty slot.
const MaxEntries = 1<<32 - 2

// Make returns an index with room for n entries before it grows.
func Make(n int) Index {
	size := 8
	for size-size/4 < n {
		size *= 2
	}
	return Index{seed: maphash.MakeSeed(), slots: make([]uint32, size)}
}

// probe returns the slot that holds name, or the empty slot where it
// would go, and whether it is there.
func (x *Index) probe(name string, nameAt func(int) string) (int, bool) {
	mask := len(x.slots) - 1
	i := int(maphash.String(x.seed, name)) & mask
	for {
		p := x.slots[i]
		if p == 0 {
			return i, false
		}
		if nameAt(int(p-1)) == name {
			return i, true
		}
		i = (i + 1) & mask
	}
}

// Find returns the position of the entry called name.
func (x *Index) Find(name string, nameAt func(int) string) (int, bool) {
	if x.n == 0 {
		return 0, false
	}
	s, ok := x.probe(name, nameAt)
	return int(x.slots[s]) - 1, ok
}

// Insert records that the entry at position pos is called name, unless
// an entry of that name is there already: then it returns that entry's
// position and true, and changes nothing.
func (x *Index) Insert(name string, pos int, nameAt func(int) string) (int, bool) {
	s, ok := x.probe(name, nameAt)
	if ok {
		return int(x.slots[s]) - 1, true
	}
	if x.n+1 > len(x.slots)-len(x.slots)/4 {
		x.grow(nameAt)
		s, _ = x.probe(name, nameAt)
	}
	x.slots[s] = uint32(pos) + 1
	x.n++
	return pos, false
}

// grow doubles the table.
func (x *Index) grow(nameAt func(int) string) {
	old := x.slots
	x.slots = make([]uint32, 2*len(old))
	for _, p := range old {
		if p != 0 {
			s, _ := x.probe(nameAt(int(p-1)), nameAt)
			x.slots[s] = p
		}
	}
}

// Rebuild indexes the n entries at positions 0 to n-1 afresh, for when
// they moved.
func (x *Index) Rebuild(n int, nameAt func(int) string) {
	clear(x.slots)
	x.n = 0
	for i := range n {
		x.Insert(nameAt(i), i, nameAt)
	}
}

// FirstDup returns the first position of n entries, named by nameAt,
// whose name an earlier entry has, and whether there is one.
func FirstDup(n int, nameAt func(int) string) (int, bool) {
	seen := Make(n)
	for i := range n {
		if _, dup := seen.Insert(nameAt(i), i, nameAt); dup {
			return i, true
		}
	}
	return 0, false
}
