//go:build unix

package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stload/stload/loader"
)

// stageFolder makes a staging folder as an interrupted save leaves it,
// with a lock file unless noLock, and returns its path. With live, the
// test holds the lock until it ends, as a running save does.
func stageFolder(t testing.TB, dir, name string, noLock, live bool) string {
	t.Helper()
	stage := filepath.Join(dir, stagePrefix+name)
	if err := os.MkdirAll(filepath.Join(stage, asideDir), 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stage, "model-00001-of-00002.safetensors"), make([]byte, 4096), 0o644)
	os.WriteFile(filepath.Join(stage, asideDir, DefaultIndexName), []byte("{}"), 0o644)
	if noLock {
		return stage
	}
	f, err := os.OpenFile(filepath.Join(stage, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if !live {
		f.Close()
		return stage
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return stage
}

// lockedTemp makes a temporary file as loader.CreateFile leaves one; with
// live, the test holds its lock until it ends.
func lockedTemp(t testing.TB, path string, live bool) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(make([]byte, 1000))
	if !live {
		f.Close()
		return
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

// TestOpenIncomplete: without an index, shards of a sharded checkpoint are
// never taken for a whole checkpoint, complete or not; a staging folder
// is reported, as an error when nothing complete is there, else through
// Leftovers.
func TestOpenIncomplete(t *testing.T) {
	tensors := ckptTensors(t, 6, 15)
	sharded := func(t *testing.T, dir string, drop ...string) {
		t.Helper()
		if _, err := Save(context.Background(), dir, ckptSources(tensors), WithMaxShardSize(150)); err != nil {
			t.Fatal(err)
		}
		for _, name := range drop {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	single := func(t *testing.T, dir, name string) {
		t.Helper()
		if err := loader.SaveFile(filepath.Join(dir, name), tensors, nil); err != nil {
			t.Fatal(err)
		}
	}
	const s1, s2, s3 = "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string)
		// want: ErrIncomplete, ErrNoCheckpoint or nil; detail: words the
		// error must hold; leftovers: Leftovers' base names.
		want      error
		detail    []string
		leftovers []string
	}{
		{"lone shard", func(t *testing.T, dir string) { sharded(t, dir, DefaultIndexName, s2, s3) },
			ErrIncomplete, []string{"1 of the 3 shards", "no index", DefaultIndexName}, nil},
		{"two of three shards", func(t *testing.T, dir string) { sharded(t, dir, DefaultIndexName, s2) },
			ErrIncomplete, []string{"2 of the 3 shards", "00002 missing"}, nil},
		{"all shards, no index", func(t *testing.T, dir string) { sharded(t, dir, DefaultIndexName) },
			ErrIncomplete, []string{"all 3 shards", "no index"}, nil},
		{"shards beside a single file", func(t *testing.T, dir string) {
			sharded(t, dir, DefaultIndexName, s1, s3)
			single(t, dir, "model.safetensors")
		}, ErrIncomplete, []string{"1 of the 3 shards"}, nil},
		{"one of one", func(t *testing.T, dir string) { single(t, dir, "x-00001-of-00001.safetensors") }, nil, nil, nil},
		{"staging folder alone", func(t *testing.T, dir string) { stageFolder(t, dir, "a", false, false) },
			ErrIncomplete, []string{stagePrefix + "a", "interrupted save", "replaced"}, nil},
		{"staging folder without its lock", func(t *testing.T, dir string) { stageFolder(t, dir, "a", true, false) },
			ErrIncomplete, []string{stagePrefix + "a", "interrupted save"}, nil},
		{"staging folder of a running save", func(t *testing.T, dir string) { stageFolder(t, dir, "a", false, true) },
			ErrIncomplete, []string{stagePrefix + "a", "in progress"}, nil},
		{"staging folder and shards", func(t *testing.T, dir string) {
			sharded(t, dir, DefaultIndexName)
			stageFolder(t, dir, "b", false, false)
		}, ErrIncomplete, []string{"all 3 shards", stagePrefix + "b"}, nil},
		{"staging folder beside a whole checkpoint", func(t *testing.T, dir string) {
			sharded(t, dir)
			stageFolder(t, dir, "c", false, false)
			stageFolder(t, dir, "d", false, true)             // a running save is no leftover
			stageFolder(t, dir, "e"+trashSuffix, false, true) // but a claimed folder is
			lockedTemp(t, filepath.Join(dir, ".model.safetensors.tmp-1"), false)
		}, nil, nil, []string{".model.safetensors.tmp-1", stagePrefix + "c", stagePrefix + "e" + trashSuffix}},
		{"staging folder beside a single file", func(t *testing.T, dir string) {
			single(t, dir, "model.safetensors")
			stageFolder(t, dir, "c", true, false)
		}, nil, nil, []string{stagePrefix + "c"}},
		{"two files", func(t *testing.T, dir string) {
			single(t, dir, "a.safetensors")
			single(t, dir, "b.safetensors")
		}, ErrNoCheckpoint, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			c, err := Open(t.Context(), dir)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				ckptCheckTensors(t, c, tensors)
				var got []string
				for _, p := range c.Leftovers() {
					if filepath.Dir(p) != dir {
						t.Errorf("leftover %s is not a path in %s", p, dir)
					}
					got = append(got, filepath.Base(p))
				}
				if !slices.Equal(got, tc.leftovers) {
					t.Errorf("Leftovers %v, want %v", got, tc.leftovers)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			var e *loader.Error
			if !errors.As(err, &e) || e.File != dir {
				t.Errorf("error does not name the directory: %v", err)
			}
			if tc.want == ErrIncomplete && loader.Kind(err) != "IncompleteCheckpoint" {
				t.Errorf("kind %q", loader.Kind(err))
			}
			for _, w := range tc.detail {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			t.Log(err)
		})
	}

	// A missing index or shard in a directory with a staging folder is
	// part of an unfinished save.
	dir := t.TempDir()
	sharded(t, dir, DefaultIndexName)
	stageFolder(t, dir, "e", false, false)
	for _, name := range []string{DefaultIndexName, "model.safetensors"} {
		_, err := Open(t.Context(), filepath.Join(dir, name))
		if !errors.Is(err, ErrIncomplete) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), stagePrefix+"e") {
			t.Errorf("%s: got %v, want ErrIncomplete naming the staging folder", name, err)
		}
	}
}

// TestSaveCleansLeftovers: a save removes what killed saves left in its
// destination — staging folders, temporary files of its own file names —
// and keeps what running saves hold, and anything else.
func TestSaveCleansLeftovers(t *testing.T) {
	tensors := ckptTensors(t, 6, 16)
	for _, viaWriteFile := range []bool{false, true} {
		t.Run(fmt.Sprint("WriteFile ", viaWriteFile), func(t *testing.T) {
			dir := t.TempDir()
			dead := stageFolder(t, dir, "dead", false, false)
			noLock := stageFolder(t, dir, "nolock", true, false)
			live := stageFolder(t, dir, "live", false, true)
			// Claimed by a cleaner, still at work (its lock held) or killed:
			// no save writes there, so it goes either way.
			trash := stageFolder(t, dir, "claimed"+trashSuffix, false, true)
			outside := t.TempDir()
			os.WriteFile(filepath.Join(outside, "keep"), []byte("x"), 0o644)
			os.Symlink(outside, filepath.Join(dir, stagePrefix+"link"))
			lockedTemp(t, filepath.Join(dir, ".model.safetensors.tmp-123"), false)
			lockedTemp(t, filepath.Join(dir, ".model.safetensors.tmp-456"), true)
			lockedTemp(t, filepath.Join(dir, ".other.safetensors.tmp-1"), false)
			os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
			var err error
			if viaWriteFile {
				err = WriteFile(t.Context(), filepath.Join(dir, "model.safetensors"), ckptSources(tensors), nil)
			} else {
				_, err = Save(t.Context(), dir, ckptSources(tensors))
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, gone := range []string{dead, noLock, trash, filepath.Join(dir, ".model.safetensors.tmp-123")} {
				if _, err := os.Lstat(gone); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s is still there: %v", filepath.Base(gone), err)
				}
			}
			for _, kept := range []string{live, filepath.Join(dir, ".model.safetensors.tmp-456"), filepath.Join(dir, ".other.safetensors.tmp-1"),
				filepath.Join(dir, stagePrefix+"link"), filepath.Join(outside, "keep"), filepath.Join(dir, "notes.txt"), filepath.Join(dir, "model.safetensors")} {
				if _, err := os.Lstat(kept); err != nil {
					t.Errorf("%s was removed: %v", kept, err)
				}
			}
			c, err := Open(t.Context(), filepath.Join(dir, "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			ckptCheckTensors(t, c, tensors)
			c.Close()
		})
	}
}

// TestSaveModes: new files follow the umask, replaced files keep their
// mode, and new shards follow the mode of the index (or file) of the
// checkpoint they replace.
func TestSaveModes(t *testing.T) {
	tensors := ckptTensors(t, 6, 17)
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	perm := func(t *testing.T, path string) fs.FileMode {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	checkAll := func(t *testing.T, paths []string, want fs.FileMode) {
		t.Helper()
		for _, p := range paths {
			if got := perm(t, p); got != want {
				t.Errorf("%s: mode %v, want %v", filepath.Base(p), got, want)
			}
		}
	}
	ctx := context.Background()

	dir := t.TempDir()
	paths, err := Save(ctx, dir, ckptSources(tensors), WithMaxShardSize(150))
	if err != nil {
		t.Fatal(err)
	}
	checkAll(t, paths, 0o640) // umask 027
	file := filepath.Join(t.TempDir(), "m.safetensors")
	if err := WriteFile(ctx, file, ckptSources(tensors), nil); err != nil {
		t.Fatal(err)
	}
	checkAll(t, []string{file}, 0o640)

	// Replaced files keep their mode, whatever the umask.
	syscall.Umask(0o022)
	os.Chmod(file, 0o600)
	if err := WriteFile(ctx, file, ckptSources(tensors), nil); err != nil {
		t.Fatal(err)
	}
	checkAll(t, []string{file}, 0o600)
	os.Chmod(file, 0o664)
	if err := WriteFile(ctx, file, ckptSources(tensors), nil); err != nil {
		t.Fatal(err)
	}
	checkAll(t, []string{file}, 0o664)

	// Resharding 0600 shards keeps 0600: the new shard names are new, and
	// follow the index.
	for _, p := range paths {
		os.Chmod(p, 0o600)
	}
	paths2, err := Save(ctx, dir, ckptSources(tensors), WithMaxShardSize(100))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths2) == len(paths) {
		t.Fatalf("the test wants another shard count: %d and %d files", len(paths), len(paths2))
	}
	checkAll(t, paths2, 0o600)
	// And so does the single file that replaces them.
	paths3, err := Save(ctx, dir, ckptSources(tensors))
	if err != nil {
		t.Fatal(err)
	}
	checkAll(t, paths3, 0o600)
	// Single to sharded: the shards follow the file.
	os.Chmod(paths3[0], 0o640)
	paths4, err := Save(ctx, dir, ckptSources(tensors), WithMaxShardSize(150))
	if err != nil {
		t.Fatal(err)
	}
	checkAll(t, paths4, 0o640)
}

// TestOpenDuringSave opens a checkpoint again and again while it is
// saved over and over with the same layout and other bytes: every Open
// gets one whole version or ErrIncomplete, never shards of two versions.
func TestOpenDuringSave(t *testing.T) {
	versions := []map[string]loader.Data{ckptTensors(t, 8, 18), ckptTensors(t, 8, 18)}
	for _, d := range versions[1] {
		for i := range d.Bytes {
			d.Bytes[i] ^= 0x5a
		}
	}
	digests := []string{killDigest(versions[0]), killDigest(versions[1])}
	dir := t.TempDir()
	if _, err := Save(t.Context(), dir, ckptSources(versions[0]), WithMaxShardSize(100)); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var saves int
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 1; !stop.Load(); i++ {
			if _, err := Save(context.Background(), dir, ckptSources(versions[i%2]), WithMaxShardSize(100)); err != nil {
				t.Error(err)
				return
			}
			saves++
		}
	})
	var opened, incomplete int
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) && !t.Failed() {
		for _, p := range []string{dir, filepath.Join(dir, DefaultIndexName)} {
			c, err := Open(t.Context(), p)
			switch {
			case errors.Is(err, ErrIncomplete):
				incomplete++
				continue
			case err != nil:
				t.Errorf("Open(%s) during a save: %v", filepath.Base(p), err)
				continue
			}
			if d := checkpointDigest(t, c); !slices.Contains(digests, d) {
				t.Errorf("Open(%s) during a save mixed two versions", filepath.Base(p))
			}
			opened++
			c.Close()
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d saves; %d opens whole, %d incomplete", saves, opened, incomplete)
	if saves < 2 || opened == 0 {
		t.Errorf("too little overlap to mean anything: %d saves, %d opens", saves, opened)
	}
}

// TestOpenFIFO: a named pipe where a file is expected fails at once,
// rather than blocking in open until a writer comes.
func TestOpenFIFO(t *testing.T) {
	tensors := ckptTensors(t, 4, 19)
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the path to open
		want  error                                 // a sentinel, or nil for kind IoError
	}{
		{"the path", func(t *testing.T, dir string) string { return mkfifo(t, filepath.Join(dir, "x.safetensors")) }, nil},
		{"a directory's only file", func(t *testing.T, dir string) string {
			mkfifo(t, filepath.Join(dir, "x.safetensors"))
			return dir
		}, nil},
		{"the index", func(t *testing.T, dir string) string {
			ckptGoodSet(tensors, 2).write(t, dir)
			os.Remove(filepath.Join(dir, DefaultIndexName))
			mkfifo(t, filepath.Join(dir, DefaultIndexName))
			return dir
		}, nil},
		{"a shard", func(t *testing.T, dir string) string {
			ckptGoodSet(tensors, 2).write(t, dir)
			os.Remove(filepath.Join(dir, "model-00002-of-00002.safetensors"))
			mkfifo(t, filepath.Join(dir, "model-00002-of-00002.safetensors"))
			return dir
		}, ErrShardMissing},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tc.setup(t, dir)
			done := make(chan error, 1)
			go func() {
				c, err := Open(context.Background(), path)
				if err == nil {
					c.Close()
				}
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				unblockFIFOs(dir)
				t.Fatal("Open blocks on a named pipe")
			}
			switch {
			case err == nil:
				t.Fatal("Open accepted a named pipe")
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Errorf("got %v, want %v", err, tc.want)
			case tc.want == nil && loader.Kind(err) != "IoError":
				t.Errorf("got kind %s (%v), want IoError", loader.Kind(err), err)
			}
			if !strings.Contains(err.Error(), "named pipe") {
				t.Errorf("the error does not say what the file is: %v", err)
			}
			t.Log(err)
		})
	}
}

func mkfifo(t *testing.T, path string) string {
	t.Helper()
	if err := unix.Mkfifo(path, 0o644); err != nil {
		t.Skip(err)
	}
	return path
}

// unblockFIFOs opens every named pipe in dir for writing, which lets an
// open blocked on reading one return.
func unblockFIFOs(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Type()&fs.ModeNamedPipe != 0 {
			if f, err := os.OpenFile(filepath.Join(dir, e.Name()), os.O_WRONLY, 0); err == nil {
				f.Close()
			}
		}
	}
}

