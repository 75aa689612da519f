package device

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// coldSpecs is a file whose tensors sit at offsets that are not multiples
// of the page size, most of them large enough for O_DIRECT reads (64 KiB
// and more), with small tensors between them and an odd-sized last one,
// so that the file ends inside a page.
func coldSpecs() []spec {
	return []spec{
		sp("a.big", dtype.U8, 70001),
		sp("a.small", dtype.I8, 13),
		sp("b.rows", dtype.BF16, 257, 513),
		sp("c.cols", dtype.F32, 100, 333),
		sp("d.tiny", dtype.U8, 5),
		sp("e.vec", dtype.F32, 65537),
		sp("z.tail", dtype.U8, 300001),
	}
}

// withDirectHooks replaces the O_DIRECT system calls, or marks every range
// as not cached.
func withDirectHooks(h directHooks) Option { return func(c *config) { c.perf.hooks = h } }

// directWorks reports whether f's file system takes O_DIRECT reads.
func directWorks(f *loader.File) bool {
	d, err := openDirect(f, nil, directHooks{cold: true})
	if err != nil {
		return false
	}
	d.close()
	return true
}

// TestTimeline loads onto two simulated devices whose copies complete
// late and out of order, with a timeline, and checks it: every chunk was
// read before its copies were issued and issued before they completed,
// no lane's spans overlap, the chunks' bytes add up to the bytes copied,
// there is a lane per reader and stream, and the SVG is well-formed XML
// with one lane group per lane.
func TestTimeline(t *testing.T) {
	f := writeFile(t, t.TempDir(), "t.safetensors", 3, append(mixed(), coldSpecs()...))
	s := newSim(t, 2, 1<<30, 300*time.Microsecond)
	var tl Timeline
	set := load(t, []*loader.File{f}, To(s.dev(0)), Shard("c.cols", 1, s.dev(0), s.dev(1)),
		Map("a.*", CPU()), WithChunkSize(32<<10), WithChunks(6), WithReaders(3), WithTimeline(&tl))
	checkSet(t, set, f)
	if err := tl.Check(); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, l := range tl.Lanes {
		kinds[l.Kind]++
	}
	if kinds["reader"] != 3 || tl.Readers != 3 || kinds["stream"] != 2*DefaultStreams || kinds["reaper"] != 1 {
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
	var js bytes.Buffer
	if err := tl.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	back, err := ReadTimeline(&js)
	if err != nil || len(back.Copies) != len(tl.Copies) || len(back.Lanes) != len(tl.Lanes) {
		t.Fatalf("JSON round trip: %v", err)
	}
	// Check must catch what it claims to: a copy issued before its read
	// ended, and overlapping spans.
	back.Copies[0].Issued = back.Copies[0].ReadEnd - 1
	if back.Check() == nil {
		t.Error("Check accepted a copy issued before its read ended")
	}
	back.Copies[0] = tl.Copies[0]
	r := &back.Lanes[laneReader]
	r.Spans = append(r.Spans, Span{Phase: PhaseRead, Start: 0, End: 1})
	if back.Check() == nil {
		t.Error("Check accepted overlapping spans")
	}
}

// checkSVG parses the timeline's SVG and counts its lanes.
func checkSVG(t *testing.T, tl *Timeline) {
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
	if !directWorks(mapped) {
		t.Skip("the file system of the test's temporary directory takes no O_DIRECT reads")
	}
	pread, err := loader.Open(mapped.Name(), loader.WithPread())
	if err != nil {
		t.Fatal(err)
	}
	defer pread.Close()
	tiny := writeFile(t, dir, "tiny.safetensors", 6, []spec{sp("x", dtype.U8, 3)})
	floats := writeFile(t, dir, "floats.safetensors", 7, coldSpecs()[2:4])
	cold := withDirectHooks(directHooks{cold: true})
	for _, tt := range []struct {
		name   string
		file   *loader.File
		opts   func(s *sim) []Option
		direct bool
	}{
		{"default ring", mapped, func(*sim) []Option { return nil }, true},
		{"chunks of 128 KiB", mapped, func(*sim) []Option { return []Option{WithChunkSize(128 << 10)} }, true},
		{"chunks of 68 KiB", mapped, func(*sim) []Option { return []Option{WithChunkSize(68 << 10)} }, true},
		{"small tensors on the CPU", mapped, func(*sim) []Option { return []Option{Map("*.small", CPU()), Map("d.*", CPU())} }, true},
		{"column split over two devices", mapped, func(s *sim) []Option {
			return []Option{Shard("c.cols", -1, s.dev(0), s.dev(1)), Shard("b.rows", 0, s.dev(1), s.dev(0))}
		}, true},
		{"pread file", pread, func(*sim) []Option { return []Option{WithChunkSize(256 << 10)} }, true},
		{"conversion reads through the page cache", floats, func(*sim) []Option { return []Option{WithDType(dtype.F16)} }, false},
		{"the same file unconverted", floats, func(*sim) []Option { return nil }, true},
		{"tiny file", tiny, func(*sim) []Option { return nil }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, 2, 1<<30, 200*time.Microsecond)
			set := load(t, []*loader.File{tt.file}, append([]Option{To(s.dev(0)), cold}, tt.opts(s)...)...)
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
	s := newSim(t, 2, 1<<30, 100*time.Microsecond)
	var tl Timeline
	set := load(t, []*loader.File{f}, To(s.dev(0)), Replicate("embed", s.dev(0), s.dev(1), CPU()),
		WithCopy(), WithDirectIO(false), WithTimeline(&tl))
	checkSet(t, set, f)
	parts := set.Parts("embed")
	if len(parts) != 3 || parts[1].Device != s.dev(1) || parts[2].Device != CPU() {
		t.Fatalf("parts: %v", parts)
	}
	var staged int64 // bytes read into staging buffers (not the CPU copy)
	for _, l := range tl.Lanes {
		for _, sp := range l.Spans {
			if l.Kind == "reader" && sp.Phase == PhaseRead && sp.Chunk >= 0 {
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
		opts   []Option
		mapped bool
	}{
		{"ahead", nil, false},
		{"lazy", []Option{WithLazyPinning()}, false},
		{"mapped", []Option{WithHostAlloc(HostAllocMapped)}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, 1, 1<<30, 100*time.Microsecond)
			s.pinRate = 1e9
			var tl Timeline
			opts := append([]Option{To(s.dev(0)), WithChunkSize(16 << 10), WithChunks(4), WithTimeline(&tl)}, tt.opts...)
			set := load(t, []*loader.File{f}, opts...)
			checkSet(t, set, f)
			pins := len(tl.Lanes[lanePinner].Spans)
			lazy := strings.Contains(tt.name, "lazy")
			if (pins == 0) != lazy || pins > 4 || s.peakPinned > 4*16<<10 {
				t.Errorf("pinner pinned %d buffers, %d bytes in all", pins, s.peakPinned)
			}
			if got := s.mappedAllocs.Load() > 0; got != tt.mapped {
				t.Errorf("mapped allocator used: %v", got)
			}
		})
	}
}

// TestStagingReaders checks the default reader count of a staging load
// and that WithReaders overrides it.
func TestStagingReaders(t *testing.T) {
	f := writeFile(t, t.TempDir(), "r.safetensors", 11, mixed())
	s := newSim(t, 1, 1<<30, 0)
	for _, tt := range []struct {
		opts []Option
		want int
	}{
		{nil, stagingReaders()},
		{[]Option{WithReaders(3)}, 3},
	} {
		var tl Timeline
		set := load(t, []*loader.File{f}, append([]Option{To(s.dev(0)), WithChunks(32), WithTimeline(&tl)}, tt.opts...)...)
		if want := min(tt.want, tl.RingChunks); tl.Readers != want {
			t.Errorf("%d readers, want %d", tl.Readers, want)
		}
		set.Close()
	}
}

// TestPinFailure fails the background pinner's second buffer: the load
// must fail with the injected error and free everything.
func TestPinFailure(t *testing.T) {
	f := writeFile(t, t.TempDir(), "pf.safetensors", 12, mixed())
	s := newSim(t, 1, 1<<30, 0)
	s.failHost = 2
	_, err := Load(t.Context(), []*loader.File{f}, To(s.dev(0)), WithChunkSize(8<<10), WithChunks(4))
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(err.Error(), "injected pinned") {
		t.Fatalf("err = %v", err)
	}
}
