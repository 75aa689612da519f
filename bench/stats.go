package bench

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"time"
)

// Figure is one measured operation: the seconds of each run, and their
// median, min and max. GB/s counts Bytes per run.
type Figure struct {
	// Group names the comparison the figure belongs to: "parse", "read",
	// "save", "convert", "ceiling", "alloc", "gen", "gpu".
	Group string `json:"group"`
	// Name says what ran, precisely enough to reproduce it.
	Name string `json:"name"`
	// Impl is "stload", "nlpodyssey", "ceiling", "alloc", "plain" (a
	// hand-written loop), "python" or "torch".
	Impl string `json:"impl"`
	// Threads is the number of goroutines (or OS threads) doing the work.
	Threads int `json:"threads"`
	// Bytes is what one run moves, as GB/s counts it (see the group's note).
	Bytes int64 `json:"bytes"`
	// Tensors is the number of tensors one run handles, where it matters.
	Tensors int `json:"tensors,omitempty"`
	// Runs holds the seconds of every timed run, in order.
	Runs []float64 `json:"runs_s"`
	// Median, Min and Max summarize Runs, in seconds.
	Median float64 `json:"median_s"`
	Min    float64 `json:"min_s"`
	Max    float64 `json:"max_s"`
	// GBps is Bytes / Median in 1e9 bytes per second.
	GBps float64 `json:"gbps"`
	// Note carries what a reader must know to read the figure right.
	Note string `json:"note,omitempty"`
}

// summarize fills Median, Min, Max and GBps from Runs.
func (f *Figure) summarize() {
	if len(f.Runs) == 0 {
		return
	}
	f.Median, f.Min, f.Max = median(f.Runs), slices.Min(f.Runs), slices.Max(f.Runs)
	if f.Bytes > 0 && f.Median > 0 {
		f.GBps = float64(f.Bytes) / f.Median / 1e9
	}
}

// rate returns the GB/s of run i.
func (f *Figure) rate(i int) float64 { return float64(f.Bytes) / f.Runs[i] / 1e9 }

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Ratio compares two figures as speeds: Num's rate over Den's. Value is
// the median of the per-run ratios where both ran the same number of
// times in interleaved rounds (so that drift cancels), else the ratio of
// the medians; Min and Max bound the per-run ratios.
type Ratio struct {
	// Name says what is compared with what.
	Name string `json:"name"`
	// Num and Den name the two figures: Num's speed over Den's.
	Num string `json:"num"`
	Den string `json:"den"`
	// Value is the median ratio; Min and Max bound the per-round ones.
	Value float64 `json:"value"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	// Goal is the least Value that meets the goal of issue 4; 0 when the
	// ratio is informative only.
	Goal float64 `json:"goal,omitempty"`
	// Met reports Value >= Goal.
	Met bool `json:"met"`
}

// ratio builds the Ratio of num's speed over den's.
func ratio(name string, num, den *Figure, goal float64) Ratio {
	r := Ratio{Name: name, Num: num.Name, Den: den.Name, Goal: goal}
	if len(num.Runs) == len(den.Runs) && len(num.Runs) > 0 {
		per := make([]float64, len(num.Runs))
		for i := range per {
			per[i] = num.rate(i) / den.rate(i)
		}
		r.Value, r.Min, r.Max = median(per), slices.Min(per), slices.Max(per)
	} else if den.GBps > 0 {
		r.Value = num.GBps / den.GBps
		r.Min, r.Max = r.Value, r.Value
	}
	r.Met = goal > 0 && r.Value >= goal
	return r
}

// contender is one operation in an interleaved measurement.
type contender struct {
	fig *Figure
	// setup runs untimed before every run (remove the file a save will
	// write, say); it may be nil.
	setup func() error
	// run is the timed operation.
	run func() error
	// warmHeap keeps the freed heap in the process before each run
	// instead of returning it to the OS: for figures that should measure
	// code, not the kernel handing out fresh pages to its allocations.
	warmHeap bool
}

// interleave runs every contender once untimed (warming caches, the
// allocator and the page cache alike for all), then runs rounds rounds in
// which each contender runs once, in order: A B C A B C... A garbage
// collection before each run keeps one contender's garbage from being
// collected on another's time, and returning the freed memory to the OS
// right then keeps the runtime's background scavenger from doing it during
// the next run (on two cores it steals a visible share). It also means an
// allocating contender gets fresh pages from the kernel, as it would in a
// fresh process. A contender with warmHeap set gets only the collection.
func interleave(rounds int, cs ...*contender) error {
	once := func(c *contender) (float64, error) {
		if c.setup != nil {
			if err := c.setup(); err != nil {
				return 0, fmt.Errorf("%s: setup: %w", c.fig.Name, err)
			}
		}
		if c.warmHeap {
			runtime.GC()
		} else {
			debug.FreeOSMemory()
		}
		start := time.Now()
		if err := c.run(); err != nil {
			return 0, fmt.Errorf("%s: %w", c.fig.Name, err)
		}
		return time.Since(start).Seconds(), nil
	}
	for _, c := range cs {
		if _, err := once(c); err != nil {
			return err
		}
	}
	for range max(1, rounds) {
		for _, c := range cs {
			s, err := once(c)
			if err != nil {
				return err
			}
			c.fig.Runs = append(c.fig.Runs, s)
		}
	}
	for _, c := range cs {
		c.fig.summarize()
	}
	return nil
}
