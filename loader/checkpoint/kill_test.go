//go:build unix

package checkpoint

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// The kill harness. A child process (this test binary, run again with
// killJobEnv set) saves a new checkpoint over an old one, and is killed
// with SIGKILL either at one of the save's filesystem steps — the hook
// of [config] names each before and after it happens, and the child kills
// itself at the chosen one — or by the parent after a random delay. The
// parent then checks what a reader sees (the old checkpoint, the new one
// or ErrIncomplete, tensor bytes compared by SHA-256), that a new save
// succeeds and leaves exactly what an uninterrupted run leaves, and that
// the new checkpoint then opens.
//
// go test runs every targeted point of every case and a few random kills;
// STLOAD_KILLS=N adds about N random kills spread over the cases.

// killJobEnv holds the child's job, as JSON.
const killJobEnv = "STLOAD_KILL_JOB"

// killJob is what the child is to do.
type killJob struct {
	Case   string
	Dir    string
	KillAt int // the hook point (from 1) to die at; 0: run to the end
}

// killCase is an old state of the destination and a save over it.
type killCase struct {
	name string
	// old writes the old checkpoint into dir (which does not exist yet),
	// or leaves the directory absent (nil).
	old func(t testing.TB, dir string)
	// save writes the new checkpoint with cfg's hook.
	save func(ctx context.Context, dir string, hook func(string)) error
	// fresh: there is no old checkpoint (a reader may find none).
	fresh bool
}

// Tensor sets: six 32-byte F32 tensors; the new set has the same names
// and shapes and other bytes, so that saves with the same shard limit
// give the same file names.
func killTensors(seed uint64) map[string]loader.Data {
	rng := rand.New(rand.NewPCG(seed, 2))
	out := map[string]loader.Data{}
	for i := range 6 {
		b := make([]byte, 32)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		out[fmt.Sprintf("layers.%d.weight", i)] = loader.Data{DType: dtype.F32, Shape: []uint64{8}, Bytes: b}
	}
	return out
}

var killOld, killNew = killTensors(41), killTensors(42)

// Shard limits: 64 gives three shards of two tensors, 96 two of three,
// 1000 one file.
const (
	three, two, one = 64, 96, 1000
)

func killSave(tensors map[string]loader.Data, max int64) func(ctx context.Context, dir string, hook func(string)) error {
	return func(ctx context.Context, dir string, hook func(string)) error {
		_, err := Save(ctx, dir, ckptSources(tensors), WithMaxShardSize(max), withHook(hook))
		return err
	}
}

func killWriteFile(tensors map[string]loader.Data) func(ctx context.Context, dir string, hook func(string)) error {
	return func(ctx context.Context, dir string, hook func(string)) error {
		cfg := newConfig([]Option{withHook(hook)})
		return writeFile(ctx, filepath.Join(dir, "model.safetensors"), ckptSources(tensors), nil, &cfg)
	}
}

// withHook sets the test hook.
func withHook(hook func(string)) Option { return func(c *config) { c.hook = hook } }

func killOldSave(max int64) func(t testing.TB, dir string) {
	return func(t testing.TB, dir string) {
		if err := killSave(killOld, max)(context.Background(), dir, nil); err != nil {
			t.Fatal(err)
		}
	}
}

