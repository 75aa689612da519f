package httprange

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stload/stload/loader"
)

// plainServer answers as `python3 -m http.server` does: status 200 and
// the whole file whatever the Range or If-Range, with a Last-Modified
// date (unless noValidators) and a Content-Length (unless chunked). The
// first cuts responses are broken off after half the body, and after
// switchAfter responses the file is replaced by other bytes of the same
// length with a later date.
type plainServer struct {
	*httptest.Server
	files        [2][]byte
	cuts         atomic.Int64
	switchAfter  int64
	noValidators bool
	chunked      bool
	served       atomic.Int64
	mu           sync.Mutex
	ranges       []string
}

func newPlainServer(t *testing.T, size int, setup func(s *plainServer)) *plainServer {
	s := &plainServer{switchAfter: 1 << 30}
	rng := rand.New(rand.NewPCG(uint64(size), 3))
	for v := range s.files {
		s.files[v] = make([]byte, size)
		for i := range s.files[v] {
			s.files[v][i] = byte(rng.Uint32())
		}
	}
	if setup != nil {
		setup(s)
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *plainServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	s.mu.Unlock()
	v := 0
	if s.served.Add(1) > s.switchAfter {
		v = 1
	}
	b := s.files[v]
	if !s.noValidators {
		w.Header().Set("Last-Modified", modOld.Add(time.Duration(v)*time.Minute).UTC().Format(http.TimeFormat))
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if !s.chunked {
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	}
	w.WriteHeader(http.StatusOK)
	if s.cuts.Add(-1) >= 0 {
		w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // breaks the connection
	}
	w.Write(b)
}

func (s *plainServer) requested() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...)
}

// progressLog records progress calls and checks that they only go
// forward.
type progressLog struct {
	t     *testing.T
	calls [][2]int64
}

func (p *progressLog) report(done, total int64) {
	if n := len(p.calls); n > 0 && (done < p.calls[n-1][0] || total != p.calls[n-1][1]) {
		p.t.Errorf("progress went from %v to %d/%d", p.calls[n-1], done, total)
	}
	p.calls = append(p.calls, [2]int64{done, total})
}

// TestDownload downloads from a server without range support, whole,
// and resumed after broken connections when its validator says the file
// is the same; a file that changed, or that has no validator to prove it
// did not, fails without mixing versions.
func TestDownload(t *testing.T) {
	const size = 3<<20 + 17
	for _, tc := range []struct {
		name     string
		setup    func(s *plainServer)
		kind     string // "" for success
		requests int
	}{
		{"whole", nil, "", 1},
		{"chunked", func(s *plainServer) { s.chunked = true }, "", 1},
		{"resumed", func(s *plainServer) { s.cuts.Store(2) }, "", 3},
		{"changed", func(s *plainServer) { s.cuts.Store(1); s.switchAfter = 1 }, "RemoteChanged", 2},
		{"no validators, whole", func(s *plainServer) { s.noValidators = true }, "", 1},
		{"no validators, cut", func(s *plainServer) { s.noValidators = true; s.cuts.Store(1) }, "IoError", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newPlainServer(t, size, tc.setup)
			var dst bytes.Buffer
			p := &progressLog{t: t}
			n, err := Download(remoteCtx(t), srv.URL+"/f?token=secret", &dst, p.report, remoteFast...)
			if n != int64(dst.Len()) || !bytes.Equal(dst.Bytes(), srv.files[0][:dst.Len()]) {
				t.Fatalf("returned %d, wrote %d bytes, of the first version: %v", n, dst.Len(), bytes.Equal(dst.Bytes(), srv.files[0][:dst.Len()]))
			}
			if got := len(srv.requested()); got != tc.requests {
				t.Errorf("%d requests, want %d", got, tc.requests)
			}
			if tc.kind != "" {
				var e *loader.Error
				if loader.Kind(err) != tc.kind || !errors.As(err, &e) || e.File != Redact(srv.URL+"/f?token=secret") {
					t.Fatalf("got %v (kind %q), want kind %s naming the file", err, loader.Kind(err), tc.kind)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error shows the query: %v", err)
				}
				t.Log(err)
				return
			}
			if err != nil || n != size {
				t.Fatalf("%d bytes, %v", n, err)
			}
			total := int64(size)
			if tc.name == "chunked" {
				total = -1
			}
			if len(p.calls) < 2 || p.calls[0] != [2]int64{0, total} || p.calls[len(p.calls)-1] != [2]int64{size, total} {
				t.Errorf("progress %v…%v, want from 0 to %d of %d", p.calls[0], p.calls[len(p.calls)-1], size, total)
			}
		})
	}
}

