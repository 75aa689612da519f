package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/stload/stload/loader"
)

// What a save keeps in its destination directory while it works (see the
// package documentation for the protocol).
const (
	// stagePrefix begins the name of a staging folder,
	// DIR/.stload-shards-RANDOM, where a save writes its files in full
	// before moving them into DIR.
	stagePrefix = ".stload-shards-"
	// lockName is the file in a staging folder whose flock the save holds
	// for as long as it uses the folder: a folder whose lock nobody holds
	// was left by a save that was killed.
	lockName = ".lock"
	// asideDir is the folder in a staging folder where a save keeps the
	// files it replaces until its own are all in place. No staged file
	// has this name: they end in .safetensors or .json.
	asideDir = "replaced"
	// trashSuffix ends the name a cleaner gives a staging folder it has
	// claimed, before removing it. No save writes into a folder of that
	// name, so the removal cannot take the files of a save that made its
	// folder at the instant the cleaner claimed it; and a cleaner killed
	// while removing leaves a folder that is plainly a leftover.
	trashSuffix = ".removing"
)

var (
	// errLocked reports a lock that another open file holds.
	errLocked = errors.New("locked by another process")
	// errNoLocks reports a file system without flock.
	errNoLocks = errors.New("file locks are not available")
	// errClaimed reports a staging folder that a cleaner took for a
	// leftover before its save could lock it: the cleaner removes it, and
	// the save makes another.
	errClaimed = errors.New("staging folder claimed by a cleaner")
)

// saver carries out the filesystem steps of one Save or WriteFile into
// dir, announcing each to cfg's test hook before and after.
type saver struct {
	dir    string // the destination directory
	target string // what errors about the destination name: dir, or WriteFile's path
	cfg    *config
	stage  string      // the staging folder, once made
	lock   *os.File    // its lock file, flocked
	mode   fs.FileMode // a new file's permissions: 0666 less the umask
}

func newSaver(dir, target string, cfg *config) *saver {
	if cfg.rename == nil {
		cfg.rename = os.Rename
	}
	return &saver{dir: dir, target: target, cfg: cfg}
}

// step runs one filesystem step. The hook sees "before WHAT" and "after
// WHAT", WHAT naming the step without the random part of the staging
// folder's name, so that a test can stop the process at any of them.
func (s *saver) step(what string, fn func() error) error {
	s.point("before " + what)
	err := fn()
	s.point("after " + what)
	return err
}

func (s *saver) point(p string) {
	if s.cfg.hook != nil {
		s.cfg.hook(p)
	}
}

// syncDir makes the entries of the destination durable. Errors are
// ignored: some file systems cannot sync directories, and the files
// themselves are synced.
func (s *saver) syncDir() {
	s.step("fsync dir", func() error {
		if d, err := os.Open(s.dir); err == nil {
			d.Sync()
			d.Close()
		}
		return nil
	})
}

// openStage makes the staging folder and takes its lock. A cleaner (the
// start of another save) may find the folder between its creation and
// the lock's and claim it; the save then makes another.
func (s *saver) openStage() error {
	for try := 0; ; try++ {
		err := s.tryStage()
		if err != errClaimed || try == 4 {
			return err
		}
	}
}

func (s *saver) tryStage() error {
	var path string
	err := s.step("mkdir stage", func() (err error) {
		path, err = os.MkdirTemp(s.dir, stagePrefix+"*")
		return err
	})
	if err != nil {
		return &loader.Error{File: s.target, Cause: err}
	}
	lockPath := filepath.Join(path, lockName)
	var lock *os.File
	err = s.step("create stage/"+lockName, func() (err error) {
		// Created as os.Create creates files, so that its mode tells what
		// the umask leaves for new files.
		lock, err = os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE|os.O_EXCL|oNofollow, 0o666)
		return err
	})
	switch {
	case errors.Is(err, fs.ErrExist), errors.Is(err, fs.ErrNotExist):
		// A cleaner made the lock file first, or has already moved the
		// folder away to remove it.
		return errClaimed
	case err != nil:
		os.RemoveAll(path)
		return &loader.Error{File: s.target, Cause: err}
	}
	// Waiting: a reader may hold a shared lock for an instant, or a
	// cleaner that claimed the folder the exclusive one while it removes
	// it, which linked then reports.
	if err := lockFile(lock, true, true); err != nil && !errors.Is(err, errNoLocks) {
		lock.Close()
		os.RemoveAll(path)
		return &loader.Error{File: s.target, Cause: err}
	}
	fi, err := lock.Stat()
	if err != nil || !linked(lock, lockPath) {
		lock.Close()
		return errClaimed
	}
	s.stage, s.lock, s.mode = path, lock, fi.Mode().Perm()
	return nil
}