// TestSaveShardedReplacesSingle: a sharded save over PREFIX.safetensors
// replaces it, as a single-file save over shards replaces them. Left
// beside the new shards, the old file would be another checkpoint of the
// same name, with the old weights — the one transformers' from_pretrained
// loads first — so the save retires it with the old index, before any
// shard moves in, and a failed save puts it back.
func TestSaveShardedReplacesSingle(t *testing.T) {
	oldTensors, newTensors := ckptTensors(t, 6, 20), ckptTensors(t, 6, 21)
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Save(ctx, dir, ckptSources(oldTensors)); err != nil {
		t.Fatal(err)
	}
	single := filepath.Join(dir, "model.safetensors")
	before, err := os.ReadFile(single)
	if err != nil {
		t.Fatal(err)
	}

	// A save that fails while moving its shards in leaves the old file.
	boom := errors.New("boom")
	failing, _ := failRename([]Option{WithMaxShardSize(150)}, 2, 2, boom)
	if _, err := Save(ctx, dir, ckptSources(newTensors), failing...); !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
	if got, err := os.ReadFile(single); err != nil || !bytes.Equal(got, before) {
		t.Fatalf("a failed save did not put %s back: %v", filepath.Base(single), err)
	}

	paths, err := Save(ctx, dir, ckptSources(newTensors), WithMaxShardSize(150))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	var want []string
	for _, p := range paths {
		want = append(want, filepath.Base(p))
	}
	slices.Sort(want)
	if len(want) < 3 || !slices.Equal(names, want) {
		t.Errorf("the directory holds %v, want only the new checkpoint %v", names, want)
	}
	if _, err := Open(ctx, single); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(%s) after the save: %v, want it gone", filepath.Base(single), err)
	}
	c, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ckptCheckTensors(t, c, newTensors)
}

