package device

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
)

// Timeline records what every goroutine of one load did and when: per
// reader, the spans spent waiting for work, waiting for a free staging
// buffer, reading and issuing copies; per chunk and device, when its read
// started and ended, when its copies were issued and when its event was
// seen complete; per stream, the spans it was copying. Pass one to
// [WithTimeline]; after the load it holds that load (a later load with the
// same Timeline replaces it). It is written as JSON ([Timeline.WriteFiles]),
// summarised ([Timeline.Summary]: where each goroutine's time went, and a
// verdict) and drawn as an SVG Gantt chart ([Timeline.WriteSVG]).
//
// Recording costs two clock reads and an append per span, a few per chunk;
// a load without a Timeline pays one nil check per span. Each lane is
// written only by its own goroutine during the load, and read after it, so
// recording takes no lock. A Timeline must not be shared by loads that run
// at the same time.
type Timeline struct {
	// Start is when the load began; span times count from it.
	Start time.Time `json:"start"`
	// Elapsed is the load's duration, in nanoseconds.
	Elapsed int64 `json:"elapsed_ns"`
	// Readers, ChunkSize and RingChunks are the pipeline's geometry.
	Readers    int `json:"readers"`
	ChunkSize  int `json:"chunk_size"`
	RingChunks int `json:"ring_chunks"`
	// Bytes is the bytes the load placed.
	Bytes int64 `json:"bytes"`
	// Lanes holds one lane per goroutine (feeder, pinner, readers, reaper)
	// and per stream.
	Lanes []Lane `json:"lanes"`
	// Copies holds one entry per chunk and device it fed, in the order the
	// reaper saw them complete.
	Copies []ChunkCopy `json:"copies"`
}

// Lane is the spans of one goroutine or stream, in time order and never
// overlapping.
type Lane struct {
	// Name labels the lane: "reader 3", "cuda:0 stream 1".
	Name string `json:"name"`
	// Kind is "feeder", "pinner", "reader", "reaper" or "stream".
	Kind string `json:"kind"`
	// Device is a stream lane's device, else "".
	Device string `json:"device,omitempty"`
	Spans  []Span `json:"spans"`
}

// Span is one phase of a lane: [Start, End) in nanoseconds from the start
// of the load.
type Span struct {
	// Phase says what the lane did: "alloc" (the feeder allocates a file's
	// device memory), "pin" (a staging buffer is pinned), "wait-job" (a
	// reader waits for the feeder's next job), "wait-buffer" (a reader
	// waits for a free staging buffer, or, with WithRegister, for a window
	// of the mapping to be locked), "read" (a reader fills a buffer or CPU
	// memory from the page cache: a copy from the mapping, or pread),
	// "direct-read" (a reader fills a buffer with O_DIRECT reads), "issue"
	// (a reader enqueues a chunk's copies and records events),
	// "wait-event" (the reaper waits for a chunk's copies), or "copy" (a
	// stream copies a chunk, from when it was issued, or the stream's
	// previous chunk completed if later, to when it completed).
	Phase string `json:"phase"`
	Start int64  `json:"start_ns"`
	End   int64  `json:"end_ns"`
	// Chunk is the chunk concerned, or -1.
	Chunk int64 `json:"chunk"`
	// Bytes is the bytes read or copied, where the phase moves any.
	Bytes int64 `json:"bytes,omitempty"`
}

// ChunkCopy is the life of one chunk's copies to one device, in
// nanoseconds from the start of the load: read into its staging buffer
// over [ReadStart, ReadEnd), copies enqueued over [Issued, Recorded) on
// the stream of lane Lane, and seen complete by the reaper at Done (an
// upper bound of the copies' completion: the reaper waits for chunks in
// the order they were issued).
type ChunkCopy struct {
	Chunk     int64 `json:"chunk"`
	File      int   `json:"file"`
	Reader    int   `json:"reader"`
	Lane      int   `json:"lane"`
	Bytes     int64 `json:"bytes"`
	ReadStart int64 `json:"read_start_ns"`
	ReadEnd   int64 `json:"read_end_ns"`
	Issued    int64 `json:"issued_ns"`
	Recorded  int64 `json:"recorded_ns"`
	Done      int64 `json:"done_ns"`
}

