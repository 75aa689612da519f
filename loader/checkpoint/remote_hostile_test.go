package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// writeShard writes a safetensors file of the named U8 tensors, each of
// size bytes of a pattern seeded by its name, and returns their bytes.
func writeShard(t *testing.T, file string, size int, names ...string) map[string][]byte {
	t.Helper()
	data := map[string]loader.Data{}
	want := map[string][]byte{}
	for _, name := range names {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(i*31 + len(name)*7 + int(name[len(name)-1]))
		}
		data[name] = loader.Data{DType: dtype.U8, Shape: []uint64{uint64(size)}, Bytes: b}
		want[name] = b
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := loader.SaveFile(file, data, nil); err != nil {
		t.Fatal(err)
	}
	return want
}

// writeIndex writes an index with the given weight_map.
func writeIndex(t *testing.T, file string, weightMap map[string]string) {
	t.Helper()
	writeIndexMeta(t, file, weightMap, map[string]any{})
}

// writeIndexMeta writes an index with the given weight_map and metadata.
func writeIndexMeta(t *testing.T, file string, weightMap map[string]string, meta map[string]any) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"metadata": meta, "weight_map": weightMap})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// normalisingServer serves root the way careless servers do: it decodes
// the path until nothing is left to decode, reads backslashes as
// slashes, drops ";params" from path segments, and cleans the result,
// so that an encoded ".." climbs out of the directory. It records the
// paths it is asked for.
type normalisingServer struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
}

