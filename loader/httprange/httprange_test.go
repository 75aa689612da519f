package httprange

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
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

// validators sets the ETag and Last-Modified the server sends with a
// file.
func (s *remoteServer) validators(h http.Header, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h.Set("ETag", s.etags[name])
	h.Set("Last-Modified", s.modtime.UTC().Format(http.TimeFormat))
}

// reset clears the counters.
func (s *remoteServer) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests.Store(0)
	s.peak.Store(0)
	s.ranges = nil
}

// withBackoff and withHeadSize set what the package's options leave at
// their defaults: the waits between retries, and the first request's
// length.
func withBackoff(lo, hi time.Duration) Option {
	return func(c *config) { c.minBackoff, c.maxBackoff = lo, hi }
}

func withHeadSize(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.headSize = n
		}
	}
}

// remoteFast keeps failing tests quick and bounded.
var remoteFast = []Option{withBackoff(time.Millisecond, 5*time.Millisecond), WithStallTimeout(2 * time.Second)}

// fast returns remoteFast and opts.
func fast(opts ...Option) []Option { return append(slices.Clone(remoteFast), opts...) }

// openFile opens the safetensors file at u through a Reader, which it
// closes at the end of the test.
func openFile(t *testing.T, ctx context.Context, u string, opts ...Option) (*loader.File, error) {
	r, err := Open(ctx, u, opts...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { r.Close() })
	return loader.NewReader(r, r.Size())
}

const conformance = "../../testdata/conformance"

// readCases returns the file names listed in a conformance directory.
func readCases(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(conformance, dir, "cases.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for line := range strings.Lines(string(b)) {
		var c struct{ File string }
		if strings.TrimSpace(line) == "" {
			continue
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatal(err)
		}
		names = append(names, c.File)
	}
	return names
}

// someTensors returns n tensors of seeded random bytes as a safetensors
// file, and the tensors.
func someTensors(t *testing.T, n int, seed uint64) ([]byte, map[string][]byte) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	specs := make([]loader.Spec, n)
	want := make(map[string][]byte, n)
	for i := range specs {
		specs[i] = loader.Spec{Name: fmt.Sprintf("t%03d", i), DType: dtype.U8, Shape: []uint64{uint64(1 + rng.IntN(300))}}
		b := make([]byte, specs[i].Shape[0])
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		want[specs[i].Name] = b
	}
	var buf bytes.Buffer
	w, err := loader.NewWriter(&buf, specs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range w.Tensors() {
		w.Write(want[s.Name])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), want
}

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
			for _, file := range readCases(t, dir) {
				path := filepath.Join(conformance, dir, file)
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				u := srv.put(dir+"/"+file, b)
				t.Run(fmt.Sprintf("head%d/%s/%s", head, dir, file), func(t *testing.T) {
					local, lerr := loader.Open(path)
					if lerr == nil {
						defer local.Close()
					}
					srv.reset()
					f, err := openFile(t, remoteCtx(t), u, withHeadSize(head))
					if n := srv.requests.Load(); n > 2 {
						t.Errorf("%d requests to open, want at most 2", n)
					}
					if lerr != nil {
						if loader.Kind(err) != loader.Kind(lerr) {
							t.Fatalf("remote: %v (kind %q), local: %v (kind %q)", err, loader.Kind(err), lerr, loader.Kind(lerr))
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					if f.Size() != local.Size() || f.HeaderSize() != local.HeaderSize() || f.Name() != Redact(u) {
						t.Fatalf("size %d header %d name %s, want %d %d %s", f.Size(), f.HeaderSize(), f.Name(), local.Size(), local.HeaderSize(), Redact(u))
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
		b, _ := someTensors(t, n, uint64(n))
		u := srv.put(fmt.Sprintf("h%d.safetensors", n), b)
		srv.reset()
		f, err := openFile(t, remoteCtx(t), u)
		if err != nil {
			t.Fatal(err)
		}
		want := int64(1)
		if 8+f.HeaderSize() > defaultHeadSize {
			want = 2
		}
		if got := srv.requests.Load(); got != want {
			t.Errorf("%d tensors (header %d bytes): %d requests, want %d", n, f.HeaderSize(), got, want)
		}
		srv.reset()
		for range f.Tensors() {
		}
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
	r, err := Open(remoteCtx(t), u, WithPartSize(100_000), WithConcurrency(3))
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
	rest := len(b) - defaultHeadSize // the first request brought the head
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
	}{{len(b) - 10, 20, io.EOF}, {len(b), 1, io.EOF}, {len(b), 0, nil}, {12345, 777777, nil}, {defaultHeadSize - 5, 10, nil}} {
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
				const retries = 3
				opts := fast(WithPartSize(1<<20), WithRetries(retries))
				if name == "stall" {
					opts = append(opts, WithStallTimeout(50*time.Millisecond))
				}
				f, err := openFile(t, remoteCtx(t), u, opts...)
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
					srv.validators(w.Header(), "big.safetensors") // the same file, failing otherwise
					h(w, r)
					return true
				})
				srv.reset()
				start := time.Now()
				got := make([]byte, len(b)-defaultHeadSize)
				n, err := f.ReadAt(got, defaultHeadSize)
				if time.Since(start) > 10*time.Second {
					t.Errorf("read took %v", time.Since(start))
				}
				if failures <= retries {
					if err != nil || n != len(got) || !bytes.Equal(got, b[defaultHeadSize:]) {
						t.Fatalf("after %d failures: %d bytes, %v", failures, n, err)
					}
					return
				}
				t.Log(err)
				var e *loader.Error
				if !errors.As(err, &e) || e.File != Redact(u) {
					t.Fatalf("got %v, want an *Error naming the file", err)
				}
				if k := loader.Kind(err); k != "IoError" && k != "RemoteChanged" {
					t.Errorf("kind %q", k)
				}
			})
		}
	}
}