// The phases of a Timeline's spans (Span.Phase).
const (
	phaseAlloc      = "alloc"       // the feeder allocates a file's device memory
	phasePin        = "pin"         // a staging buffer is being pinned
	phaseWaitJob    = "wait-job"    // a reader waits for the feeder's next job
	phaseWaitBuffer = "wait-buffer" // a reader waits for a free staging buffer, or a window to lock
	phaseRead       = "read"        // a reader fills a buffer (or CPU memory) from the page cache
	phaseDirect     = "direct-read" // a reader fills a buffer with O_DIRECT reads
	phaseIssue      = "issue"       // a reader enqueues a chunk's copies and records events
	phaseWaitEvent  = "wait-event"  // the reaper waits for a chunk's copies
	phaseCopy       = "copy"        // a stream copies a chunk
)

// phases lists the phases in the order summaries and legends show them.
var phases = []string{phaseAlloc, phasePin, phaseWaitJob, phaseWaitBuffer, phaseRead, phaseDirect,
	phaseIssue, phaseWaitEvent, phaseCopy}

// writeJSON writes the timeline as one JSON document.
func (t *Timeline) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	return enc.Encode(t)
}

// WriteFiles writes the timeline as JSON to path and as an SVG chart
// beside it (path with ".json" replaced by ".svg", or ".svg" added), and
// returns the chart's path.
func (t *Timeline) WriteFiles(path string) (string, error) {
	svg := strings.TrimSuffix(path, ".json") + ".svg"
	if err := createWith(path, t.writeJSON); err != nil {
		return "", err
	}
	return svg, createWith(svg, t.WriteSVG)
}

