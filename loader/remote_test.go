package loader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// remoteServer serves files from memory with range support
// (http.ServeContent), counts requests, and lets a test take over
// requests with a fault hook.
type remoteServer struct {
	*httptest.Server
	mu       sync.Mutex
	files    map[string][]byte
	etags    map[string]string
	modtime  time.Time
	hook     func(w http.ResponseWriter, r *http.Request) bool // true: handled
	requests atomic.Int64
	inFlight atomic.Int64
	peak     atomic.Int64
	ranges   []string // Range headers received, in order
}

func newRemoteServer(t *testing.T) *remoteServer {
	s := &remoteServer{files: map[string][]byte{}, etags: map[string]string{}, modtime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *remoteServer) put(name string, b []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[name] = b
	s.etags[name] = fmt.Sprintf(`"v%d"`, len(s.etags))
	return s.URL + "/" + name
}

func (s *remoteServer) setHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = h
}

func (s *remoteServer) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	hook := s.hook
	name := strings.TrimPrefix(r.URL.Path, "/")
	b, ok := s.files[name]
	etag := s.etags[name]
	s.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", etag)
	http.ServeContent(w, r, name, s.modtime, bytes.NewReader(b))
}

// reset clears the counters.
func (s *remoteServer) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests.Store(0)
	s.peak.Store(0)
	s.ranges = nil
}

// remoteFast keeps failing tests quick and bounded.
var remoteFast = &HTTPOptions{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, StallTimeout: 2 * time.Second}

func remoteCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestRemoteConformance opens every conformance file over HTTP and expects
// what the local file gives: the same tensors and bytes, or the same kind
// of error, with the header read in at most two requests.
func TestRemoteConformance(t *testing.T) {
	srv := newRemoteServer(t)
	for _, head := range []int64{0, 16} { // the default, and one that forces a second request
		for _, dir := range []string{"valid", "invalid"} {
			for _, c := range readCases(t, dir) {
				path := filepath.Join(conformance, dir, c.File)
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				u := srv.put(dir+"/"+c.File, b)
				t.Run(fmt.Sprintf("head%d/%s/%s", head, dir, c.File), func(t *testing.T) {
					local, lerr := Open(path)
					if lerr == nil {
						defer local.Close()
					}
					srv.reset()
					f, err := OpenURL(remoteCtx(t), u, &HTTPOptions{HeadSize: head})
					if n := srv.requests.Load(); n > 2 {
						t.Errorf("%d requests to open, want at most 2", n)
					}
					if lerr != nil {
						if Kind(err) != Kind(lerr) {
							t.Fatalf("remote: %v (kind %q), local: %v (kind %q)", err, Kind(err), lerr, Kind(lerr))
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					if f.Size() != local.Size() || f.HeaderSize() != local.HeaderSize() || f.Len() != local.Len() {
						t.Fatalf("size %d header %d tensors %d, want %d %d %d", f.Size(), f.HeaderSize(), f.Len(), local.Size(), local.HeaderSize(), local.Len())
					}
					for name := range local.Tensors() {
						lt, _ := local.Tensor(name)
						rt, err := f.Tensor(name)
						if err != nil {
							t.Fatal(err)
						}
						want, _ := lt.Bytes()
						got, err := rt.Bytes()
						if err != nil || !bytes.Equal(got, want) {
							t.Fatalf("tensor %q: %v, bytes differ: %v", name, err, !bytes.Equal(got, want))
						}
					}
				})
			}
		}
	}
}

// TestRemoteHeaderRequests counts requests for a header larger than the
// first request: exactly two, whatever the header's size.
func TestRemoteHeaderRequests(t *testing.T) {
	srv := newRemoteServer(t)
	for _, n := range []int{10, 3000, 20000} {
		tensors := ckptTensors(t, n, uint64(n))
		var buf bytes.Buffer
		if err := Save(&buf, tensors, nil); err != nil {
			t.Fatal(err)
		}
		u := srv.put(fmt.Sprintf("h%d.safetensors", n), buf.Bytes())
		srv.reset()
		f, err := OpenURL(remoteCtx(t), u, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := int64(1)
		if f.DataOffset() > DefaultHeadSize {
			want = 2
		}
		if got := srv.requests.Load(); got != want {
			t.Errorf("%d tensors (header %d bytes): %d requests, want %d", n, f.HeaderSize(), got, want)
		}
		srv.reset()
		f.Keys()
		f.Metadata()
		if got := srv.requests.Load(); got != 0 {
			t.Errorf("listing tensors made %d requests", got)
		}
		f.Close()
	}
}

// TestRemoteParts reads a large range in parts and checks the requests:
// one per part, no overlap, no more in flight than allowed.
func TestRemoteParts(t *testing.T) {
	srv := newRemoteServer(t)
	b, err := os.ReadFile(filepath.Join(conformance, "valid", "big_tensor.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	u := srv.put("big.safetensors", b)
	r, err := NewHTTPReaderAt(remoteCtx(t), u, &HTTPOptions{PartSize: 100_000, Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != int64(len(b)) {
		t.Fatalf("size %d, want %d", r.Size(), len(b))
	}
	srv.reset()
	// Slow responses make the overlap of parallel parts certain.
	srv.setHook(func(http.ResponseWriter, *http.Request) bool { time.Sleep(5 * time.Millisecond); return false })
	got := make([]byte, len(b))
	if n, err := r.ReadAt(got, 0); n != len(b) || err != nil {
		t.Fatalf("ReadAt: %d %v", n, err)
	}
	if !bytes.Equal(got, b) {
		t.Fatal("bytes differ")
	}
	rest := len(b) - DefaultHeadSize // the first request brought the head
	if want := int64((rest + 99_999) / 100_000); srv.requests.Load() != want {
		t.Errorf("%d requests, want %d", srv.requests.Load(), want)
	}
	if p := srv.peak.Load(); p != 3 {
		t.Errorf("peak of %d requests in flight, want 3", p)
	}
	srv.setHook(nil)
	// Reads past the end and at odd places behave as io.ReaderAt says.
	for _, tc := range []struct {
		off, n int
		err    error
	}{{len(b) - 10, 20, io.EOF}, {len(b), 1, io.EOF}, {len(b), 0, nil}, {12345, 777777, nil}, {DefaultHeadSize - 5, 10, nil}} {
		p := make([]byte, tc.n)
		n, err := r.ReadAt(p, int64(tc.off))
		want := min(tc.n, len(b)-tc.off)
		if n != want || err != tc.err || !bytes.Equal(p[:n], b[tc.off:tc.off+n]) {
			t.Errorf("ReadAt(%d bytes at %d) = %d, %v; want %d, %v", tc.n, tc.off, n, err, want, tc.err)
		}
	}
	if _, err := r.ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("negative offset accepted")
	}
}

// remoteRangeOf parses the request's "bytes=a-b".
func remoteRangeOf(r *http.Request) (int64, int64) {
	v := strings.TrimPrefix(r.Header.Get("Range"), "bytes=")
	a, b, _ := strings.Cut(v, "-")
	s, _ := strconv.ParseInt(a, 10, 64)
	e, _ := strconv.ParseInt(b, 10, 64)
	return s, e
}

// remoteFaults are ways for a server to misbehave on one request.
var remoteFaults = map[string]func(b []byte) func(w http.ResponseWriter, r *http.Request){
	"503": func([]byte) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }
	},
	"500": func([]byte) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) { http.Error(w, "oops", http.StatusInternalServerError) }
	},
	"429 retry-after": func([]byte) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	},
	"reset": func([]byte) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0) // a reset, not a clean close
			}
			conn.Close()
		}
	},
	"short body": func(b []byte) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			s, e := remoteRangeOf(r)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", s, e, len(b)))
			w.Header().Set("Content-Length", fmt.Sprint(e-s+1))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(b[s : s+(e-s+1)/2])
		}
	},
	"wrong range": func(b []byte) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			s, e := remoteRangeOf(r)
			s, e = s-1, e-1
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", s, e, len(b)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(b[s : e+1])
		}
	},
	"wrong length": func(b []byte) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			s, e := remoteRangeOf(r)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", s, e, len(b)))
			w.Header().Set("Content-Length", fmt.Sprint(e-s))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(b[s:e])
		}
	},
	"stall": func(b []byte) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			s, e := remoteRangeOf(r)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", s, e, len(b)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(b[s : s+1])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	},
}

