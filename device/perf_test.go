package device_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stload/stload/device"
	"github.com/stload/stload/device/devicetest"
	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// cold makes every range of a load count as not cached.
var cold = device.WithDirectHooks(device.DirectHooks{Cold: true})

// TestTimeline loads onto two simulated devices whose copies complete
// late and out of order, with a timeline, and checks it: every chunk was
// read before its copies were issued and issued before they completed,
// no lane's spans overlap, the chunks' bytes add up to the bytes copied,
// there is a lane per reader and stream, and the SVG is well-formed XML
// with one lane group per lane.
func TestTimeline(t *testing.T) {
	f := writeFile(t, t.TempDir(), "t.safetensors", 3, append(mixed(), coldSpecs()...))
	s := install(t, 2, 1<<30, 300*time.Microsecond)
	var tl device.Timeline
	set := load(t, []*loader.File{f}, device.On(s.Device(0)), device.Shard("c.cols", 1, s.Device(0), s.Device(1)),
		device.Map("a.*", device.CPU()), device.WithChunkSize(32<<10), device.WithChunks(6), device.WithReaders(3), device.WithTimeline(&tl))
	checkSet(t, set, f)
	kinds := map[string]int{}
	for _, l := range tl.Lanes {
		kinds[l.Kind]++
	}
	if kinds["reader"] != 3 || tl.Readers != 3 || kinds["stream"] != 2*device.DefaultStreams || kinds["reaper"] != 1 {
		t.Errorf("lanes %v, readers %d", kinds, tl.Readers)
	}
	var copied int64
	seen := map[int64]bool{}
	for _, c := range tl.Copies {
		copied += c.Bytes
		seen[c.Chunk] = true
	}
	st := set.Stats()
	var cpu int64
	for _, d := range st.Devices {
		if d.Device.IsCPU() {
			cpu += d.Copied
		}
	}
	if copied != st.Copied-cpu || int64(len(seen)) != st.Chunks {
		t.Errorf("timeline: %d bytes in %d chunks; stats: %d bytes to accelerators in %d chunks", copied, len(seen), st.Copied-cpu, st.Chunks)
	}
	sum := tl.Summary()
	var share float64
	for _, x := range sum.Readers {
		share += x
	}
	if sum.Verdict == "" || share+sum.ReadersIdle < 0.99 || share+sum.ReadersIdle > 1.01 {
		t.Errorf("summary: verdict %q, reader shares %v + idle %.3f", sum.Verdict, sum.Readers, sum.ReadersIdle)
	}
	checkSVG(t, &tl)
	js := filepath.Join(t.TempDir(), "tl.json")
	svg, err := tl.WriteFiles(js)
	if err != nil || svg != strings.TrimSuffix(js, ".json")+".svg" {
		t.Fatalf("WriteFiles = %q, %v", svg, err)
	}
	data, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	back, err := device.ReadTimeline(bytes.NewReader(data))
	if err != nil || len(back.Copies) != len(tl.Copies) || len(back.Lanes) != len(tl.Lanes) {
		t.Fatalf("JSON round trip: %v", err)
	}
	// ReadTimeline must reject what it claims to: a copy issued before its
	// read ended, and overlapping spans.
	reread := func(tl *device.Timeline) error {
		b, err := json.Marshal(tl)
		if err != nil {
			t.Fatal(err)
		}
		_, err = device.ReadTimeline(bytes.NewReader(b))
		return err
	}
	back.Copies[0].Issued = back.Copies[0].ReadEnd - 1
	if reread(back) == nil {
		t.Error("ReadTimeline accepted a copy issued before its read ended")
	}
	back.Copies[0] = tl.Copies[0]
	r := &back.Lanes[device.LaneReader]
	r.Spans = append(r.Spans, device.Span{Phase: "read", Start: 0, End: 1})
	if reread(back) == nil {
		t.Error("ReadTimeline accepted overlapping spans")
	}
}