// createWith creates the file name and fills it with write.
func createWith(name string, write func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadTimeline reads a timeline's JSON, as [Timeline.WriteFiles] writes
// it, and checks that it is consistent: no span ends before it starts or
// overlaps the previous one of its lane, and no chunk's copies were issued
// before its read ended or completed before they were issued.
func ReadTimeline(r io.Reader) (*Timeline, error) {
	var t Timeline
	if err := json.NewDecoder(r).Decode(&t); err != nil {
		return nil, &Error{Op: "read timeline", Err: err}
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	return &t, nil
}

// check reports the first inconsistency of the timeline: a span that ends
// before it starts or overlaps the previous one of its lane, a chunk whose
// copies were issued before its read ended or completed before they were
// issued, a copy lane that does not exist.
func (t *Timeline) check() error {
	bad := func(format string, args ...any) error {
		return &Error{Op: "check timeline", Detail: fmt.Sprintf(format, args...), Err: errors.New("inconsistent timeline")}
	}
	for _, l := range t.Lanes {
		var prev int64
		for i, s := range l.Spans {
			if s.End < s.Start || s.Start < 0 {
				return bad("%s: span %d (%s) runs from %d to %d ns", l.Name, i, s.Phase, s.Start, s.End)
			}
			if s.Start < prev {
				return bad("%s: span %d (%s) starts at %d ns, before the previous one ends (%d ns)", l.Name, i, s.Phase, s.Start, prev)
			}
			prev = s.End
		}
	}
	for _, c := range t.Copies {
		switch {
		case c.Lane < 0 || c.Lane >= len(t.Lanes) || t.Lanes[c.Lane].Kind != "stream":
			return bad("chunk %d: lane %d is not a stream", c.Chunk, c.Lane)
		case c.ReadStart > c.ReadEnd || c.ReadEnd > c.Issued:
			return bad("chunk %d: read [%d, %d) ns, copies issued at %d ns", c.Chunk, c.ReadStart, c.ReadEnd, c.Issued)
		case c.Issued > c.Recorded || c.Recorded > c.Done:
			return bad("chunk %d: issued at %d ns, recorded at %d, done at %d", c.Chunk, c.Issued, c.Recorded, c.Done)
		}
	}
	return nil
}

// recorder records one load into a Timeline. Every method is safe on a
// nil recorder and does nothing there, which is how a load without a
// Timeline pays only a nil check.
type recorder struct {
	t     *Timeline
	start time.Time
}

// now returns the nanoseconds since the load started.
func (r *recorder) now() int64 {
	if r == nil {
		return 0
	}
	return int64(time.Since(r.start))
}

// lane returns lane i, or nil without a timeline.
func (r *recorder) lane(i int) *laneRec {
	if r == nil {
		return nil
	}
	return &laneRec{r: r, l: &r.t.Lanes[i]}
}

// laneRec appends spans to one lane; nil records nothing.
type laneRec struct {
	r *recorder
	l *Lane
}

// tick returns the current time for a span that starts now, or 0.
func (l *laneRec) tick() int64 {
	if l == nil {
		return 0
	}
	return l.r.now()
}

// span records phase p from start until now and returns now.
func (l *laneRec) span(p string, start, chunk, bytes int64) int64 {
	if l == nil {
		return 0
	}
	end := l.r.now()
	l.l.Spans = append(l.l.Spans, Span{Phase: p, Start: start, End: end, Chunk: chunk, Bytes: bytes})
	return end
}

// Lane numbers of a recorded load: feeder, pinner, readers, reaper, then
// one per stream of each accelerator in slot order.
const (
	laneFeeder = 0
	lanePinner = 1
	laneReader = 2
)

func (e *loadRun) laneReaper() int { return laneReader + e.cfg.readers }

// startTimeline resets the load's timeline, if any, and lays out its
// lanes. It runs before the pipeline's goroutines start.
func (e *loadRun) startTimeline() {
	t := e.cfg.perf.timeline
	if t == nil {
		return
	}
	*t = Timeline{Start: e.start, Readers: e.cfg.readers, ChunkSize: e.cfg.chunkSize,
		RingChunks: e.cfg.chunks}
	t.Lanes = append(t.Lanes, Lane{Name: "feeder", Kind: "feeder"}, Lane{Name: "pinner", Kind: "pinner"})
	for i := range e.cfg.readers {
		t.Lanes = append(t.Lanes, Lane{Name: fmt.Sprintf("reader %d", i), Kind: "reader"})
	}
	t.Lanes = append(t.Lanes, Lane{Name: "reaper", Kind: "reaper"})
	e.streamLane = make([]int, len(e.slots))
	for i, s := range e.slots {
		e.streamLane[i] = len(t.Lanes)
		for k := range s.streams {
			dev := s.dev.String()
			t.Lanes = append(t.Lanes, Lane{Name: fmt.Sprintf("%s stream %d", dev, k), Kind: "stream", Device: dev})
		}
	}
	e.rec = &recorder{t: t, start: e.start}
}

// chunkDone records, on the reaper, that the copies of j to the device of
// ce were seen complete at done.
func (e *loadRun) chunkDone(j *job, ce *copyEvent, done int64) {
	if e.rec == nil {
		return
	}
	n := int64(len(e.slots[ce.slot].streams))
	e.rec.t.Copies = append(e.rec.t.Copies, ChunkCopy{Chunk: j.seq, File: j.file, Reader: j.times.reader,
		Lane: e.streamLane[ce.slot] + int(j.seq%n), Bytes: ce.bytes, ReadStart: j.times.read0,
		ReadEnd: j.times.read1, Issued: j.times.issue0, Recorded: j.times.issue1, Done: done})
}

// finishTimeline completes the timeline after every goroutine of the load
// has stopped: the elapsed time, and the stream lanes, derived from the
// chunks' issue and completion times (a stream runs its copies in order,
// so a chunk's copies run from when they were issued or the previous
// chunk on the stream completed, whichever is later, until they complete).
func (e *loadRun) finishTimeline() {
	if e.rec == nil {
		return
	}
	t := e.rec.t
	t.Elapsed = e.rec.now()
	t.Bytes = e.done.Load()
	byLane := map[int][]ChunkCopy{}
	for _, c := range t.Copies {
		byLane[c.Lane] = append(byLane[c.Lane], c)
	}
	for lane, cs := range byLane {
		slices.SortFunc(cs, func(a, b ChunkCopy) int { return int(a.Issued - b.Issued) })
		var prev int64
		for _, c := range cs {
			start := max(c.Issued, prev)
			t.Lanes[lane].Spans = append(t.Lanes[lane].Spans,
				Span{Phase: phaseCopy, Start: start, End: max(start, c.Done), Chunk: c.Chunk, Bytes: c.Bytes})
			prev = max(start, c.Done)
		}
	}
	e.rec = nil
}

// jobTimes is what a chunk's reader saw of it, for the timeline.
type jobTimes struct {
	reader       int
	read0, read1 int64
	issue0       int64
	issue1       int64
}

// TimelineSummary says where the time of a load went.
type TimelineSummary struct {
	// Elapsed is the load's duration.
	Elapsed time.Duration
	// Lanes summarises every lane.
	Lanes []LaneSummary
	// Devices gives, per device, the fraction of the load during which at
	// least one of its streams was copying.
	Devices map[string]float64
	// Readers adds up the readers' lanes: each phase's share of the
	// readers' total time (readers × Elapsed), and idle.
	Readers map[string]float64
	// ReadersIdle is the readers' share of time in no phase (before their
	// first job, after their last).
	ReadersIdle float64
	// FirstCopy is when the first chunk's copies completed.
	FirstCopy time.Duration
	// Verdict says in a sentence where the time went.
	Verdict string
}

// LaneSummary is the time one lane spent in each phase.
type LaneSummary struct {
	Name   string
	Kind   string
	Phases map[string]time.Duration
	// Idle is the time in no phase; Busy the share of the load in one.
	Idle time.Duration
	Busy float64
}

// Summary adds up the timeline per lane and phase and gives a verdict.
func (t *Timeline) Summary() TimelineSummary {
	s := TimelineSummary{Elapsed: time.Duration(t.Elapsed), Devices: map[string]float64{},
		Readers: map[string]float64{}}
	el := float64(max(t.Elapsed, 1))
	var readers float64
	busy := map[string][][2]int64{}
	for _, l := range t.Lanes {
		ls := LaneSummary{Name: l.Name, Kind: l.Kind, Phases: map[string]time.Duration{}}
		var in int64
		for _, sp := range l.Spans {
			ls.Phases[sp.Phase] += time.Duration(sp.End - sp.Start)
			in += sp.End - sp.Start
			if l.Kind == "stream" {
				busy[l.Device] = append(busy[l.Device], [2]int64{sp.Start, sp.End})
			}
		}
		ls.Idle = time.Duration(max(0, t.Elapsed-in))
		ls.Busy = float64(in) / el
		if l.Kind == "reader" {
			readers++
			for p, d := range ls.Phases {
				s.Readers[p] += float64(d)
			}
			s.ReadersIdle += float64(ls.Idle)
		}
		s.Lanes = append(s.Lanes, ls)
	}
	for dev, spans := range busy {
		s.Devices[dev] = float64(union(spans)) / el
	}
	if readers > 0 {
		for p := range s.Readers {
			s.Readers[p] /= readers * el
		}
		s.ReadersIdle /= readers * el
	}
	for i, c := range t.Copies {
		if i == 0 || time.Duration(c.Done) < s.FirstCopy {
			s.FirstCopy = time.Duration(c.Done)
		}
	}
	s.Verdict = s.verdict()
	return s
}

// union returns the total length of the union of spans.
func union(spans [][2]int64) int64 {
	slices.SortFunc(spans, func(a, b [2]int64) int { return int(a[0] - b[0]) })
	var total, end int64 = 0, -1
	for _, sp := range spans {
		if sp[0] > end {
			total += sp[1] - sp[0]
		} else if sp[1] > end {
			total += sp[1] - end
		}
		end = max(end, sp[1])
	}
	return total
}

// verdict names the resource that bounded the load. The thresholds are
// rough: a link busy 85% of the time is the limit; readers that spend a
// fifth of their time waiting for buffers or work are held up by what
// feeds those; readers busy reading half their time or more are the limit.
func (s *TimelineSummary) verdict() string {
	link, linkDev := 0.0, ""
	for d, b := range s.Devices {
		if b > link || linkDev == "" {
			link, linkDev = b, d
		}
	}
	read := s.Readers[phaseRead] + s.Readers[phaseDirect]
	pct := func(x float64) string { return fmt.Sprintf("%.0f%%", 100*x) }
	links := ""
	if linkDev != "" {
		links = fmt.Sprintf("; %s's streams copied %s of the time", linkDev, pct(link))
	}
	switch {
	case linkDev != "" && link >= 0.85:
		return fmt.Sprintf("copy-bound: %s's streams copied %s of the time; the readers keep up (reading %s, waiting for buffers %s)",
			linkDev, pct(link), pct(read), pct(s.Readers[phaseWaitBuffer]))
	case s.Readers[phaseWaitBuffer] >= 0.2:
		return fmt.Sprintf("buffer-bound: readers waited for a free staging buffer %s of their time%s: buffers come back late (copies queue, or their events are retired late); more or smaller buffers, or more streams", pct(s.Readers[phaseWaitBuffer]), links)
	case s.Readers[phaseWaitJob] >= 0.2:
		return fmt.Sprintf("feed-bound: readers waited for work %s of their time%s (device allocation, chunking, or too few chunks for the readers)", pct(s.Readers[phaseWaitJob]), links)
	case read >= 0.5:
		return fmt.Sprintf("read-bound: readers spent %s of their time filling buffers from the file%s: host reads (page cache or disk into staging) are the limit", pct(read), links)
	case s.ReadersIdle >= 0.3:
		return fmt.Sprintf("start-up-bound: readers were idle %s of their time (before their first job or after their last)%s", pct(s.ReadersIdle), links)
	}
	return fmt.Sprintf("mixed: readers read %s, issued %s, waited for buffers %s and for work %s of their time%s",
		pct(read), pct(s.Readers[phaseIssue]), pct(s.Readers[phaseWaitBuffer]), pct(s.Readers[phaseWaitJob]), links)
}

// String prints the summary as a small table (the phases that occur,
// in milliseconds) and the verdict.
func (s TimelineSummary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "load %.1f ms", float64(s.Elapsed)/1e6)
	if s.FirstCopy > 0 {
		fmt.Fprintf(&b, ", first chunk on a device after %.1f ms", float64(s.FirstCopy)/1e6)
	}
	var used []string
	for _, p := range phases {
		for _, l := range s.Lanes {
			if l.Phases[p] > 0 {
				used = append(used, p)
				break
			}
		}
	}
	fmt.Fprintf(&b, "\n%-18s %5s", "lane (ms)", "busy")
	for _, p := range used {
		fmt.Fprintf(&b, " %11s", p)
	}
	fmt.Fprintf(&b, " %9s\n", "idle")
	for _, l := range s.Lanes {
		fmt.Fprintf(&b, "%-18s %4.0f%%", l.Name, 100*l.Busy)
		for _, p := range used {
			fmt.Fprintf(&b, " %11.1f", float64(l.Phases[p])/1e6)
		}
		fmt.Fprintf(&b, " %9.1f\n", float64(l.Idle)/1e6)
	}
	for _, d := range slices.Sorted(maps.Keys(s.Devices)) {
		fmt.Fprintf(&b, "%s: streams copying %.0f%% of the load\n", d, 100*s.Devices[d])
	}
	fmt.Fprintf(&b, "verdict: %s\n", s.Verdict)
	return b.String()
}
