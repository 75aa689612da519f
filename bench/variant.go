package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/stload/stload/device"
)

// trialVariant holds the gpu-trial flags that select the designs issue 10
// compares, and its instruments.
type trialVariant struct {
	timeline  string
	fillOnly  bool
	cold      bool
	direct    bool
	lazyPin   bool
	hostAlloc string
	ring      string
}

func (v *trialVariant) flags(fs *flag.FlagSet) {
	fs.StringVar(&v.timeline, "timeline", "", "record the load's timeline: write FILE.json and FILE.svg after the window")
	fs.BoolVar(&v.fillOnly, "fill-only", false, "run the pipeline with copies that do nothing (real device and pinned memory): the host side alone")
	fs.BoolVar(&v.cold, "cold", false, "drop the files from the page cache before the window (posix_fadvise; fails above 1% residency)")
	fs.BoolVar(&v.direct, "direct", true, "read uncached ranges with O_DIRECT (device.Tuning.NoDirectIO off)")
	fs.BoolVar(&v.lazyPin, "lazy-pin", false, "readers pin staging buffers as they need them (device.Tuning.LazyPinning)")
	fs.StringVar(&v.hostAlloc, "host-alloc", "pinned", "staging allocator: pinned (cuMemHostAlloc) or mapped (mmap + MADV_HUGEPAGE + cuMemHostRegister)")
	fs.StringVar(&v.ring, "ring", "", "'llc': a ring the size of half the last-level cache, of 1 MiB chunks")
}

// tuning returns the pipeline designs the flags choose.
func (v *trialVariant) tuning() (device.Tuning, error) {
	t := device.Tuning{NoDirectIO: !v.direct, LazyPinning: v.lazyPin}
	switch v.hostAlloc {
	case "pinned":
	case "mapped":
		t.MappedHost = true
	default:
		return t, fmt.Errorf("-host-alloc %q: want pinned or mapped", v.hostAlloc)
	}
	return t, nil
}

// options turns the flags into device options; ringSet says that the
// chunk size or count were given, which -ring llc would contradict.
func (v *trialVariant) options(ringSet bool) ([]device.Option, error) {
	tuning, err := v.tuning()
	if err != nil {
		return nil, err
	}
	var o []device.Option
	if tuning != (device.Tuning{}) {
		o = append(o, device.WithTuning(tuning))
	}
	switch v.ring {
	case "":
	case "llc":
		if ringSet {
			return nil, errors.New("-ring llc sets the chunk size and count itself")
		}
		size, chunks := llcRing(lastLevelCache())
		o = append(o, device.WithChunkSize(size), device.WithChunks(chunks))
	default:
		return nil, fmt.Errorf("-ring %q: want llc", v.ring)
	}
	return o, nil
}

// llcRing returns the geometry of a staging ring that fits in half of a
// last-level cache of llc bytes: 1 MiB chunks, at least 8 of them. Chunks
// are filled and copied at once, so their bytes may still be in the
// cache when the copy engine reads them (on CPUs whose DMA reads snoop
// the cache): one trip through DRAM fewer per byte.
func llcRing(llc int64) (size, chunks int) {
	const chunk = 1 << 20
	return chunk, int(max(8, llc/2/chunk))
}

// lastLevelCache reads the size of CPU 0's level-3 cache from sysfs, or
// guesses 32 MiB.
func lastLevelCache() int64 {
	b, err := os.ReadFile("/sys/devices/system/cpu/cpu0/cache/index3/size")
	if err != nil {
		return 32 << 20
	}
	n, err := ParseSize(strings.TrimSpace(strings.Replace(string(b), "K", "KiB", 1)))
	if err != nil || n <= 0 {
		return 32 << 20
	}
	return n
}

// evictInputs drops the inputs from the page cache and says how much of
// each stayed; more than 1% is an error, since the trial would not be
// cold.
func evictInputs(inputs []string) (string, error) {
	var notes []string
	for _, p := range inputs {
		res, err := Evict(p)
		if err != nil {
			return "", err
		}
		notes = append(notes, fmt.Sprintf("cold: %.2f%% of %s cached at the start", 100*res, p))
		if res > 0.01 {
			return strings.Join(notes, "; "), fmt.Errorf("%s: %.1f%% stayed in the page cache", p, 100*res)
		}
	}
	return strings.Join(notes, "; "), nil
}

func cmdEvict(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("evict")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for _, p := range fs.Args() {
		res, err := Evict(p)
		if err != nil {
			return err
		}
		if err := jsonLine(stdout, struct {
			Kind     string  `json:"kind"`
			Path     string  `json:"path"`
			Resident float64 `json:"resident"`
		}{"evict", p, res}); err != nil {
			return err
		}
	}
	return nil
}
