package nameidx

import (
	"strconv"
	"testing"
)

// TestIndex inserts names past several growths, finds each at its
// position, reports duplicates without changing anything, and rebuilds
// after the entries moved.
func TestIndex(t *testing.T) {
	var zero Index
	if _, ok := zero.Find("a", nil); ok {
		t.Fatal("the zero Index found a name")
	}
	names := make([]string, 1000)
	for i := range names {
		names[i] = "t" + strconv.Itoa(i)
	}
	nameAt := func(i int) string { return names[i] }
	x := Make(3) // grows several times
	for i, n := range names {
		if _, dup := x.Insert(n, i, nameAt); dup {
			t.Fatalf("%s reported as a duplicate", n)
		}
	}
	for i, n := range names {
		if j, ok := x.Find(n, nameAt); !ok || j != i {
			t.Fatalf("Find(%s) = %d, %v; want %d", n, j, ok, i)
		}
	}
	if j, dup := x.Insert("t7", 999, nameAt); !dup || j != 7 {
		t.Fatalf("duplicate insert: %d, %v", j, dup)
	}
	if j, ok := x.Find("t7", nameAt); !ok || j != 7 {
		t.Fatalf("a duplicate insert changed t7: %d, %v", j, ok)
	}
	if _, ok := x.Find("t1000", nameAt); ok {
		t.Fatal("found a missing name")
	}
	names[0], names[999] = names[999], names[0]
	x.Rebuild(len(names), nameAt)
	if j, ok := x.Find("t0", nameAt); !ok || j != 999 {
		t.Fatalf("after Rebuild, t0 at %d, %v", j, ok)
	}
}

func TestFirstDup(t *testing.T) {
	for _, tc := range []struct {
		names []string
		at    int
		dup   bool
	}{
		{nil, 0, false},
		{[]string{"a", "b", "c"}, 0, false},
		{[]string{"a", "b", "a", "b"}, 2, true},
		{[]string{"x", "y", "y"}, 2, true},
	} {
		at, dup := FirstDup(len(tc.names), func(i int) string { return tc.names[i] })
		if at != tc.at || dup != tc.dup {
			t.Errorf("FirstDup(%q) = %d, %v; want %d, %v", tc.names, at, dup, tc.at, tc.dup)
		}
	}
}
