package checkpoint

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stload/stload/loader/httprange"
)

// fileServer serves a directory with range support (http.FileServer),
// recording the Range header of every request.
type fileServer struct {
	*httptest.Server
	mu     sync.Mutex
	ranges []string
}

func newFileServer(t *testing.T, dir string) *fileServer {
	s := &fileServer{}
	files := http.FileServer(http.Dir(dir))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.ranges = append(s.ranges, r.Header.Get("Range"))
		s.mu.Unlock()
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// requests returns the Range headers received since the last call.
func (s *fileServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.ranges
	s.ranges = nil
	return r
}

// quick keeps failing requests from retrying for long.
var quick = WithHTTPOptions(httprange.WithRetries(1), httprange.WithStallTimeout(2*time.Second))

// TestRemoteCheckpoint serves a shard set over HTTP.
func TestRemoteCheckpoint(t *testing.T) {
	tensors := ckptTensors(t, 25, 12)
	root := t.TempDir()
	dir := filepath.Join(root, "org", "model", "resolve", "main")
	os.MkdirAll(dir, 0o755)
	ckptGoodSet(tensors, 3).write(t, dir)
	srv := newFileServer(t, root)
	base := srv.URL + "/org/model/resolve/main/"
	c, err := Open(t.Context(), base+DefaultIndexName, quick)
	if err != nil {
		t.Fatal(err)
	}
	ckptCheckTensors(t, c, tensors)
	if got := c.Files()[1].Name(); got != base+"model-00002-of-00003.safetensors" {
		t.Errorf("shard name %s", got)
	}
	if !c.Sharded() || c.Path() != base+DefaultIndexName {
		t.Errorf("Sharded %v, Path %s", c.Sharded(), c.Path())
	}
	// Merging the remote shards into one local file (convert from a URL)
	// gives what SaveFile writes; these shards are small enough for their
	// first request to have brought them whole.
	srv.requests()
	merged := filepath.Join(t.TempDir(), "merged.safetensors")
	if err := WriteFile(t.Context(), merged, c.Sources(), nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(merged); !bytes.Equal(got, saved(t, tensors, nil)) {
		t.Error("merged file differs from SaveFile's output")
	}
	if r := srv.requests(); len(r) != 0 {
		t.Errorf("%d requests for tensors the first requests already brought", len(r))
	}
	c.Close()

	// A single file.
	c, err = Open(t.Context(), base+"model-00001-of-00003.safetensors", quick)
	if err != nil || c.Len() != 9 || c.Sharded() {
		t.Fatalf("single file: %v", err)
	}
	c.Close()

	// A missing shard, and a name that leaves the directory: the latter
	// must not be requested at all.
	os.Remove(filepath.Join(dir, "model-00003-of-00003.safetensors"))
	_, err = Open(t.Context(), base+DefaultIndexName, quick)
	ckptCheckErr(t, err, ErrShardMissing, "model-00003-of-00003.safetensors", "")

	os.Rename(filepath.Join(dir, "model-00001-of-00003.safetensors"), filepath.Join(dir, "..", "evil.safetensors"))
	os.WriteFile(filepath.Join(dir, "bad.index.json"), []byte(`{"weight_map": {"x": "../evil.safetensors"}}`), 0o644)
	srv.requests()
	_, err = Open(t.Context(), base+"bad.index.json", quick)
	ckptCheckErr(t, err, ErrInsecurePath, "bad.index.json", "x")
	for _, r := range srv.requests() {
		if r != "bytes=0-65535" {
			t.Errorf("request %q beyond the index", r)
		}
	}
}

// TestRemoteCopy streams a remote file into a local one through
// SourceOf, in few large requests.
func TestRemoteCopy(t *testing.T) {
	path := filepath.Join("..", "..", "testdata", "conformance", "valid", "big_tensor.safetensors")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := newFileServer(t, filepath.Dir(path))
	c, err := Open(t.Context(), srv.URL+"/big_tensor.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv.requests()
	out := filepath.Join(t.TempDir(), "copy.safetensors")
	if err := WriteFile(t.Context(), out, c.Sources(), c.Metadata()); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, b) {
		t.Error("copy differs")
	}
	// The 3 MiB tensor (less the first 64 KiB) is one 8 MiB part: one
	// request, not one per 1 MiB copy buffer.
	if r := srv.requests(); len(r) != 1 {
		t.Errorf("%d requests (%v), want 1", len(r), r)
	}
}