// linked reports whether the open file f is still the file at path: a
// cleaner removes a staging folder, lock file included, while holding its
// lock, so a lock taken after that is a lock on nothing.
func linked(f *os.File, path string) bool {
	a, err := stampOf(f)
	b, perr := stampPath(path)
	return err == nil && perr == nil && a == b
}

// closeStage removes the staging folder, unless keep, and lets go of its
// lock (removing the folder removes the lock file too, while it is held,
// so no cleaner can claim the folder half removed).
func (s *saver) closeStage(keep bool) {
	if !keep {
		s.step("remove stage", func() error { return os.RemoveAll(s.stage) })
		s.syncDir()
	}
	s.lock.Close()
}

// lockDir takes an flock on the destination directory itself, held while
// the files move into it: two saves to one directory write their files
// at the same time, but publish one after the other, so that their
// renames never interleave. It waits for another save's publish, as long
// as ctx lets it. Where the file system has no locks, it goes on without.
func (s *saver) lockDir(ctx context.Context) (unlock func(), err error) {
	d, err := os.Open(s.dir)
	if err != nil {
		return nil, &loader.Error{File: s.target, Cause: err}
	}
	for {
		switch err := lockFile(d, true, false); {
		case err == nil || errors.Is(err, errNoLocks):
			return func() { d.Close() }, nil
		case !errors.Is(err, errLocked):
			d.Close()
			return nil, &loader.Error{File: s.target, Cause: err}
		}
		select {
		case <-ctx.Done():
			d.Close()
			return nil, &loader.Error{File: s.target, Detail: "waiting for another save to the directory", Cause: ctx.Err()}
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// clean removes what killed saves left in the destination: staging
// folders whose lock nobody holds, and temporary files of
// [loader.CreateFile] (.NAME.tmp-*) for the names ours accepts that no
// writer holds locked. What it cannot claim, it leaves.
func (s *saver) clean(ours func(name string) bool) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		path := filepath.Join(s.dir, e.Name())
		switch {
		case isTrash(e.Name()) && e.IsDir():
			// Claimed by a cleaner that was killed, or that is still at
			// work: removing it twice at once does no harm.
			s.step("remove leftover stage", func() error { return os.RemoveAll(path) })
		case strings.HasPrefix(e.Name(), stagePrefix) && e.IsDir():
			s.removeLeftover(filepath.Join(path, lockName), path, os.O_RDWR|os.O_CREATE)
		case e.Type().IsRegular() && ours(tempTarget(e.Name())):
			s.removeLeftover(path, path, os.O_RDONLY|oNonblock)
		}
	}
}

// removeLeftover removes path, a staging folder or a temporary file, if
// it can take the exclusive lock of lockPath (its lock file, or itself)
// without waiting. Creating a missing lock file claims a folder whose
// save was killed before it made one, or that is being made this
// instant: that save then finds the lock file there and makes another
// folder.
func (s *saver) removeLeftover(lockPath, path string, flag int) {
	f, err := os.OpenFile(lockPath, flag|oNofollow, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	if !claim(f) || !linked(f, lockPath) {
		return
	}
	kind := leftoverKind(filepath.Base(path))
	if lockPath != path { // a staging folder: out of any save's way first
		trash := path + trashSuffix
		if s.step("rename leftover "+kind, func() error { return os.Rename(path, trash) }) != nil {
			return
		}
		path = trash
	}
	s.step("remove leftover "+kind, func() error { return os.RemoveAll(path) })
}

// claim takes the exclusive lock of f without waiting for its holder, but
// for a moment: a lock held for an instant is no save's — a reader
// checking it (see held), or a copy of some process's descriptor in a
// child it forks, until the child's exec closes it — and should not stop
// a leftover from being removed. A running save holds its lock for
// longer; it is left alone after some 150 ms.
func claim(f *os.File) bool {
	wait := 5 * time.Millisecond
	for try := 0; ; try++ {
		err := lockFile(f, true, false)
		if !errors.Is(err, errLocked) || try == 5 {
			return err == nil
		}
		time.Sleep(wait)
		wait *= 2
	}
}

// isTrash reports whether name is a staging folder a cleaner claimed.
func isTrash(name string) bool {
	return strings.HasPrefix(name, stagePrefix) && strings.HasSuffix(name, trashSuffix)
}

// leftoverKind names a leftover for the hook without its random part.
func leftoverKind(name string) string {
	if strings.HasPrefix(name, stagePrefix) {
		return "stage"
	}
	return "." + tempTarget(name) + ".tmp-*"
}

// tempTarget returns the file a temporary file of loader.CreateFile,
// .NAME.tmp-RANDOM, was to become, or "".
func tempTarget(name string) string {
	rest, ok := strings.CutPrefix(name, ".")
	i := strings.LastIndex(rest, ".tmp-")
	if !ok || i <= 0 {
		return ""
	}
	return rest[:i]
}

// held reports whether the file at path (a staging folder's lock file, or
// a temporary file) is locked by a running save. A missing file is not
// held. Where there are no locks, it cannot tell, and says held, so that
// a running save's files are never called leftovers.
func held(path string) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|oNofollow|oNonblock, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	err = lockFile(f, false, false)
	return err != nil
}

// present lists the files of the destination that ours accepts and that
// are not directories, with their permissions: the files a publish may
// replace, and whose modes the new files take.
type present map[string]fs.FileMode

func (s *saver) present(ours func(name string) bool) present {
	out := present{}
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		if !ours(e.Name()) || e.IsDir() {
			continue
		}
		mode := s.mode
		if fi, err := os.Stat(filepath.Join(s.dir, e.Name())); err == nil && fi.Mode().IsRegular() {
			mode = fi.Mode().Perm()
		}
		out[e.Name()] = mode
	}
	return out
}