// TestConcurrentSaves: saves of other versions and layouts (three
// shards, two, one file) into one directory at once, while readers open
// it. Every save succeeds; every open gets one version whole or
// ErrIncomplete; and at the end the directory holds exactly one
// checkpoint, whole, and nothing a save left.
func TestConcurrentSaves(t *testing.T) {
	versions := []map[string]loader.Data{killTensors(51), killTensors(52), killTensors(53)}
	var digests []string
	for _, v := range versions {
		digests = append(digests, killDigest(v))
	}
	layouts := []int64{three, two, one}
	dir := filepath.Join(t.TempDir(), "ckpt")
	var wg sync.WaitGroup
	var saving atomic.Int32
	for i := range versions {
		saving.Add(1)
		wg.Go(func() {
			defer saving.Add(-1)
			for j := range 6 {
				max := layouts[(i+j)%len(layouts)]
				if _, err := Save(context.Background(), dir, ckptSources(versions[i]), WithMaxShardSize(max)); err != nil {
					t.Errorf("save %d of version %d: %v", j, i, err)
					return
				}
			}
		})
	}
	var whole, incomplete int
	for saving.Load() > 0 {
		c, err := Open(context.Background(), dir)
		switch {
		case errors.Is(err, ErrIncomplete), errors.Is(err, fs.ErrNotExist), errors.Is(err, ErrNoCheckpoint):
			incomplete++ // (the directory may not exist yet, or be empty)
			continue
		case err != nil:
			t.Errorf("Open during the saves: %v", err)
			continue
		}
		if d := checkpointDigest(t, c); !slices.Contains(digests, d) {
			t.Errorf("Open during the saves got a mix of versions (%s)", c.Path())
		}
		whole++
		c.Close()
	}
	wg.Wait()
	t.Logf("opens during the saves: %d whole, %d incomplete", whole, incomplete)

	c, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if d := checkpointDigest(t, c); !slices.Contains(digests, d) {
		t.Error("the final checkpoint is a mix of versions")
	}
	var want []string
	for _, f := range c.Files() {
		want = append(want, filepath.Base(f.Name()))
	}
	if c.Sharded() {
		want = append(want, DefaultIndexName)
	}
	slices.Sort(want)
	var got []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, want) {
		t.Errorf("the directory holds %v, want only the checkpoint's files %v", got, want)
	}
}
