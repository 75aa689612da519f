package httprange

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// versionServer serves a file that is replaced by a second version of
// different bytes after a number of requests, with the validators a test
// chooses for each version. It honours Range and If-Range as
// http.ServeContent does, or ignores If-Range.
type versionServer struct {
	*httptest.Server
	files    [2][]byte
	headers  func(version int, h http.Header) time.Time // sets the validators; returns the Last-Modified time, or zero for none
	ignoreIf bool                                       // ignore If-Range (answer the range whatever the validator)
	after    int64                                      // requests served from version 0
	served   atomic.Int64
	mu       sync.Mutex
	ifRange  []string // If-Range of every request, in order
}

func newVersionServer(t *testing.T, size int, after int64, headers func(int, http.Header) time.Time, ignoreIf bool) *versionServer {
	return newVersionServerOf(t, size, after, headers, ignoreIf, false)
}

// newVersionServerOf is newVersionServer, with a second version of the
// same bytes when same is set.
func newVersionServerOf(t *testing.T, size int, after int64, headers func(int, http.Header) time.Time, ignoreIf, same bool) *versionServer {
	s := &versionServer{headers: headers, ignoreIf: ignoreIf, after: after}
	rng := rand.New(rand.NewPCG(uint64(size), 7))
	for v := range s.files {
		s.files[v] = make([]byte, size)
		for i := range s.files[v] {
			s.files[v][i] = byte(rng.Uint32())
		}
	}
	if same {
		s.files[1] = s.files[0]
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := 0
		if s.served.Add(1) > s.after {
			v = 1
		}
		s.mu.Lock()
		s.ifRange = append(s.ifRange, r.Header.Get("If-Range"))
		s.mu.Unlock()
		if s.ignoreIf {
			r.Header.Del("If-Range")
		}
		mod := s.headers(v, w.Header())
		http.ServeContent(w, r, "", mod, bytes.NewReader(s.files[v]))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *versionServer) conditions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ifRange...)
}

// Last-Modified dates: an hour ago, well before the response's Date and
// so a strong validator, a minute later, and one in the future, which is
// not strong.
var (
	modOld    = time.Now().Add(-time.Hour).Truncate(time.Second)
	modNew    = modOld.Add(time.Minute)
	modFuture = time.Now().Add(time.Hour).Truncate(time.Second)
)

// validatorCases are ways for the validators to go from the first
// version to the second, and the If-Range the reads must send.
var validatorCases = []struct {
	name    string
	headers func(v int, h http.Header) time.Time
	ifRange string // what later requests must send as If-Range
}{
	{"etag changes", func(v int, h http.Header) time.Time {
		h.Set("ETag", fmt.Sprintf(`"v%d"`, v))
		return time.Time{}
	}, `"v0"`},
	{"etag disappears", func(v int, h http.Header) time.Time {
		if v == 0 {
			h.Set("ETag", `"v0"`)
		}
		return time.Time{}
	}, `"v0"`},
	{"etag disappears, last-modified stays", func(v int, h http.Header) time.Time {
		if v == 0 {
			h.Set("ETag", `"v0"`)
		}
		return modOld
	}, `"v0"`},
	{"etag appears", func(v int, h http.Header) time.Time {
		if v == 1 {
			h.Set("ETag", `"v1"`)
		}
		return modOld
	}, modOld.UTC().Format(http.TimeFormat)},
	{"weak etag changes", func(v int, h http.Header) time.Time {
		h.Set("ETag", fmt.Sprintf(`W/"v%d"`, v))
		return modOld
	}, ""}, // a weak ETag may not be sent, nor a date beside it
	{"weak etag disappears", func(v int, h http.Header) time.Time {
		if v == 0 {
			h.Set("ETag", `W/"v0"`)
		}
		return time.Time{}
	}, ""},
	{"last-modified changes", func(v int, h http.Header) time.Time {
		return []time.Time{modOld, modNew}[v]
	}, modOld.UTC().Format(http.TimeFormat)},
	{"last-modified disappears", func(v int, h http.Header) time.Time {
		return []time.Time{modOld, {}}[v]
	}, modOld.UTC().Format(http.TimeFormat)},
	{"last-modified too recent to be strong", func(v int, h http.Header) time.Time {
		return []time.Time{modFuture, {}}[v]
	}, ""},
}