// modeFor returns the permissions for a new file name: those of the file
// it replaces, else those of the first of others present (the index the
// shards follow, or the file they replace), else def, what the umask
// leaves.
func (p present) modeFor(name string, def fs.FileMode, others ...string) fs.FileMode {
	for _, n := range append([]string{name}, others...) {
		if m, ok := p[n]; ok {
			return m
		}
	}
	return def
}

// setModes gives each staged file its mode, and syncs the change.
func (s *saver) setModes(names []string, modeOf func(string) fs.FileMode) error {
	for _, name := range names {
		path := filepath.Join(s.stage, name)
		fi, err := os.Stat(path)
		if err != nil {
			return &loader.Error{File: filepath.Join(s.dir, name), Cause: err}
		}
		want := modeOf(name)
		if fi.Mode().Perm() == want {
			continue
		}
		err = s.step("chmod stage/"+name, func() error {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := f.Chmod(want); err != nil {
				return err
			}
			return f.Sync()
		})
		if err != nil {
			return &loader.Error{File: filepath.Join(s.dir, name), Cause: err}
		}
	}
	return nil
}

// publish moves the staged files into the destination: the shards (or
// the single file) in order, then index unless it is "". Before anything
// else it retires the destination's files named in retire that are there:
// the old index and, for a sharded save, the old single file of the same
// prefix. They are set aside into the staging folder, and the directory
// synced, so that no index is ever in the directory while the shards it
// names are being replaced or removed — even when the new index is the
// same, byte for byte (same names and shapes, other values), since that
// index over a mix of old and new shards would pass every check — and no
// old single file stays beside the new shards as a second checkpoint of
// the same name. With an index, files of the shards' names are set aside
// before the new ones move in, so that a failed rename can be undone; a
// single file is renamed over the old one in one step. The new index
// moves in last, after the shards are synced. The set-aside files are
// deleted with the staging folder once all is done.
//
// If a rename fails, the new files are taken out again and the old ones
// put back (the index last), which leaves the directory as it was. keep
// reports that putting an old file back failed too: the error says where
// the old files are, and the staging folder must not be removed.
func (s *saver) publish(shards []string, index string, retire []string, old present) (paths []string, keep bool, err error) {
	p := &publication{saver: s, aside: filepath.Join(s.stage, asideDir)}
	failed := func(name string, cause error) ([]string, bool, error) {
		final := filepath.Join(s.dir, name)
		return nil, s.undo(p.replaced, p.placed), s.failed(final, cause, p.replaced, p.placed)
	}
	retired := false
	for _, name := range retire {
		if _, ok := old[name]; ok {
			if err := p.setAside(name); err != nil {
				return failed(name, err)
			}
			retired = true
		}
	}
	if retired {
		s.syncDir()
	}
	for _, name := range shards {
		if _, ok := old[name]; ok && index != "" {
			if err := p.setAside(name); err != nil {
				return failed(name, err)
			}
		}
	}
	for _, name := range shards {
		if err := p.moveIn(name); err != nil {
			return failed(name, err)
		}
	}
	if index != "" {
		s.syncDir()
		if err := p.moveIn(index); err != nil {
			return failed(index, err)
		}
	}
	s.syncDir()
	return p.paths, false, nil
}