// TestRemotePermanent: statuses that will not change are not retried.
func TestRemotePermanent(t *testing.T) {
	srv := newRemoteServer(t)
	srv.reset()
	_, err := Open(remoteCtx(t), srv.URL+"/nope.safetensors", remoteFast...)
	var he *StatusError
	if loader.Kind(err) != "IoError" || !errors.As(err, &he) || he.StatusCode != 404 {
		t.Errorf("got %v, want a 404 StatusError", err)
	}
	if n := srv.requests.Load(); n != 1 {
		t.Errorf("%d requests for a 404, want 1", n)
	}
	srv.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	srv.reset()
	_, err = Open(remoteCtx(t), srv.URL+"/x", remoteFast...)
	if !errors.As(err, &he) || he.StatusCode != 503 || srv.requests.Load() != int64(defaultRetries+1) {
		t.Errorf("got %v after %d requests, want 503 after %d", err, srv.requests.Load(), defaultRetries+1)
	}
	if _, err := Open(remoteCtx(t), "ftp://example.com/x"); loader.Kind(err) != "IoError" {
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
			b, _ = someTensors(t, 3, 1)
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
	_, err := Open(remoteCtx(t), srv.URL+"/big", remoteFast...)
	if !errors.Is(err, ErrRangeUnsupported) || !strings.Contains(err.Error(), "WithDownloadFallback") {
		t.Fatalf("got %v, want ErrRangeUnsupported saying what to do", err)
	}
	t.Log(err)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	time.Sleep(50 * time.Millisecond)
	if s := sent.Load(); s >= int64(len(big)) {
		t.Errorf("the server sent the whole body (%d bytes)", s)
	}
	f, err := openFile(t, remoteCtx(t), srv.URL+"/small", remoteFast...)
	if err != nil {
		t.Fatalf("small file over 200: %v", err)
	}
	f.Close()

	// Ranges honoured at first, then not.
	srv.setHook(nil)
	b, _ := os.ReadFile(filepath.Join(conformance, "valid", "big_tensor.safetensors"))
	u := srv.put("big.safetensors", b)
	f, err = openFile(t, remoteCtx(t), u, remoteFast...)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The whole file again, of the same version (the same validators):
	// ranges are no longer supported. A whole file of another version,
	// or one whose ETag is gone, is a change.
	for _, etag := range []string{"same", "", `"v9"`} {
		srv.setHook(func(w http.ResponseWriter, r *http.Request) bool {
			srv.validators(w.Header(), "big.safetensors")
			if etag != "same" {
				w.Header().Set("ETag", etag)
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.WriteHeader(http.StatusOK)
			w.Write(b)
			return true
		})
		want := ErrRemoteChanged
		if etag == "same" {
			want = ErrRangeUnsupported
		}
		if _, err := f.ReadAt(make([]byte, 1000), 1<<20); !errors.Is(err, want) {
			t.Errorf("ETag %s: got %v, want %v", etag, err, want)
		}
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
			f, err := openFile(t, remoteCtx(t), u, remoteFast...)
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
	b, tensors := someTensors(t, 60, 11)
	u := srv.put("m.safetensors", b)
	f, err := openFile(t, remoteCtx(t), u, withHeadSize(64), WithPartSize(16), WithConcurrency(4))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 0))
			var keys []string
			for name := range f.Tensors() {
				keys = append(keys, name)
			}
			r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			for _, name := range keys {
				tensor, err := f.Tensor(name)
				if err != nil {
					t.Error(err)
					return
				}
				b, err := tensor.Bytes()
				if err != nil || !bytes.Equal(b, tensors[name]) {
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

// TestRemoteAbort ends a read that waits on a stalled server by closing
// the Reader, directly or under a File, and checks that the context given
// to Open bounds only Open: cancelling it later does not fail reads.
func TestRemoteAbort(t *testing.T) {
	srv := newRemoteServer(t)
	b, _ := os.ReadFile(filepath.Join(conformance, "valid", "big_tensor.safetensors"))
	u := srv.put("f", b)
	stall := func(w http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done()
		return true
	}
	blocked := func(t *testing.T, read func() error, abort func()) {
		t.Helper()
		done := make(chan error)
		go func() { done <- read() }()
		time.Sleep(50 * time.Millisecond)
		abort()
		select {
		case err := <-done:
			if !errors.Is(err, fs.ErrClosed) || loader.Kind(err) != "Closed" {
				t.Errorf("got %v, want fs.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("read still blocked")
		}
	}

	srv.setHook(nil)
	ctx, cancel := context.WithCancel(remoteCtx(t))
	r, err := Open(ctx, u, WithStallTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	got := make([]byte, 1000)
	if _, err := r.ReadAt(got, 1<<20); err != nil || !bytes.Equal(got, b[1<<20:1<<20+1000]) {
		t.Fatalf("read after the open's context ended: %v", err)
	}
	srv.setHook(stall)
	blocked(t, func() error { _, err := r.ReadAt(make([]byte, 1000), 1<<20); return err }, func() { r.Close() })
	for _, off := range []int64{1 << 20, 0} { // past the head, and inside it
		if _, err := r.ReadAt(make([]byte, 10), off); !errors.Is(err, fs.ErrClosed) {
			t.Errorf("read at %d after Close: %v", off, err)
		}
	}

	srv.setHook(nil)
	r, err = Open(remoteCtx(t), u, WithStallTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	f, err := loader.NewReader(r, r.Size())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	srv.setHook(stall)
	blocked(t, func() error { _, err := f.ReadAt(make([]byte, 1000), 1<<20); return err }, func() { r.Close() })
}

// TestRemoteRedacted: errors do not repeat a URL's query or password.
func TestRemoteRedacted(t *testing.T) {
	srv := newRemoteServer(t)
	u := strings.Replace(srv.URL, "http://", "http://user:hunter2@", 1) + "/missing?X-Amz-Signature=secret"
	_, err := Open(remoteCtx(t), u, remoteFast...)
	if err == nil || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v", err)
	}
	t.Log(err)
	if got := Redact(u); strings.Contains(got, "secret") || strings.Contains(got, "hunter2") || !strings.HasSuffix(got, "/missing?…") {
		t.Errorf("Redact gives %s", got)
	}
	for _, s := range []string{"http://x/a", "https://x/a"} {
		if !IsURL(s) {
			t.Errorf("IsURL(%q) is false", s)
		}
	}
	for _, s := range []string{"/x/a", "x.safetensors", "ftp://x/a", "httpx://y"} {
		if IsURL(s) {
			t.Errorf("IsURL(%q) is true", s)
		}
	}
}
