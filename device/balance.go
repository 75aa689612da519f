package device

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/stload/stload/loader"
)

// group is the tensors of one layer, balanced as a unit.
type group struct {
	key     string
	bytes   int64
	members []*item
}

// balance assigns the tensors that no rule placed, when the target has
// several devices: whole layers, in layer order, to consecutive devices in
// proportion to their free memory (see OnAuto).
func (pl *planner) balance(files []*loader.File, items [][]item) error {
	if len(pl.target) <= 1 {
		return nil
	}
	for _, s := range pl.target {
		if pl.p.devices[s].IsCPU() {
			return &Error{Op: "plan", Detail: "cannot balance across the CPU and accelerators; use Map to put tensors on the CPU", Err: ErrPlacement}
		}
	}
	groups, placed := pl.groups(files, items)
	if len(groups) == 0 {
		return nil
	}
	caps, err := pl.capacities(placed)
	if err != nil {
		return err
	}
	return pl.assign(groups, caps)
}

// groups collects the unplaced tensors by layer, sorted in layer order, and
// the bytes that rules already put on each device.
func (pl *planner) groups(files []*loader.File, items [][]item) ([]*group, []int64) {
	byKey := make(map[string]*group)
	var groups []*group
	placed := make([]int64, len(pl.p.devices))
	for fi, file := range items {
		for i := range file {
			c := &file[i]
			t := files[fi].TensorAt(int(c.pos))
			n := stagedLen(t.End-t.Begin, t.DType, c.to)
			switch {
			case c.rule >= 0:
				parts := pl.parts[c.rule]
				for _, s := range parts {
					placed[s] += n / int64(len(parts))
					if pl.cfg.rules[c.rule].copies { // every part is the whole tensor
						placed[s] += n - n/int64(len(parts))
					}
				}
			case c.slot >= 0:
				placed[c.slot] += n
			default:
				k := layerKey(t.Name)
				g := byKey[k]
				if g == nil {
					g = &group{key: k}
					byKey[k] = g
					groups = append(groups, g)
				}
				g.bytes += n
				g.members = append(g.members, c)
			}
		}
	}
	slices.SortFunc(groups, func(a, b *group) int { return naturalCompare(a.key, b.key) })
	return groups, placed
}

// capacities returns the memory each target device can take: free memory
// less the reserve and what rules already put there. Without a way to ask
// (plan tests), devices count as equal.
func (pl *planner) capacities(placed []int64) ([]int64, error) {
	caps := make([]int64, len(pl.target))
	for i, s := range pl.target {
		free := int64(math.MaxInt64 / 4 / int64(len(pl.target)))
		if pl.free != nil {
			f, err := pl.free(pl.p.devices[s])
			if err != nil {
				return nil, err
			}
			free = f
		}
		caps[i] = max(0, free-pl.cfg.reserve-placed[s])
	}
	return caps, nil
}

// assign gives each group, in order, the device whose share of the total
// (proportional to capacity) covers the group's midpoint, moving on to
// the next device when it would not fit.
func (pl *planner) assign(groups []*group, caps []int64) error {
	var total, capSum float64
	for _, g := range groups {
		total += float64(g.bytes)
	}
	for _, c := range caps {
		capSum += float64(c)
	}
	bounds := make([]float64, len(caps)) // cumulative share ends
	var acc float64
	for i, c := range caps {
		acc += float64(c)
		bounds[i] = total * acc / max(capSum, 1)
	}
	used := make([]int64, len(caps))
	var at float64
	for _, g := range groups {
		mid := at + float64(g.bytes)/2
		at += float64(g.bytes)
		i := 0
		for i < len(caps)-1 && bounds[i] <= mid {
			i++
		}
		for i < len(caps) && used[i]+g.bytes > caps[i] {
			i++
		}
		if i == len(caps) {
			return &Error{Op: "plan", Tensor: g.key,
				Detail: fmt.Sprintf("layer of %d bytes fits on none of %d devices (%s)", g.bytes, len(caps), pl.capString(caps, used)),
				Err:    ErrOutOfMemory}
		}
		used[i] += g.bytes
		for _, c := range g.members {
			c.slot = int32(pl.target[i])
		}
	}
	return nil
}

func (pl *planner) capString(caps, used []int64) string {
	parts := make([]string, len(caps))
	for i := range caps {
		parts[i] = fmt.Sprintf("%s: %d of %d bytes left", pl.p.devices[pl.target[i]], caps[i]-used[i], caps[i])
	}
	return strings.Join(parts, ", ")
}

// layerKey returns the name's layer: its prefix up to and including the
// first dot-separated component made only of digits, or the whole name.
func layerKey(name string) string {
	start := 0
	for start <= len(name) {
		end := strings.IndexByte(name[start:], '.')
		if end < 0 {
			end = len(name)
		} else {
			end += start
		}
		if comp := name[start:end]; comp != "" && strings.Trim(comp, "0123456789") == "" {
			return name[:min(end+1, len(name))]
		}
		start = end + 1
	}
	return name
}

// naturalCompare orders strings with runs of digits compared by value.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Or(cmp.Compare(len(na), len(nb)), strings.Compare(na, nb)); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func digits(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