var killCases = []killCase{
	{name: "fresh-sharded", fresh: true, old: nil, save: killSave(killNew, three)},
	{name: "sharded-sharded-same", old: killOldSave(three), save: killSave(killNew, three)},
	{name: "sharded3-sharded2", old: killOldSave(three), save: killSave(killNew, two)},
	{name: "single-sharded", old: killOldSave(one), save: killSave(killNew, three)},
	{name: "sharded-single", old: killOldSave(three), save: killSave(killNew, one)},
	{name: "single-single", old: killOldSave(one), save: killSave(killNew, one)},
	{name: "fresh-single", fresh: true, old: nil, save: killSave(killNew, one)},
	// What two killed saves left, for the save to clean up: a staging
	// folder (its lock free) and a temporary file.
	{name: "leftovers-sharded", old: func(t testing.TB, dir string) {
		killOldSave(three)(t, dir)
		stageFolder(t, dir, "dead", false, false)
		lockedTemp(t, filepath.Join(dir, ".model.safetensors.tmp-1"), false)
	}, save: killSave(killNew, two)},
	{name: "writefile-fresh", fresh: true, old: func(t testing.TB, dir string) { os.Mkdir(dir, 0o755) }, save: killWriteFile(killNew)},
	{name: "writefile-replace", old: func(t testing.TB, dir string) {
		os.Mkdir(dir, 0o755)
		if err := killWriteFile(killOld)(context.Background(), dir, nil); err != nil {
			t.Fatal(err)
		}
	}, save: killWriteFile(killNew)},
}

func killCaseNamed(name string) (killCase, bool) {
	for _, c := range killCases {
		if c.name == name {
			return c, true
		}
	}
	return killCase{}, false
}

