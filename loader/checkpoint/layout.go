package checkpoint

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/stload/stload/loader"
)

// dirScan is what a directory holds, as far as choosing the checkpoint in
// it goes.
type dirScan struct {
	dir     string
	indexes []string // *.safetensors.index.json
	files   []string // other *.safetensors files
	// shards are the names of shards of a checkpoint of several
	// (PREFIX-0000k-of-0000M.safetensors, M > 1): k by PREFIX and M.
	shards map[shardSet][]int
	// Staging folders of running saves, and what killed saves left:
	// staging folders and temporary files, as base names.
	running, left []string
}

// shardSet names the shards of one sharded checkpoint.
type shardSet struct {
	prefix string
	of     int
}

func (s shardSet) index() string { return s.prefix + IndexSuffix }

// scanDir reads directory dir.
func scanDir(dir string) (*dirScan, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, &loader.Error{File: dir, Cause: err}
	}
	s := &dirScan{dir: dir, shards: map[shardSet][]int{}}
	for _, e := range entries {
		name := e.Name()
		switch {
		case isTrash(name) && e.IsDir():
			s.left = append(s.left, name)
		case strings.HasPrefix(name, stagePrefix) && e.IsDir():
			if held(filepath.Join(dir, name, lockName)) {
				s.running = append(s.running, name)
			} else {
				s.left = append(s.left, name)
			}
		case strings.HasSuffix(tempTarget(name), ".safetensors") || strings.HasSuffix(tempTarget(name), ".json"):
			if e.Type().IsRegular() && !held(filepath.Join(dir, name)) {
				s.left = append(s.left, name)
			}
		case strings.HasSuffix(name, IndexSuffix):
			s.indexes = append(s.indexes, name)
		case strings.HasSuffix(name, ".safetensors"):
			if prefix, k, of, ok := ParseShardName(name); ok && of != 1 {
				set := shardSet{prefix, of}
				s.shards[set] = append(s.shards[set], k)
				continue
			}
			s.files = append(s.files, name)
		}
	}
	return s, nil
}

// leftovers returns the paths of what killed saves left.
func (s *dirScan) leftovers() []string {
	var out []string
	for _, name := range s.left {
		out = append(out, filepath.Join(s.dir, name))
	}
	return out
}

// choose picks the file to open in the directory: its
// model.safetensors.index.json, else its only index, else its only
// .safetensors file. Shards of a checkpoint of several with no index are
// never taken for a checkpoint, nor guessed into one: without the index
// that is written last, they are what a save was interrupted in writing
// (or a copy in progress), and Open says so with ErrIncomplete.
func (s *dirScan) choose() (string, error) {
	switch {
	case slices.Contains(s.indexes, DefaultIndexName):
		return filepath.Join(s.dir, DefaultIndexName), nil
	case len(s.indexes) == 1:
		return filepath.Join(s.dir, s.indexes[0]), nil
	case len(s.indexes) > 1:
		return "", &loader.Error{File: s.dir, Err: ErrNoCheckpoint,
			Detail: fmt.Sprintf("%d index files (%s) and no %s; name the one to open", len(s.indexes), strings.Join(s.indexes, ", "), DefaultIndexName)}
	case len(s.shards) > 0:
		return "", s.incomplete(s.dir, nil)
	case len(s.files) == 1:
		return filepath.Join(s.dir, s.files[0]), nil
	case len(s.files) > 1:
		return "", &loader.Error{File: s.dir, Err: ErrNoCheckpoint,
			Detail: fmt.Sprintf("%d .safetensors files and no index file; name the file to open", len(s.files))}
	case len(s.running) > 0 || slices.ContainsFunc(s.left, isStage):
		return "", s.incomplete(s.dir, nil)
	}
	return "", &loader.Error{File: s.dir, Err: ErrNoCheckpoint, Detail: "no index file and no .safetensors file in the directory"}
}

// unfinished reports whether the directory shows a save that has not
// finished: a staging folder, or shards without their index.
func (s *dirScan) unfinished() bool {
	return len(s.shards) > 0 || len(s.running) > 0 || slices.ContainsFunc(s.left, isStage)
}