// publication is one publish in progress: what it has set aside and moved
// in so far, which is what undo needs to put the directory back.
type publication struct {
	*saver
	aside            string   // the staging folder's set-aside subfolder
	replaced, placed []string // names set aside, names moved in
	paths            []string // the destination paths moved in
}

// setAside moves the destination's file name into the set-aside folder
// (made on first use). A file removed meanwhile is nothing to replace.
func (p *publication) setAside(name string) error {
	if len(p.replaced) == 0 {
		if err := p.step("mkdir stage/"+asideDir, func() error { return os.Mkdir(p.aside, 0o700) }); err != nil {
			return err
		}
	}
	err := p.step("rename "+name+" to stage/"+asideDir, func() error {
		return p.cfg.rename(filepath.Join(p.dir, name), filepath.Join(p.aside, name))
	})
	if err == nil {
		p.replaced = append(p.replaced, name)
	} else if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return err
}

// moveIn renames the staged file name into the destination.
func (p *publication) moveIn(name string) error {
	err := p.step("rename stage/"+name+" to "+name, func() error {
		return p.cfg.rename(filepath.Join(p.stage, name), filepath.Join(p.dir, name))
	})
	if err == nil {
		p.placed = append(p.placed, name)
		p.paths = append(p.paths, filepath.Join(p.dir, name))
	}
	return err
}

// undo takes the files placed out of the destination again, last first,
// and puts those replaced back, the retired index last; it reports
// whether some could not be put back.
func (s *saver) undo(replaced, placed []string) (lost bool) {
	for _, name := range slices.Backward(placed) {
		p := filepath.Join(s.dir, name)
		if s.cfg.rename(p, filepath.Join(s.stage, name)) != nil {
			os.Remove(p)
		}
	}
	for _, name := range slices.Backward(replaced) {
		if s.cfg.rename(filepath.Join(s.stage, asideDir, name), filepath.Join(s.dir, name)) != nil {
			lost = true
		}
	}
	s.syncDir()
	return lost
}

// failed returns the error of a publish that failed at final, saying
// which replaced files could not be put back, if any.
func (s *saver) failed(final string, cause error, replaced, placed []string) error {
	e := &loader.Error{File: final, Cause: cause}
	var lost []string
	for _, name := range replaced {
		if _, err := os.Lstat(filepath.Join(s.stage, asideDir, name)); err == nil {
			lost = append(lost, name)
		}
	}
	if lost != nil {
		e.Detail = fmt.Sprintf("could not put back %s, replaced files kept in %s", strings.Join(lost, ", "), filepath.Join(s.stage, asideDir))
	}
	return e
}

// removeStale removes files of an earlier checkpoint that the new one
// makes wrong, once the new one is in place.
func (s *saver) removeStale(names []string) {
	for _, name := range names {
		s.step("remove "+name, func() error { return os.Remove(filepath.Join(s.dir, name)) })
	}
	if len(names) > 0 {
		s.syncDir()
	}
}