// TestKillChild is the child's side of the harness: it runs only with
// killJobEnv set. It reports "started" and each hook point on fd 3, and
// at the chosen point kills itself.
func TestKillChild(t *testing.T) {
	env := os.Getenv(killJobEnv)
	if env == "" {
		t.Skip("the child of TestSaveKills")
	}
	var job killJob
	if err := json.Unmarshal([]byte(env), &job); err != nil {
		t.Fatal(err)
	}
	kc, ok := killCaseNamed(job.Case)
	if !ok {
		t.Fatalf("no case %q", job.Case)
	}
	report := os.NewFile(3, "report")
	fmt.Fprintln(report, "started")
	n := 0
	hook := func(point string) {
		if n++; n == job.KillAt {
			fmt.Fprintln(report, point)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
	if err := kc.save(context.Background(), job.Dir, hook); err != nil {
		t.Fatal(err)
	}
	if job.KillAt > 0 {
		t.Fatalf("the save ended after %d points, before point %d", n, job.KillAt)
	}
}

// killExpect is what the harness compares a reader's view with.
type killExpect struct {
	oldDigest, newDigest string
	oldFiles, newFiles   map[string][]byte // file name -> contents, of the old state and the final one
	final                map[string][]byte // ckptSnapshot of an uninterrupted run
	points               []string
	duration             time.Duration // of an uninterrupted save
}

// killStats counts outcomes across the parallel cases, by how the child
// was killed ("targeted" or "random").
type killStats struct {
	mu       sync.Mutex
	outcomes map[string]map[string]int // old, new, incomplete; "completed" for a random kill that came too late
	kills    map[string]int
}

func (s *killStats) add(how, outcome string, killed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.outcomes[how] == nil {
		s.outcomes[how] = map[string]int{}
	}
	s.outcomes[how][outcome]++
	if killed {
		s.kills[how]++
	}
}

// TestSaveKills runs the kill harness; see the comment at killJobEnv.
func TestSaveKills(t *testing.T) {
	if os.Getenv(killJobEnv) != "" {
		t.Skip("in the child")
	}
	random := 2
	if n, err := strconv.Atoi(os.Getenv("STLOAD_KILLS")); err == nil && n > 0 {
		random = (n + len(killCases) - 1) / len(killCases)
	}
	stats := &killStats{outcomes: map[string]map[string]int{}, kills: map[string]int{}}
	t.Run("cases", func(t *testing.T) {
		for _, kc := range killCases {
			t.Run(kc.name, func(t *testing.T) {
				t.Parallel()
				exp := killExpectations(t, kc)
				for k := 1; k <= len(exp.points); k++ {
					dir := killSetup(t, kc)
					r := killRun(t, kc, dir, k, 0)
					if !r.killed || r.point != exp.points[k-1] {
						t.Fatalf("point %d: child killed %v at %q, want %q", k, r.killed, r.point, exp.points[k-1])
					}
					stats.add("targeted", killCheck(t, kc, dir, exp, exp.points[k-1]), true)
				}
				// Random delays up to how long the child takes from its
				// start to its end, when not killed.
				span := killRun(t, kc, killSetup(t, kc), 0, -1).took
				rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
				for range random {
					dir := killSetup(t, kc)
					delay := time.Duration(rng.Int64N(int64(span) + 1))
					killed := killRun(t, kc, dir, 0, delay).killed
					outcome := killCheck(t, kc, dir, exp, fmt.Sprintf("after %v", delay))
					if !killed {
						outcome = "completed"
					}
					stats.add("random", outcome, killed)
				}
			})
		}
	})
	for _, how := range []string{"targeted", "random"} {
		t.Logf("%s: %d kills; outcomes %v", how, stats.kills[how], stats.outcomes[how])
	}
	if stats.kills["targeted"] == 0 && !t.Failed() {
		t.Error("no child was killed")
	}
}

// killSetup returns a new destination holding kc's old state.
func killSetup(t *testing.T, kc killCase) string {
	dir := filepath.Join(t.TempDir(), "ckpt")
	if kc.old != nil {
		kc.old(t, dir)
	}
	return dir
}

// killExpectations runs kc uninterrupted, in this process, and records
// its hook points, what it leaves and the digests to compare with.
func killExpectations(t *testing.T, kc killCase) *killExpect {
	exp := &killExpect{oldDigest: killDigest(killOld), newDigest: killDigest(killNew)}
	dir := killSetup(t, kc)
	exp.oldFiles = killFiles(dir)
	start := time.Now()
	if err := kc.save(context.Background(), dir, func(p string) { exp.points = append(exp.points, p) }); err != nil {
		t.Fatal(err)
	}
	exp.duration = time.Since(start)
	exp.final = ckptSnapshot(t, dir)
	exp.newFiles = killFiles(dir)
	if len(exp.points) == 0 {
		t.Fatal("the save has no hook points")
	}
	t.Logf("%d points, the save takes %v: %s", len(exp.points), exp.duration, strings.Join(exp.points, "; "))
	return exp
}

// killFiles returns the regular files directly in dir, but for hidden
// ones (leftovers, not files of a checkpoint).
func killFiles(dir string) map[string][]byte {
	out := map[string][]byte{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			out[e.Name()] = b
		}
	}
	return out
}

// killResult is how a child ended.
type killResult struct {
	point  string        // the hook point it reported dying at
	killed bool          // whether it died of SIGKILL
	took   time.Duration // from its start to its end
}

// killRun runs the child on dir: killed at hook point killAt, or by this
// process after delay (never, if delay < 0).
func killRun(t *testing.T, kc killCase, dir string, killAt int, delay time.Duration) killResult {
	job, _ := json.Marshal(killJob{Case: kc.name, Dir: dir, KillAt: killAt})
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killJobEnv+"="+string(job))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd.ExtraFiles = []*os.File{w}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	lines := bufio.NewReader(r)
	if first, _ := lines.ReadString('\n'); first != "started\n" {
		cmd.Wait()
		t.Fatalf("the child did not start: %q\n%s", first, out.String())
	}
	start := time.Now()
	if killAt == 0 && delay >= 0 {
		time.Sleep(delay)
		cmd.Process.Kill()
	}
	rest, _ := io.ReadAll(lines)
	err = cmd.Wait()
	res := killResult{point: strings.TrimSuffix(string(rest), "\n"), took: time.Since(start)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			res.killed = true
			return res
		}
	}
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out.String())
	}
	return res
}