// TestRemoteFlaky makes the server fail the first requests of a read in
// each way and expects the read to succeed when the failures stop within
// the retry budget, and to fail cleanly, without hanging, when they do
// not.
func TestRemoteFlaky(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(conformance, "valid", "big_tensor.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for name, fault := range remoteFaults {
		for _, failures := range []int{2, 100} {
			t.Run(fmt.Sprintf("%s/%d", name, failures), func(t *testing.T) {
				srv := newRemoteServer(t)
				u := srv.put("big.safetensors", b)
				opts := *remoteFast
				opts.PartSize, opts.MaxRetries = 1<<20, 3
				if name == "stall" {
					opts.StallTimeout = 50 * time.Millisecond
				}
				f, err := OpenURL(remoteCtx(t), u, &opts)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				var left atomic.Int64
				left.Store(int64(failures))
				h := fault(b)
				srv.setHook(func(w http.ResponseWriter, r *http.Request) bool {
					if left.Add(-1) < 0 {
						return false
					}
					h(w, r)
					return true
				})
				srv.reset()
				start := time.Now()
				got := make([]byte, len(b)-DefaultHeadSize)
				n, err := f.ReadAt(got, DefaultHeadSize)
				if time.Since(start) > 10*time.Second {
					t.Errorf("read took %v", time.Since(start))
				}
				if failures <= opts.MaxRetries {
					if err != nil || n != len(got) || !bytes.Equal(got, b[DefaultHeadSize:]) {
						t.Fatalf("after %d failures: %d bytes, %v", failures, n, err)
					}
					return
				}
				t.Log(err)
				var e *Error
				if !errors.As(err, &e) || e.File == "" {
					t.Fatalf("got %v, want an *Error naming the file", err)
				}
				if !errors.Is(err, ErrIO) && !errors.Is(err, ErrRemoteChanged) {
					t.Errorf("kind %q", Kind(err))
				}
			})
		}
	}
}

// TestRemotePermanent: statuses that will not change are not retried.
func TestRemotePermanent(t *testing.T) {
	srv := newRemoteServer(t)
	srv.reset()
	_, err := OpenURL(remoteCtx(t), srv.URL+"/nope.safetensors", remoteFast)
	var he *HTTPError
	if !errors.Is(err, ErrIO) || !errors.As(err, &he) || he.StatusCode != 404 {
		t.Errorf("got %v, want a 404 HTTPError", err)
	}
	if n := srv.requests.Load(); n != 1 {
		t.Errorf("%d requests for a 404, want 1", n)
	}
	srv.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	srv.reset()
	_, err = OpenURL(remoteCtx(t), srv.URL+"/x", remoteFast)
	if !errors.As(err, &he) || he.StatusCode != 503 || srv.requests.Load() != int64(DefaultMaxRetries+1) {
		t.Errorf("got %v after %d requests, want 503 after %d", err, srv.requests.Load(), DefaultMaxRetries+1)
	}
	if _, err := OpenURL(remoteCtx(t), "ftp://example.com/x", nil); !errors.Is(err, ErrIO) {
		t.Errorf("ftp URL: %v", err)
	}
}

// TestRemoteIgnoresRange: a server that always answers 200 with the whole
// file is refused without reading the body, unless the file is no longer
// than the first request asked for.
func TestRemoteIgnoresRange(t *testing.T) {
	srv := newRemoteServer(t)
	big := make([]byte, 8<<20)
	var sent atomic.Int64
	srv.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		name := strings.TrimPrefix(r.URL.Path, "/")
		b := big
		if name == "small" {
			var buf bytes.Buffer
			Save(&buf, ckptTensors(t, 3, 1), nil)
			b = buf.Bytes()
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		for i := 0; i < len(b); i += 1 << 16 {
			k, err := w.Write(b[i:min(i+1<<16, len(b))])
			sent.Add(int64(k))
			if err != nil {
				return true
			}
		}
		return true
	})
	start := time.Now()
	_, err := OpenURL(remoteCtx(t), srv.URL+"/big", remoteFast)
	if !errors.Is(err, ErrRangeUnsupported) {
		t.Fatalf("got %v, want ErrRangeUnsupported", err)
	}
	t.Log(err)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	time.Sleep(50 * time.Millisecond)
	if s := sent.Load(); s >= int64(len(big)) {
		t.Errorf("the server sent the whole body (%d bytes)", s)
	}
	f, err := OpenURL(remoteCtx(t), srv.URL+"/small", remoteFast)
	if err != nil {
		t.Fatalf("small file over 200: %v", err)
	}
	f.Close()

	// Ranges honoured at first, then not.
	srv.setHook(nil)
	b, _ := os.ReadFile(filepath.Join(conformance, "valid", "big_tensor.safetensors"))
	u := srv.put("big.safetensors", b)
	f, err = OpenURL(remoteCtx(t), u, remoteFast)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	srv.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b)
		return true
	})
	if _, err := f.ReadAt(make([]byte, 1000), 1<<20); !errors.Is(err, ErrRangeUnsupported) {
		t.Errorf("got %v, want ErrRangeUnsupported", err)
	}
}