// TestRemoteValidators replaces the file in the middle of a read of
// several parts, with servers that honour If-Range and servers that
// ignore it: the read fails with ErrRemoteChanged, and the bytes it
// reports are all of the first version.
func TestRemoteValidators(t *testing.T) {
	const part, size = 64 << 10, 1 << 20
	for _, tc := range validatorCases {
		for _, ignore := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/ignoreIfRange=%v", tc.name, ignore), func(t *testing.T) {
				// The first request and two parts come from version 0.
				srv := newVersionServer(t, size, 3, tc.headers, ignore)
				r, err := Open(remoteCtx(t), srv.URL+"/f", fast(WithPartSize(part), WithConcurrency(1))...)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				if r.Validator() == "" {
					t.Error("Validator() is empty for a server that sends validators")
				}
				p := make([]byte, 6*part)
				n, err := r.ReadAt(p, defaultHeadSize)
				if !errors.Is(err, ErrRemoteChanged) || loader.Kind(err) != "RemoteChanged" {
					t.Fatalf("got %d bytes, %v (kind %q); want ErrRemoteChanged", n, err, loader.Kind(err))
				}
				t.Log(err)
				if n != 2*part || !bytes.Equal(p[:n], srv.files[0][defaultHeadSize:defaultHeadSize+n]) {
					t.Errorf("read reports %d bytes (want %d), of the first version: %v", n, 2*part,
						bytes.Equal(p[:n], srv.files[0][defaultHeadSize:defaultHeadSize+n]))
				}
				conds := srv.conditions()
				if conds[0] != "" {
					t.Errorf("the first request sent If-Range %q", conds[0])
				}
				for i, c := range conds[1:] {
					if c != tc.ifRange {
						t.Errorf("request %d sent If-Range %q, want %q", i+2, c, tc.ifRange)
					}
				}
				// Nothing more is read from a changed file.
				if _, err := r.ReadAt(p[:10], defaultHeadSize); !errors.Is(err, ErrRemoteChanged) {
					t.Errorf("read after the change: %v", err)
				}
			})
		}
	}
}

