package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stload/stload/device"
	"github.com/stload/stload/loader"
)

// TestColdCommand runs the cold benchmark on a small file: every run must
// start with the file evicted, the O_DIRECT variant must read with
// O_DIRECT and the page cache variant must not, and the timeline must be
// written. It skips where the page cache cannot be dropped (tmpfs).
func TestColdCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.safetensors")
	if _, err := Generate(GenRequest{Kind: "llama", Size: 24 << 20, Out: path, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	if note, err := evictInputs([]string{path}); err != nil {
		t.Skipf("cannot drop the file from the page cache here: %v (%s)", err, note)
	}
	var out, errOut bytes.Buffer
	js := filepath.Join(dir, "cold.json")
	code := Main([]string{"cold", "-file", path, "-rounds", "1", "-dd=false", "-depths", "2",
		"-variants", "direct,page-cache", "-timeline", filepath.Join(dir, "tl"), "-json", js}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	notes := map[string]string{}
	for _, f := range rep.Figures {
		if f.Impl == "stload" {
			notes[strings.SplitN(f.Name, ":", 2)[0]] = f.Note
		}
		if len(f.Runs) != 1 || f.GBps <= 0 {
			t.Errorf("%s: runs %v", f.Name, f.Runs)
		}
	}
	if !strings.HasPrefix(notes["stload direct"], "O_DIRECT ") || strings.HasPrefix(notes["stload direct"], "O_DIRECT 0%") || !strings.HasPrefix(notes["stload page-cache"], "O_DIRECT 0%") {
		t.Errorf("notes: %v", notes)
	}
	for _, ext := range []string{".json", ".svg"} {
		if fi, err := os.Stat(filepath.Join(dir, "tl"+ext)); err != nil || fi.Size() == 0 {
			t.Errorf("timeline%s: %v", ext, err)
		}
	}
	if !strings.Contains(out.String(), "residency before each run (mincore): at most 0.") {
		t.Errorf("report:\n%s", out.String())
	}
}

// TestNoCopyBackend loads a file into the host stand-in twice with one
// Loader: the pipeline runs whole, and the second load allocates no new
// staging memory (the pool hands the first load's buffers back).
func TestNoCopyBackend(t *testing.T) {
	f := genOpen(t, t.TempDir(), 8<<20, 4)
	defer registerNoCopy("nocopytest", nil)()
	l := device.NewPlacer(device.On(device.Device{Backend: "nocopytest"}), device.WithChunkSize(1<<20))
	defer l.Close()
	for range 2 {
		set, err := l.Load(context.Background(), device.Files(f))
		if err != nil {
			t.Fatal(err)
		}
		if st := set.Stats(); st.Copied != f.Size()-(8+f.HeaderSize()) || st.Chunks == 0 {
			t.Errorf("stats %+v", st)
		}
		if err := set.Verify(context.Background()); err == nil {
			t.Error("Verify of a no-copy device passed")
		}
		set.Close()
	}
}

// TestTimelineCommand renders a timeline written by a load.
func TestTimelineCommand(t *testing.T) {
	dir := t.TempDir()
	f := genOpen(t, dir, 4<<20, 5)
	defer registerNoCopy("nocopytl", nil)()
	var tl device.Timeline
	set, err := device.Load(context.Background(), device.Files(f), device.On(device.Device{Backend: "nocopytl"}),
		device.WithChunkSize(256<<10), device.WithTimeline(&tl))
	if err != nil {
		t.Fatal(err)
	}
	set.Close()
	js := filepath.Join(dir, "t.json")
	if err := writeTimeline(&tl, js); err != nil {
		t.Fatal(err)
	}
	svg := filepath.Join(dir, "out.svg")
	var out, errOut bytes.Buffer
	if code := Main([]string{"timeline", "-svg", svg, js}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "verdict: ") {
		t.Errorf("output:\n%s", out.String())
	}
	if b, err := os.ReadFile(svg); err != nil || !bytes.HasPrefix(b, []byte("<svg")) {
		t.Errorf("svg: %v", err)
	}
}

// genOpen generates a Llama-shaped file of size bytes in dir and opens it
// until the test ends.
func genOpen(t *testing.T, dir string, size int64, seed uint64) *loader.File {
	t.Helper()
	path := filepath.Join(dir, "m.safetensors")
	if _, err := Generate(GenRequest{Kind: "llama", Size: size, Out: path, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	f, err := loader.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