// checkSVG parses the timeline's SVG and counts its lanes.
func checkSVG(t *testing.T, tl *device.Timeline) {
	t.Helper()
	var svg bytes.Buffer
	if err := tl.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&svg)
	lanes, readers, rects := 0, 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v", err)
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch el.Name.Local {
		case "g":
			for _, a := range el.Attr {
				switch {
				case a.Name.Local == "class" && a.Value == "lane":
					lanes++
				case a.Name.Local == "data-kind" && a.Value == "reader":
					readers++
				}
			}
		case "rect":
			rects++
		}
	}
	if lanes != len(tl.Lanes) || readers != tl.Readers || rects <= len(tl.Lanes) {
		t.Errorf("SVG: %d lanes (want %d), %d reader lanes (want %d), %d rectangles", lanes, len(tl.Lanes), readers, tl.Readers, rects)
	}
}

// TestDirectIO loads files as if none of their pages were cached, so that
// every large span is read with O_DIRECT, and checks every byte: tensors
// at unaligned offsets, runs broken by CPU tensors, column splits, the
// file's unaligned tail, chunks of one page and more, pread files, a
// conversion (which keeps the page cache path), and a tiny file.
func TestDirectIO(t *testing.T) {
	dir := t.TempDir()
	mapped := writeFile(t, dir, "c.safetensors", 5, coldSpecs())
	if !device.DirectWorks(mapped) {
		t.Skip("the file system of the test's temporary directory takes no O_DIRECT reads")
	}
	pread, err := loader.Open(mapped.Name(), loader.WithPread())
	if err != nil {
		t.Fatal(err)
	}
	defer pread.Close()
	tiny := writeFile(t, dir, "tiny.safetensors", 6, []spec{sp("x", dtype.U8, 3)})
	floats := writeFile(t, dir, "floats.safetensors", 7, coldSpecs()[2:4])
	for _, tt := range []struct {
		name   string
		file   *loader.File
		opts   func(s *devicetest.Backend) []device.Option
		direct bool
	}{
		{"default ring", mapped, func(*devicetest.Backend) []device.Option { return nil }, true},
		{"chunks of 128 KiB", mapped, func(*devicetest.Backend) []device.Option { return []device.Option{device.WithChunkSize(128 << 10)} }, true},
		{"chunks of 68 KiB", mapped, func(*devicetest.Backend) []device.Option { return []device.Option{device.WithChunkSize(68 << 10)} }, true},
		{"small tensors on the CPU", mapped, func(*devicetest.Backend) []device.Option {
			return []device.Option{device.Map("*.small", device.CPU()), device.Map("d.*", device.CPU())}
		}, true},
		{"column split over two devices", mapped, func(s *devicetest.Backend) []device.Option {
			return []device.Option{device.Shard("c.cols", -1, s.Device(0), s.Device(1)), device.Shard("b.rows", 0, s.Device(1), s.Device(0))}
		}, true},
		{"pread file", pread, func(*devicetest.Backend) []device.Option { return []device.Option{device.WithChunkSize(256 << 10)} }, true},
		{"conversion reads through the page cache", floats, func(*devicetest.Backend) []device.Option { return []device.Option{device.WithDType(dtype.F16)} }, false},
		{"the same file unconverted", floats, func(*devicetest.Backend) []device.Option { return nil }, true},
		{"tiny file", tiny, func(*devicetest.Backend) []device.Option { return nil }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := install(t, 2, 1<<30, 200*time.Microsecond)
			set := load(t, []*loader.File{tt.file}, append([]device.Option{device.On(s.Device(0)), cold}, tt.opts(s)...)...)
			checkSet(t, set, tt.file)
			if d := set.Stats().Direct; (d > 0) != tt.direct {
				t.Errorf("%d bytes read with O_DIRECT; want some: %v", d, tt.direct)
			}
		})
	}
}