// killCheck checks what readers see in dir after a kill (at is where,
// for messages) and returns the outcome; then it saves again and checks
// the result.
func killCheck(t *testing.T, kc killCase, dir string, exp *killExpect, at string) string {
	t.Helper()
	outcome := killOpenDir(t, dir, exp, kc.fresh, at)
	// Every file of the old and the new checkpoint, opened by its path.
	for _, name := range slices.Sorted(maps.Keys(mergeKeys(exp.oldFiles, exp.newFiles))) {
		killOpenFile(t, filepath.Join(dir, name), exp.oldFiles[name], exp.newFiles[name], exp, at)
	}
	if t.Failed() {
		t.Logf("directory after the kill %s: %v", at, slices.Sorted(maps.Keys(ckptSnapshot(t, dir))))
		t.FailNow()
	}
	// The next save finishes the job and leaves what an uninterrupted
	// one does: no staging folder, no temporary file.
	if err := kc.save(context.Background(), dir, nil); err != nil {
		t.Fatalf("killed %s: the next save: %v", at, err)
	}
	if got := ckptSnapshot(t, dir); !reflect.DeepEqual(got, exp.final) {
		t.Fatalf("killed %s: the next save leaves %v, want %v", at, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(exp.final)))
	}
	c, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("killed %s: after the next save: %v", at, err)
	}
	defer c.Close()
	if d := checkpointDigest(t, c); d != exp.newDigest {
		t.Fatalf("killed %s: after the next save Open gives other tensors", at)
	}
	if l := c.Leftovers(); len(l) != 0 {
		t.Fatalf("killed %s: after the next save Leftovers is %v", at, l)
	}
	return outcome
}

func mergeKeys(a, b map[string][]byte) map[string][]byte {
	m := maps.Clone(a)
	maps.Copy(m, b)
	return m
}

// killOpenDir opens dir and classifies what it gets.
func killOpenDir(t *testing.T, dir string, exp *killExpect, fresh bool, at string) string {
	c, err := Open(context.Background(), dir)
	switch {
	case err == nil:
		defer c.Close()
		switch checkpointDigest(t, c) {
		case exp.oldDigest:
			return "old"
		case exp.newDigest:
			return "new"
		}
		t.Errorf("killed %s: Open(dir) accepted a checkpoint that is neither the old nor the new one (%d tensors, %s)", at, c.Len(), c.Path())
		return "mixed"
	case errors.Is(err, ErrIncomplete):
		var e *loader.Error
		if !errors.As(err, &e) || e.File != dir || !strings.Contains(err.Error(), "save") {
			t.Errorf("killed %s: ErrIncomplete does not name the directory and say what to do: %v", at, err)
		}
		return "incomplete"
	case fresh && (errors.Is(err, ErrNoCheckpoint) || errors.Is(err, fs.ErrNotExist)):
		return "old"
	}
	t.Errorf("killed %s: Open(dir): %v", at, err)
	return "error"
}

// killOpenFile opens one file of the old or new checkpoint by its path:
// it must be the old file whole, the new one whole, missing, or
// ErrIncomplete.
func killOpenFile(t *testing.T, path string, old, new []byte, exp *killExpect, at string) {
	c, err := Open(context.Background(), path)
	if err != nil {
		if !errors.Is(err, ErrIncomplete) && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("killed %s: Open(%s): %v", at, filepath.Base(path), err)
		}
		return
	}
	defer c.Close()
	if c.Sharded() {
		if d := checkpointDigest(t, c); d != exp.oldDigest && d != exp.newDigest {
			t.Errorf("killed %s: Open(%s) accepted a checkpoint that is neither the old nor the new one", at, filepath.Base(path))
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil || !(old != nil && string(b) == string(old) || new != nil && string(b) == string(new)) {
		t.Errorf("killed %s: %s is neither the old nor the new file: %v", at, filepath.Base(path), err)
	}
}

// checkpointDigest hashes every tensor of c: name, type, shape and bytes.
func checkpointDigest(t *testing.T, c *Checkpoint) string {
	m := map[string]loader.Data{}
	for name, tensor := range c.Tensors() {
		b, err := tensor.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		m[name] = loader.Data{DType: tensor.DType, Shape: tensor.Shape, Bytes: b}
	}
	return killDigest(m)
}

func killDigest(tensors map[string]loader.Data) string {
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(tensors)) {
		d := tensors[name]
		fmt.Fprintf(h, "%q %v %v %d\n", name, d.DType, d.Shape, len(d.Bytes))
		h.Write(d.Bytes)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