// TestRemoteChanged replaces the file between the open and a read.
func TestRemoteChanged(t *testing.T) {
	b, _ := os.ReadFile(filepath.Join(conformance, "valid", "big_tensor.safetensors"))
	changes := map[string]func(s *remoteServer){
		"etag": func(s *remoteServer) { s.put("f", b) }, // new ETag, same bytes
		"last-modified": func(s *remoteServer) {
			s.mu.Lock()
			s.modtime = s.modtime.Add(time.Hour)
			s.etags["f"] = ""
			s.mu.Unlock()
		},
		"length": func(s *remoteServer) {
			s.mu.Lock()
			s.files["f"] = append(slices.Clone(b), 0)
			s.etags["f"] = ""
			s.mu.Unlock()
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			srv := newRemoteServer(t)
			u := srv.put("f", b)
			f, err := OpenURL(remoteCtx(t), u, remoteFast)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			change(srv)
			srv.reset()
			_, err = f.ReadAt(make([]byte, 300_000), 1<<20)
			if !errors.Is(err, ErrRemoteChanged) {
				t.Fatalf("got %v, want ErrRemoteChanged", err)
			}
			t.Log(err)
			if n := srv.requests.Load(); n != 1 {
				t.Errorf("%d requests, want 1: a change is not retried", n)
			}
		})
	}
}