// TestReplicate places one tensor whole on two devices and the CPU and
// checks, from the timeline, that its bytes were read once.
func TestReplicate(t *testing.T) {
	specs := []spec{sp("embed", dtype.BF16, 300, 100), sp("w", dtype.F32, 50, 20)}
	f := writeFile(t, t.TempDir(), "r.safetensors", 9, specs)
	s := install(t, 2, 1<<30, 100*time.Microsecond)
	var tl device.Timeline
	set := load(t, []*loader.File{f}, device.On(s.Device(0)), device.Replicate("embed", s.Device(0), s.Device(1), device.CPU()),
		device.WithCopy(), device.WithTuning(device.Tuning{NoDirectIO: true}), device.WithTimeline(&tl))
	checkSet(t, set, f)
	parts := set.Parts("embed")
	if len(parts) != 3 || parts[1].Device != s.Device(1) || parts[2].Device != device.CPU() {
		t.Fatalf("parts: %v", parts)
	}
	var staged int64 // bytes read into staging buffers (not the device.CPU copy)
	for _, l := range tl.Lanes {
		for _, sp := range l.Spans {
			if l.Kind == "reader" && sp.Phase == "read" && sp.Chunk >= 0 {
				staged += sp.Bytes
			}
		}
	}
	if want := f.Size() - (8 + f.HeaderSize()); staged != want {
		t.Errorf("staged %d bytes, want %d: the replicated tensor was read more than once", staged, want)
	}
}

// TestPinning loads with the ring pinned ahead by the background pinner
// and by the readers lazily, with the mapped allocator, and checks the
// bytes and who pinned: ahead, only the pinner lane pins and never more
// than the chunks asked for.
func TestPinning(t *testing.T) {
	f := writeFile(t, t.TempDir(), "p.safetensors", 10, mixed())
	for _, tt := range []struct {
		name   string
		opts   []device.Option
		mapped bool
	}{
		{"ahead", nil, false},
		{"lazy", []device.Option{device.WithTuning(device.Tuning{LazyPinning: true})}, false},
		{"mapped", []device.Option{device.WithTuning(device.Tuning{MappedHost: true})}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := devicetest.Install(t, devicetest.Options{Delay: 100 * time.Microsecond, PinRate: 1e9})
			var tl device.Timeline
			opts := append([]device.Option{device.On(s.Device(0)), device.WithChunkSize(16 << 10), device.WithChunks(4), device.WithTimeline(&tl)}, tt.opts...)
			set := load(t, []*loader.File{f}, opts...)
			checkSet(t, set, f)
			pins := len(tl.Lanes[device.LanePinner].Spans)
			lazy := strings.Contains(tt.name, "lazy")
			c := s.Counters()
			if (pins == 0) != lazy || pins > 4 || c.PeakPinned > 4*16<<10 {
				t.Errorf("pinner pinned %d buffers, %d bytes in all", pins, c.PeakPinned)
			}
			if got := c.MappedAllocs > 0; got != tt.mapped {
				t.Errorf("mapped allocator used: %v", got)
			}
		})
	}
}

// TestStagingReaders checks the default reader count of a staging load
// and that WithReaders overrides it.
func TestStagingReaders(t *testing.T) {
	f := writeFile(t, t.TempDir(), "r.safetensors", 11, mixed())
	s := install(t, 1, 1<<30, 0)
	for _, tt := range []struct {
		opts []device.Option
		want int
	}{
		{nil, device.StagingReaders()},
		{[]device.Option{device.WithReaders(3)}, 3},
	} {
		var tl device.Timeline
		set := load(t, []*loader.File{f}, append([]device.Option{device.On(s.Device(0)), device.WithChunks(32), device.WithTimeline(&tl)}, tt.opts...)...)
		if want := min(tt.want, tl.RingChunks); tl.Readers != want {
			t.Errorf("%d readers, want %d", tl.Readers, want)
		}
		set.Close()
	}
}