func newNormalisingServer(t *testing.T, root string) *normalisingServer {
	s := &normalisingServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		for range 4 {
			if d, err := url.PathUnescape(p); err == nil {
				p = d
			}
		}
		p = strings.ReplaceAll(p, `\`, "/")
		segs := strings.Split(p, "/")
		for i, seg := range segs {
			segs[i], _, _ = strings.Cut(seg, ";")
		}
		p = path.Clean("/" + strings.Join(segs, "/"))
		s.mu.Lock()
		s.paths = append(s.paths, p)
		s.mu.Unlock()
		f, err := os.Open(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, "", time.Time{}, f)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *normalisingServer) requested() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.paths
	s.paths = nil
	return p
}

// TestRemoteShardNames: shard names of a remote index that would leave
// the index's directory on a server that normalises paths are refused
// before any request; names that stay inside are fetched as the file
// names they are.
func TestRemoteShardNames(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "org", "m")
	writeShard(t, filepath.Join(root, "evil.safetensors"), 10, "x")
	writeShard(t, filepath.Join(root, "org", "evil.safetensors"), 10, "x")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	srv := newNormalisingServer(t, root)
	for _, name := range []string{
		"../evil.safetensors",
		"%2e%2e/evil.safetensors",
		"%2E%2E/evil.safetensors",
		".%2e/evil.safetensors",
		"..%2fevil.safetensors",
		"..%2Fevil.safetensors",
		"%2e%2e%2fevil.safetensors",
		"%252e%252e/evil.safetensors",
		"%25252e%25252e%25252fevil.safetensors",
		`..\evil.safetensors`,
		"..%5cevil.safetensors",
		"..%5Cevil.safetensors",
		"..;/evil.safetensors",
		"x/..%2f..%2fevil.safetensors",
		"a%2Fb.safetensors",
		"/evil.safetensors",
		"%2fevil.safetensors",
		"//127.0.0.1/evil.safetensors",
		"http://127.0.0.1/evil.safetensors",
		"https:evil.safetensors",
		"C:evil.safetensors",
		"evil%00.safetensors",
		"\uff0e\uff0e/evil.safetensors",
		"..\u2215evil.safetensors",
		"\ufe52\ufe52/evil.safetensors",     // small full stop: '.' once NFKC-folded
		"\u2024\u2024/evil.safetensors",     // one dot leader: '.'
		"..\ufe68evil.safetensors",          // small reverse solidus: '\\'
		"\uff052e\uff052e/evil.safetensors", // fullwidth percent: "%2e" once folded
		"C\uff1aevil.safetensors",           // fullwidth colon: a drive
	} {
		t.Run(name, func(t *testing.T) {
			writeIndex(t, filepath.Join(dir, "bad.index.json"), map[string]string{"x": name})
			srv.requested()
			_, err := Open(t.Context(), srv.URL+"/org/m/bad.index.json?rev=main", quick)
			if !errors.Is(err, ErrInsecurePath) || loader.Kind(err) != "InsecurePath" {
				t.Fatalf("got %v, want ErrInsecurePath", err)
			}
			var e *loader.Error
			if !errors.As(err, &e) || e.Tensor != "x" || !strings.Contains(e.File, "bad.index.json") {
				t.Errorf("error names %q, tensor %q: %v", e.File, e.Tensor, err)
			}
			if r := srv.requested(); len(r) != 1 || r[0] != "/org/m/bad.index.json" {
				t.Errorf("requests %q, want only the index", r)
			}
		})
	}

	// Names that stay inside: a subdirectory, a space, a "./", and
	// characters that mean something in a URL, taken literally.
	for _, name := range []string{"sub/a b.safetensors", "./plain.safetensors", "q?x#y.safetensors", "p%zz.safetensors"} {
		t.Run(name, func(t *testing.T) {
			want := writeShard(t, filepath.Join(dir, filepath.FromSlash(name)), 10, "x")
			writeIndex(t, filepath.Join(dir, "ok.index.json"), map[string]string{"x": name})
			openAndRead(t, srv.URL+"/org/m/ok.index.json", want)
		})
	}
}

// noRangeServer serves a directory as `python3 -m http.server` does:
// the whole file with status 200 whatever the Range, with a
// Last-Modified date. It counts the requests.
func noRangeServer(t *testing.T, dir string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(path.Clean("/"+r.URL.Path))))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Last-Modified", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestRemoteDownloadFallback opens a checkpoint from a server without
// range support: refused by default, downloaded with
// WithDownloadFallback, reporting progress, leaving no file behind.
func TestRemoteDownloadFallback(t *testing.T) {
	dir := t.TempDir()
	const size = 100 << 10 // each shard is larger than the first request
	want := writeShard(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), size, "a", "b")
	for k, v := range writeShard(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), size, "c") {
		want[k] = v
	}
	// An index larger than the first request, so that it is downloaded
	// too.
	writeIndexMeta(t, filepath.Join(dir, DefaultIndexName), map[string]string{
		"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"},
		map[string]any{"note": strings.Repeat("x", 100<<10)})
	srv := noRangeServer(t, dir)

	_, err := Open(t.Context(), srv.URL+"/"+DefaultIndexName, quick)
	if loader.Kind(err) != "RangeUnsupported" {
		t.Fatalf("without the fallback: %v (kind %q), want RangeUnsupported", err, loader.Kind(err))
	}

	tmp := t.TempDir()
	var mu sync.Mutex
	last := map[string][2]int64{}
	progress := WithDownloadProgress(func(name string, done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		if p, ok := last[name]; ok && done < p[0] {
			t.Errorf("%s: progress went back from %d to %d", name, p[0], done)
		}
		last[name] = [2]int64{done, total}
	})
	for _, u := range []string{srv.URL + "/" + DefaultIndexName + "?token=secret", srv.URL + "/model-00002-of-00002.safetensors"} {
		clear(last)
		c, err := Open(t.Context(), u, quick, WithDownloadFallback(tmp), progress)
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" {
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("%d files in the download directory while open, want 0 (unlinked)", len(left))
			}
		}
		for _, f := range c.Files() {
			file := strings.TrimSuffix(f.Name(), "?…")
			if !strings.HasPrefix(f.Name(), srv.URL+"/model-0000") || strings.Contains(f.Name(), "secret") {
				t.Errorf("shard named %s", f.Name())
			}
			if p := last[f.Name()]; p != [2]int64{f.Size(), f.Size()} {
				t.Errorf("%s: last progress %v, want %d of %d", file, p, f.Size(), f.Size())
			}
			if data, release, err := f.Mapping(); err != nil || data == nil && runtime.GOOS == "linux" {
				t.Errorf("%s: not mapped: %v", file, err)
			} else {
				release()
			}
		}
		for name, t0 := range c.Tensors() {
			b, err := t0.Bytes()
			if err != nil || !bytes.Equal(b, want[name]) {
				t.Errorf("%s: %v", name, err)
			}
		}
		c.Close()
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Errorf("%d files in the download directory after Close", len(left))
		}
	}

	// A download that fails leaves nothing behind either.
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		w.Write(make([]byte, size/2))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	defer broken.Close()
	if _, err := Open(t.Context(), broken.URL+"/m.safetensors", quick, WithDownloadFallback(tmp)); err == nil {
		t.Fatal("broken download opened")
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("%d files in the download directory after a failed download", len(left))
	}
}

// TestRemoteNotSafetensors: a URL that serves a web page, an image or
// JSON says so, with the kind the bytes give (a length prefix far too
// large); a broken file served as bytes gets no such hint.
func TestRemoteNotSafetensors(t *testing.T) {
	png := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 100)...)
	for _, tc := range []struct {
		ctype string
		body  []byte
		hint  bool
	}{
		{"text/html; charset=utf-8", []byte("<!DOCTYPE html><html><body>Sign in</body></html>"), true},
		{"image/png", png, true},
		{"application/json", []byte(`{"error": "Repository not found"}`), true},
		{"application/octet-stream", png, false},
		{"", png, false},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", tc.ctype)
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(tc.body))
		}))
		_, err := Open(t.Context(), srv.URL+"/model.safetensors", quick)
		srv.Close()
		if loader.Kind(err) != "HeaderTooLarge" {
			t.Errorf("%s: %v (kind %q), want HeaderTooLarge", tc.ctype, err, loader.Kind(err))
		}
		media, _, _ := strings.Cut(tc.ctype, ";")
		hint := "not a safetensors file (the server sent " + media
		if got := err != nil && strings.Contains(err.Error(), hint); got != tc.hint {
			t.Errorf("%s: %v; want the hint %q: %v", tc.ctype, err, hint, tc.hint)
		}
		t.Log(err)
	}
}

// TestNotSafetensorsHint: the server's Content-Type joins what the
// loader says a file looks like, keeping the error's kind, and is added
// only to errors about the header's bytes.
func TestNotSafetensorsHint(t *testing.T) {
	for _, tc := range []struct {
		err   *loader.Error
		ctype string
		want  string // the Detail after
	}{
		{&loader.Error{Err: loader.ErrHeaderTooLarge}, "text/html; charset=utf-8",
			"not a safetensors file (the server sent text/html)"},
		{&loader.Error{Err: loader.ErrHeaderTooLarge, Detail: "length 123"}, "image/png",
			"not a safetensors file (the server sent image/png): length 123"},
		{&loader.Error{Err: loader.ErrHeaderTooLarge, Detail: "not a safetensors file (looks like HTML); length 123"}, "text/html",
			"not a safetensors file (the server sent text/html; looks like HTML); length 123"},
		{&loader.Error{Err: loader.ErrInvalidHeaderDeserialization, Detail: "x"}, "application/problem+json",
			"not a safetensors file (the server sent application/problem+json): x"},
		{&loader.Error{Err: loader.ErrHeaderTooLarge, Detail: "x"}, "application/octet-stream", "x"},
		{&loader.Error{Err: loader.ErrHeaderTooLarge, Detail: "x"}, "", "x"},
		{&loader.Error{Err: loader.ErrHeaderTooLarge, Detail: "x"}, "text/html; broken=", "x"},
		{&loader.Error{Err: loader.ErrTensorInvalidInfo, Detail: "x"}, "text/html", "x"},
	} {
		kind := loader.Kind(tc.err)
		err := notSafetensors(tc.err, tc.ctype)
		var e *loader.Error
		if !errors.As(err, &e) || e.Detail != tc.want || loader.Kind(err) != kind {
			t.Errorf("%s: %v (kind %q), want detail %q", tc.ctype, err, loader.Kind(err), tc.want)
		}
	}
}

// TestRemoteEscapedDirectory: an index in a directory whose name holds
// an escaped slash (a Hugging Face revision, "refs%2Fpr%2F1") has its
// shards fetched from that directory, escaping and all.
func TestRemoteEscapedDirectory(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "refs", "pr", "1")
	want := writeShard(t, filepath.Join(dir, "model-00001-of-00001.safetensors"), 10, "x")
	writeIndex(t, filepath.Join(dir, DefaultIndexName), map[string]string{"x": "model-00001-of-00001.safetensors"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/resolve/refs%2Fpr%2F1/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, filepath.Join(dir, rest))
	}))
	defer srv.Close()
	openAndRead(t, srv.URL+"/resolve/refs%2Fpr%2F1/"+DefaultIndexName, want)
}

// openAndRead opens the checkpoint at u and checks its tensors' bytes.
func openAndRead(t *testing.T, u string, want map[string][]byte) {
	t.Helper()
	c, err := Open(t.Context(), u, quick)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for name, w := range want {
		tensor, err := c.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := tensor.Bytes(); err != nil || !bytes.Equal(b, w) {
			t.Errorf("%s: bytes differ: %v", name, err)
		}
	}
}