func isStage(name string) bool { return strings.HasPrefix(name, stagePrefix) }

// incomplete returns the ErrIncomplete error for what the directory
// holds, about file (the directory, or a path missing in it): which
// shards are there without an index, which staging folders, and what to
// do.
func (s *dirScan) incomplete(file string, cause error) *loader.Error {
	var parts []string
	for _, set := range slices.SortedFunc(maps.Keys(s.shards), func(a, b shardSet) int {
		return strings.Compare(a.prefix+"\x00"+strconv.Itoa(a.of), b.prefix+"\x00"+strconv.Itoa(b.of))
	}) {
		parts = append(parts, describeShards(set, s.shards[set]))
	}
	if len(s.shards) == 0 {
		parts = append(parts, "no checkpoint")
	}
	leftStages := 0
	for _, name := range s.running {
		parts = append(parts, name+" belongs to a save in progress")
	}
	for _, name := range s.left {
		if !isStage(name) {
			continue
		}
		leftStages++
		part := name + " was left by an interrupted save"
		if fi, err := os.Stat(filepath.Join(s.dir, name, asideDir)); err == nil && fi.IsDir() {
			part += " (the files it replaced are in " + filepath.Join(name, asideDir) + ")"
		}
		parts = append(parts, part)
	}
	todo := "save the checkpoint into " + s.dir + " again (the next save removes what an interrupted one left), or remove the partial files"
	if len(s.running) > 0 && leftStages == 0 {
		todo = "open it again once the save has finished"
	}
	return &loader.Error{File: file, Err: ErrIncomplete, Detail: strings.Join(parts, "; ") + ": " + todo, Cause: cause}
}

// describeShards says which shards of set are there: "2 of the 3 shards
// model-NNNNN-of-00003.safetensors (00002 missing) and no index
// model.safetensors.index.json".
func describeShards(set shardSet, have []int) string {
	pattern := fmt.Sprintf("%s-NNNNN-of-%05d.safetensors", set.prefix, set.of)
	var missing []string
	for k := 1; k <= set.of && len(missing) <= 5; k++ {
		if !slices.Contains(have, k) {
			missing = append(missing, fmt.Sprintf("%05d", k))
		}
	}
	if len(missing) == 0 && len(have) == set.of {
		return fmt.Sprintf("all %d shards %s but no index %s", set.of, pattern, set.index())
	}
	if len(missing) > 5 {
		missing[5] = "…"
	}
	return fmt.Sprintf("%d of the %d shards %s (%s missing) and no index %s", len(have), set.of, pattern, strings.Join(missing, ", "), set.index())
}

// missing reports a path that does not exist (err, from os.Stat): as
// ErrIncomplete when the directory it would be in shows a save that has
// not finished (it may be the index a save retired, or a shard not yet
// moved in), else as os.Open reports it.
func missing(path string, err error) error {
	err = asOpenError(err)
	if errors.Is(err, fs.ErrNotExist) {
		if s, serr := scanDir(filepath.Dir(path)); serr == nil && s.unfinished() {
			return s.incomplete(path, err)
		}
	}
	return &loader.Error{File: path, Cause: err}
}

// openRegular opens path for reading, and fails unless it is a regular
// file: without blocking on a named pipe, which a plain open would until
// a writer came, and before reading anything from a device.
func openRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|oNonblock, 0)
	if err != nil {
		return nil, &loader.Error{File: path, Cause: err}
	}
	if err := checkRegular(f, path, nil); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkRegular fails unless the open file f is a regular file; the error
// names where and wraps sentinel (nil: kind IoError).
func checkRegular(f *os.File, where string, sentinel error) error {
	fi, err := f.Stat()
	if err != nil {
		return &loader.Error{File: where, Err: sentinel, Cause: err}
	}
	if fi.Mode().IsRegular() {
		return nil
	}
	return &loader.Error{File: where, Err: sentinel, Detail: "the path is " + describeType(fi.Mode())}
}

// describeType names the type of a file that is not a regular one.
func describeType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "not a regular file but a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "not a regular file but a socket"
	case m&fs.ModeDevice != 0:
		return "not a regular file but a device"
	}
	return "not a regular file (" + m.Type().String() + ")"
}