// TestDownloadResumeRange: a server with range support resumes a
// broken download from where it stopped, under If-Range.
func TestDownloadResumeRange(t *testing.T) {
	srv := newRemoteServer(t)
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte(i * 7)
	}
	u := srv.put("f", b)
	var cut atomic.Bool
	srv.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if cut.Swap(true) {
			return false
		}
		w.Header().Set("ETag", `"v0"`)
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.Write(b[:100_000])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	var dst bytes.Buffer
	n, err := Download(remoteCtx(t), u, &dst, nil, remoteFast...)
	if err != nil || n != int64(len(b)) || !bytes.Equal(dst.Bytes(), b) {
		t.Fatalf("%d bytes, %v", n, err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.ranges) != 2 || srv.ranges[0] != "" || srv.ranges[1] != "bytes=100000-" {
		t.Errorf("requests %q, want the whole file then bytes=100000-", srv.ranges)
	}
}

// TestDownloadFailures: statuses, validators required, a drip, a broken
// destination.
func TestDownloadFailures(t *testing.T) {
	srv := newRemoteServer(t)
	var dst bytes.Buffer
	_, err := Download(remoteCtx(t), srv.URL+"/missing", &dst, nil, remoteFast...)
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 404 || srv.requests.Load() != 1 {
		t.Errorf("got %v after %d requests, want one 404", err, srv.requests.Load())
	}

	plain := newPlainServer(t, 1000, func(s *plainServer) { s.noValidators = true })
	_, err = Download(remoteCtx(t), plain.URL+"/f", &dst, nil, fast(WithRequireValidators())...)
	if !errors.Is(err, ErrNoValidators) || dst.Len() != 0 {
		t.Errorf("got %v, %d bytes written; want ErrNoValidators and none", err, dst.Len())
	}

	b := make([]byte, 100_000)
	drip := dripServer(t, b, 20*time.Millisecond, true)
	start := time.Now()
	_, err = Download(context.Background(), drip.URL+"/f", io.Discard, nil, fast(WithTimeout(300*time.Millisecond))...)
	if !errors.Is(err, context.DeadlineExceeded) || loader.Kind(err) != "DeadlineExceeded" || time.Since(start) > 3*time.Second {
		t.Errorf("drip: %v after %v", err, time.Since(start))
	}

	broken := errors.New("disk full")
	_, err = Download(remoteCtx(t), plain.URL+"/f", failingWriter{broken}, nil, remoteFast...)
	if !errors.Is(err, broken) {
		t.Errorf("got %v, want the writer's error", err)
	}

	ctx, cancel := context.WithCancel(remoteCtx(t))
	cancel()
	if _, err := Download(ctx, plain.URL+"/f", &dst, nil, remoteFast...); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := Download(ctx, "ftp://x/y", &dst, nil); err == nil {
		t.Error("ftp URL accepted")
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// TestDownloadThroughputGuard: by default a download fails when it falls
// below the minimum throughput, counted from its start, and not before.
func TestDownloadThroughputGuard(t *testing.T) {
	var deadlines []time.Duration
	g := newPacer(time.Second, 1000, func() {})
	defer g.stop()
	for _, done := range []int64{0, 500, 5000} {
		g.progress(done)
		deadlines = append(deadlines, time.Until(g.deadline()))
	}
	// 1 s, then 1.5 s, then 6 s from the start.
	for i, want := range []time.Duration{time.Second, 1500 * time.Millisecond, 6 * time.Second} {
		if d := deadlines[i]; d > want || d < want-500*time.Millisecond {
			t.Errorf("deadline %d in %v, want about %v", i, d, want)
		}
	}
	// Too slow: 10 bytes in 50 ms at 1000 bytes/s are due by 60 ms.
	expired := make(chan time.Time, 2)
	start := time.Now()
	g = newPacer(50*time.Millisecond, 1000, func() { expired <- time.Now() })
	defer g.stop()
	g.progress(10)
	select {
	case at := <-expired:
		if d := at.Sub(start); d < 55*time.Millisecond {
			t.Errorf("expired after %v, before its deadline of 60ms", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a stalled transfer did not expire")
	}
}

// TestDownloadMemory streams 64 MiB and checks that memory does not grow
// with the file.
func TestDownloadMemory(t *testing.T) {
	const size = 64 << 20
	chunk := make([]byte, 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"big"`)
		w.Header().Set("Content-Length", fmt.Sprint(size))
		for range size / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	n, err := Download(remoteCtx(t), srv.URL+"/f", io.Discard, nil)
	runtime.ReadMemStats(&after)
	if err != nil || n != size {
		t.Fatalf("%d bytes, %v", n, err)
	}
	// The server's side allocates little too; a copy of the file would
	// be 64 MiB.
	if a := after.TotalAlloc - before.TotalAlloc; a > 8<<20 {
		t.Errorf("allocated %d bytes to stream %d", a, size)
	}
}