// TestRemoteValidatorKept: a Last-Modified that disappears while the
// ETag stays is the same file; a server that answers If-Range with the
// whole file of the same version does not support ranges.
func TestRemoteValidatorKept(t *testing.T) {
	srv := newVersionServerOf(t, 1<<20, 1, func(v int, h http.Header) time.Time {
		h.Set("ETag", `"same"`)
		return []time.Time{modOld, {}}[v]
	}, false, true)
	r, err := Open(remoteCtx(t), srv.URL+"/f", fast(WithPartSize(64<<10))...)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := make([]byte, 300_000)
	if n, err := r.ReadAt(p, 100_000); err != nil || !bytes.Equal(p[:n], srv.files[0][100_000:100_000+n]) {
		t.Fatalf("%d bytes, %v", n, err)
	}

	whole := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"same"`)
		if r.Header.Get("If-Range") != "" {
			r.Header.Del("Range") // ranges only without a condition
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(srv.files[0]))
	}))
	defer whole.Close()
	r, err = Open(remoteCtx(t), whole.URL+"/f", remoteFast...)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.ReadAt(p, 100_000); !errors.Is(err, ErrRangeUnsupported) {
		t.Errorf("got %v, want ErrRangeUnsupported", err)
	}
}

// TestRemoteNoValidators: a server that sends neither ETag nor
// Last-Modified works, but says so through Validator, and
// WithRequireValidators refuses it.
func TestRemoteNoValidators(t *testing.T) {
	srv := newVersionServer(t, 200_000, 1<<30, func(int, http.Header) time.Time { return time.Time{} }, false)
	r, err := Open(remoteCtx(t), srv.URL+"/f", remoteFast...)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if v := r.Validator(); v != "" {
		t.Errorf("Validator() = %q, want empty", v)
	}
	p := make([]byte, 100_000)
	if _, err := r.ReadAt(p, 100_000); err != nil || !bytes.Equal(p, srv.files[0][100_000:]) {
		t.Fatalf("read: %v", err)
	}
	if c := srv.conditions(); c[len(c)-1] != "" {
		t.Errorf("If-Range %q without a validator", c[len(c)-1])
	}
	_, err = Open(remoteCtx(t), srv.URL+"/f", fast(WithRequireValidators())...)
	if !errors.Is(err, ErrNoValidators) || loader.Kind(err) != "NoValidators" {
		t.Fatalf("got %v (kind %q), want ErrNoValidators", err, loader.Kind(err))
	}
	t.Log(err)

	for _, tc := range []struct {
		headers func(int, http.Header) time.Time
		want    string
	}{
		{func(_ int, h http.Header) time.Time { h.Set("ETag", `"e"`); return modOld }, `"e"`},
		{func(_ int, h http.Header) time.Time { h.Set("ETag", `W/"e"`); return time.Time{} }, `W/"e"`},
		{func(int, http.Header) time.Time { return modOld }, modOld.UTC().Format(http.TimeFormat)},
	} {
		srv := newVersionServer(t, 1000, 1<<30, tc.headers, false)
		r, err := Open(remoteCtx(t), srv.URL+"/f", fast(WithRequireValidators())...)
		if err != nil {
			t.Fatal(err)
		}
		if v := r.Validator(); v != tc.want {
			t.Errorf("Validator() = %q, want %q", v, tc.want)
		}
		r.Close()
	}
}

// dripServer answers every request after the first (or every request,
// fromFirst) with one byte every interval.
func dripServer(t *testing.T, b []byte, interval time.Duration, fromFirst bool) *httptest.Server {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"drip"`)
		if n.Add(1) == 1 && !fromFirst {
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
			return
		}
		s, e := remoteRangeOf(r)
		if r.Header.Get("Range") == "" {
			s, e = 0, int64(len(b)-1)
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.WriteHeader(http.StatusOK)
		} else {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", s, e, len(b)))
			w.Header().Set("Content-Length", fmt.Sprint(e-s+1))
			w.WriteHeader(http.StatusPartialContent)
		}
		for i := s; i <= e; i++ {
			if _, err := w.Write(b[i : i+1]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(interval):
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestRemoteTimeout: a server that drips a byte at a time, never
// stalling long enough for the stall timeout, fails a read once the
// read's deadline passes, with retries included.
func TestRemoteTimeout(t *testing.T) {
	b := make([]byte, 1<<20)
	check := func(t *testing.T, err error, start time.Time, limit time.Duration) {
		t.Helper()
		if d := time.Since(start); d > limit+2*time.Second {
			t.Errorf("failed after %v, timeout %v", d, limit)
		}
		var e *loader.Error
		if !errors.Is(err, context.DeadlineExceeded) || loader.Kind(err) != "DeadlineExceeded" || !errors.As(err, &e) {
			t.Fatalf("got %v (kind %q), want a DeadlineExceeded *Error", err, loader.Kind(err))
		}
		t.Log(err)
	}
	const limit = 400 * time.Millisecond
	srv := dripServer(t, b, 50*time.Millisecond, false)
	r, err := Open(remoteCtx(t), srv.URL+"/f", fast(WithTimeout(limit))...)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	start := time.Now()
	_, err = r.ReadAt(make([]byte, 1000), 500_000)
	check(t, err, start, limit)

	// Open is bounded too, whatever its context.
	srv = dripServer(t, b, 50*time.Millisecond, true)
	start = time.Now()
	_, err = Open(context.Background(), srv.URL+"/f", fast(WithTimeout(limit))...)
	check(t, err, start, limit)

	// Retries are within the deadline.
	var fails atomic.Int64
	flaky := newRemoteServer(t)
	u := flaky.put("f", b)
	r, err = Open(remoteCtx(t), u, WithRetries(1000), withBackoff(20*time.Millisecond, 20*time.Millisecond), WithTimeout(limit))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	flaky.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		fails.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	start = time.Now()
	_, err = r.ReadAt(make([]byte, 1000), 500_000)
	check(t, err, start, limit)
	if fails.Load() < 3 {
		t.Errorf("%d attempts", fails.Load())
	}
}

// TestRemoteTimeoutDefault checks the default deadline: generous for a
// part on a slow link, and none at all with WithTimeout(0).
func TestRemoteTimeoutDefault(t *testing.T) {
	c := newConfig(nil)
	for _, tc := range []struct {
		n    int64
		want time.Duration
	}{
		{0, 2 * time.Minute},
		{64 << 10, 2*time.Minute + time.Second},
		{8 << 20, 2*time.Minute + 128*time.Second},
		{1 << 40, 2*time.Minute + (1<<24)*time.Second},
	} {
		if got := c.budget(tc.n); got != tc.want {
			t.Errorf("default deadline for %d bytes: %v, want %v", tc.n, got, tc.want)
		}
	}
	if c := newConfig([]Option{WithTimeout(0)}); c.budget(1<<20) != 0 {
		t.Errorf("WithTimeout(0): %v", c.budget(1<<20))
	}
	if c := newConfig([]Option{WithTimeout(time.Second)}); c.budget(1<<30) != time.Second {
		t.Errorf("WithTimeout(1s): %v", c.budget(1<<30))
	}
}

// TestRemoteReadCancel cancels reads from a server that drips one byte
// every 50 ms: the Reader's ReadAtContext, and a loader.File's over it,
// must give up when their context is done, not when the read's own
// deadline (a minute here) runs out.
func TestRemoteReadCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	err := loader.SaveFile(path, map[string]loader.Data{
		"w": {DType: dtype.U8, Shape: []uint64{1 << 20}, Bytes: make([]byte, 1<<20)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := dripServer(t, b, 50*time.Millisecond, false)
	r, err := Open(remoteCtx(t), srv.URL+"/m.safetensors", fast(WithTimeout(time.Minute))...)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := loader.NewReader(r, r.Size())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tc := range []struct {
		name string
		read func(ctx context.Context) error
	}{
		{"Reader.ReadAtContext", func(ctx context.Context) error {
			_, err := r.ReadAtContext(ctx, make([]byte, 1000), 500_000)
			return err
		}},
		{"loader.File.ReadAtContext", func(ctx context.Context) error {
			_, err := f.ReadAtContext(ctx, make([]byte, 1000), 500_000)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := tc.read(ctx)
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("returned %v after the cancel", d)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want the context's error", err)
			}
		})
	}
	// The Reader still works for a context that is not done.
	if _, err := r.ReadAtContext(remoteCtx(t), make([]byte, 8), 0); err != nil {
		t.Fatalf("after a cancelled read: %v", err)
	}
}