// TestRemoteConcurrent reads every tensor from many goroutines at once;
// run with -race.
func TestRemoteConcurrent(t *testing.T) {
	srv := newRemoteServer(t)
	tensors := ckptTensors(t, 60, 11)
	var buf bytes.Buffer
	if err := Save(&buf, tensors, nil); err != nil {
		t.Fatal(err)
	}
	u := srv.put("m.safetensors", buf.Bytes())
	f, err := OpenURL(remoteCtx(t), u, &HTTPOptions{HeadSize: 64, PartSize: 16, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 0))
			keys := f.Keys()
			r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			for _, name := range keys {
				tensor, err := f.Tensor(name)
				if err != nil {
					t.Error(err)
					return
				}
				b, err := tensor.Bytes()
				if err != nil || !bytes.Equal(b, tensors[name].Bytes) {
					t.Errorf("%s: %v", name, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if p := srv.peak.Load(); p > 4 {
		t.Errorf("%d requests in flight, limit 4", p)
	}
}

// TestRemoteCopy streams a remote file into a local one through
// SourceOf, in few large requests.
func TestRemoteCopy(t *testing.T) {
	srv := newRemoteServer(t)
	path := filepath.Join(conformance, "valid", "big_tensor.safetensors")
	b, _ := os.ReadFile(path)
	f, err := OpenURL(remoteCtx(t), srv.put("big.safetensors", b), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := single(f)
	srv.reset()
	out := filepath.Join(t.TempDir(), "copy.safetensors")
	if err := SaveSources(remoteCtx(t), out, c.Sources(), f.Metadata()); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, b) {
		t.Error("copy differs")
	}
	// The 3 MiB tensor (less the first 64 KiB) is one 8 MiB part: one
	// request, not one per 1 MiB copy buffer.
	if n := srv.requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// TestRemoteAbort ends a read that waits on a stalled server, by closing
// the HTTPReaderAt or by cancelling the context a File was opened with
// (File.Close waits for reads in progress).
func TestRemoteAbort(t *testing.T) {
	srv := newRemoteServer(t)
	b, _ := os.ReadFile(filepath.Join(conformance, "valid", "big_tensor.safetensors"))
	u := srv.put("f", b)
	stall := func(w http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done()
		return true
	}
	blocked := func(t *testing.T, read func() error, abort func(), want error) {
		t.Helper()
		done := make(chan error)
		go func() { done <- read() }()
		time.Sleep(50 * time.Millisecond)
		abort()
		select {
		case err := <-done:
			if !errors.Is(err, want) {
				t.Errorf("got %v, want %v", err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("read still blocked")
		}
	}

	srv.setHook(nil)
	r, err := NewHTTPReaderAt(remoteCtx(t), u, &HTTPOptions{StallTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv.setHook(stall)
	blocked(t, func() error { _, err := r.ReadAt(make([]byte, 1000), 1<<20); return err }, func() { r.Close() }, ErrClosed)
	if _, err := r.ReadAt(make([]byte, 10), 1<<20); !errors.Is(err, ErrClosed) {
		t.Errorf("read after Close: %v", err)
	}

	srv.setHook(nil)
	ctx, cancel := context.WithCancel(remoteCtx(t))
	f, err := OpenURL(ctx, u, &HTTPOptions{StallTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv.setHook(stall)
	blocked(t, func() error { _, err := f.ReadAt(make([]byte, 1000), 1<<20); return err }, cancel, context.Canceled)
	f.Close()
	if _, err := f.ReadAt(make([]byte, 10), 1<<20); !errors.Is(err, ErrClosed) {
		t.Errorf("read after Close: %v", err)
	}
}

// TestRemoteRedacted: errors do not repeat a URL's query or password.
func TestRemoteRedacted(t *testing.T) {
	srv := newRemoteServer(t)
	u := strings.Replace(srv.URL, "http://", "http://user:hunter2@", 1) + "/missing?X-Amz-Signature=secret"
	_, err := OpenURL(remoteCtx(t), u, remoteFast)
	if err == nil || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v", err)
	}
	t.Log(err)
}

// TestRemoteCheckpoint serves a shard set over HTTP.
func TestRemoteCheckpoint(t *testing.T) {
	srv := newRemoteServer(t)
	tensors := ckptTensors(t, 25, 12)
	dir := t.TempDir()
	ckptGoodSet(tensors, 3).write(t, dir)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		srv.put("org/model/resolve/main/"+e.Name(), b)
	}
	base := srv.URL + "/org/model/resolve/main/"
	c, err := OpenCheckpointURL(remoteCtx(t), base+DefaultIndexName, remoteFast)
	if err != nil {
		t.Fatal(err)
	}
	ckptCheckTensors(t, c, tensors)
	if got := c.Shards()[1].Name(); got != base+"model-00002-of-00003.safetensors" {
		t.Errorf("shard name %s", got)
	}
	// Merging the remote shards into one local file (convert from a URL)
	// gives what Save writes; these shards are small enough for their
	// first request to have brought them whole.
	srv.reset()
	merged := filepath.Join(t.TempDir(), "merged.safetensors")
	if err := SaveSources(remoteCtx(t), merged, c.Sources(), nil); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	Save(&want, tensors, nil)
	if got, _ := os.ReadFile(merged); !bytes.Equal(got, want.Bytes()) {
		t.Error("merged file differs from Save's output")
	}
	if n := srv.requests.Load(); n != 0 {
		t.Errorf("%d requests for tensors the first requests already brought", n)
	}
	c.Close()

	// A single file.
	c, err = OpenCheckpointURL(remoteCtx(t), base+"model-00001-of-00003.safetensors", remoteFast)
	if err != nil || c.Len() != 9 || c.Sharded() {
		t.Fatalf("single file: %v", err)
	}
	c.Close()

	// A missing shard, and a name that leaves the directory: the latter
	// must not be requested at all.
	srv.mu.Lock()
	delete(srv.files, "org/model/resolve/main/model-00003-of-00003.safetensors")
	srv.mu.Unlock()
	_, err = OpenCheckpointURL(remoteCtx(t), base+DefaultIndexName, remoteFast)
	ckptCheckErr(t, err, ErrShardMissing, "model-00003-of-00003.safetensors", "")

	srv.put("org/model/resolve/evil.safetensors", ckptMust(os.ReadFile(filepath.Join(dir, "model-00001-of-00003.safetensors"))))
	srv.put("org/model/resolve/main/bad.index.json", []byte(`{"weight_map": {"x": "../evil.safetensors"}}`))
	srv.reset()
	_, err = OpenCheckpointURL(remoteCtx(t), base+"bad.index.json", remoteFast)
	ckptCheckErr(t, err, ErrInsecurePath, "bad.index.json", "x")
	for _, r := range srv.ranges {
		if r != "bytes=0-65535" {
			t.Errorf("request %q beyond the index", r)
		}
	}
}
