package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/internal/tensorindex"
)

// shardSource opens the shards an index names.
type shardSource interface {
	// where returns the path or URL of a shard, for error messages.
	where(name string) string
	// open opens and validates the named shard, whose name is clean and
	// local, and returns what the File reads through, which the
	// checkpoint closes after it.
	open(ctx context.Context, name string, cfg *config) (*loader.File, io.Closer, error)
}

// assemble opens the shards of idx from src and checks them against it.
func assemble(ctx context.Context, indexPath string, idx *index, src shardSource, cfg config) (*Checkpoint, error) {
	names, err := shardNames(indexPath, idx)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{path: indexPath, index: true, meta: idx.meta}
	if c.shards, c.closers, err = openShards(ctx, names, src, &cfg); err != nil {
		return nil, err
	}
	if err := c.link(names, idx, src); err != nil {
		c.Close()
		return nil, err
	}
	if !cfg.lenient {
		if err := c.checkTotal(idx); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// shardNames checks every shard name of idx before any file is touched,
// cleans the names (so that "a" and "./a" are one shard) and returns them
// sorted, which for transformers' names is their numbered order.
func shardNames(indexPath string, idx *index) ([]string, error) {
	set := map[string]bool{}
	for _, tensor := range slices.Sorted(maps.Keys(idx.weightMap)) {
		name := idx.weightMap[tensor]
		if name == "" {
			return nil, &loader.Error{File: indexPath, Tensor: tensor, Err: ErrInvalidIndex, Detail: "weight_map gives an empty file name"}
		}
		if !localName(name) {
			return nil, &loader.Error{File: indexPath, Tensor: tensor, Err: ErrInsecurePath,
				Detail: fmt.Sprintf("weight_map names %q, which is not a path inside the checkpoint directory", name)}
		}
		clean := path.Clean(name)
		idx.weightMap[tensor] = clean
		set[clean] = true
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// localName reports whether a weight_map file name stays inside the
// directory lexically: relative and without "..". A backslash is refused
// too, since Windows reads it as a separator.
func localName(name string) bool {
	return filepath.IsLocal(name) && !strings.ContainsAny(name, "\\\x00")
}

// openShards opens the named shards, a few at a time, and returns them in
// the order of names. On failure it closes those it opened and reports the
// error of the first failing shard in that order, so that the error does
// not depend on timing.
func openShards(ctx context.Context, names []string, src shardSource, cfg *config) ([]*loader.File, []io.Closer, error) {
	shards := make([]*loader.File, len(names))
	closers := make([]io.Closer, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, shardConcurrency)
	var wg sync.WaitGroup
	for i, name := range names {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if errs[i] = ctx.Err(); errs[i] == nil {
				shards[i], closers[i], errs[i] = src.open(ctx, name, cfg)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			for i, f := range shards {
				if f != nil {
					f.Close()
					closers[i].Close()
				}
			}
			return nil, nil, err
		}
	}
	return shards, closers, nil
}

// link maps every tensor to its shard and checks that weight_map says the
// same. All problems are found; the first, in name order, is reported with
// the number of others.
func (c *Checkpoint) link(names []string, idx *index, src shardSource) error {
	var problems []*loader.Error
	owner, dups := tensorindex.New(c.shards)
	c.owner = owner
	for _, d := range dups {
		problems = append(problems, &loader.Error{File: c.shards[d.Second].Name(), Tensor: d.Name, Err: ErrWeightMap,
			Detail: fmt.Sprintf("the tensor is in two shards, %s and %s", names[d.First], names[d.Second])})
	}
	for i, f := range c.shards {
		for name, t := range f.Tensors() {
			c.size += t.End - t.Begin
			if len(dups) > 0 {
				if j, _ := owner.Find(name); j != i {
					continue // a second copy, reported above
				}
			}
			switch listed, ok := idx.weightMap[name]; {
			case !ok:
				problems = append(problems, &loader.Error{File: f.Name(), Tensor: name, Err: ErrWeightMap,
					Detail: fmt.Sprintf("the tensor is in %s but not listed in weight_map", names[i])})
			case listed != names[i]:
				problems = append(problems, &loader.Error{File: f.Name(), Tensor: name, Err: ErrWeightMap,
					Detail: fmt.Sprintf("the tensor is in %s but weight_map lists it for %s", names[i], listed)})
			}
		}
	}
	for tensor, name := range idx.weightMap {
		if _, ok := owner.Find(tensor); !ok {
			problems = append(problems, &loader.Error{File: src.where(name), Tensor: tensor, Err: ErrWeightMap,
				Detail: fmt.Sprintf("weight_map lists the tensor for %s, which does not hold it", name)})
		}
	}
	if len(problems) == 0 {
		return nil
	}
	slices.SortFunc(problems, func(a, b *loader.Error) int {
		return strings.Compare(a.Tensor+"\x00"+a.File, b.Tensor+"\x00"+b.File)
	})
	if n := len(problems) - 1; n > 0 {
		problems[0].Detail += fmt.Sprintf(" (and %d more weight_map problem%s)", n, plural(n))
	}
	return problems[0]
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// checkTotal compares metadata.total_size with the tensor bytes. Writers
// that counted a bool as 1/8 byte wrote a fractional total; any value
// that is not the exact integer fails.
func (c *Checkpoint) checkTotal(idx *index) error {
	if idx.totalSize == nil {
		return nil
	}
	s := idx.totalSize.String()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Python writes an integral float as "123.0".
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return &loader.Error{File: c.path, Err: ErrInvalidIndex,
				Detail: fmt.Sprintf("metadata.total_size is %s, not a whole number of bytes", s)}
		}
		n = int64(f)
	}
	if n != c.size {
		return &loader.Error{File: c.path, Err: ErrInvalidIndex,
			Detail: fmt.Sprintf("metadata.total_size is %d but the shards hold %d bytes of tensor data", n, c.size)}
	}
	return nil
}

// localShards opens shards from a directory through an os.Root.
type localShards struct {
	dir    string   // the index's directory, as given
	root   *os.Root // the directory, or the cache repository above it
	prefix string   // the path of dir inside root, with a trailing slash
}

// newLocalShards opens the root for shards of an index in dir.
func newLocalShards(dir string) (*localShards, error) {
	rootDir, prefix := dir, ""
	if repo, rel, ok := hfCacheRepo(dir); ok {
		rootDir, prefix = repo, rel+"/"
	}
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		return nil, &loader.Error{File: rootDir, Cause: err}
	}
	return &localShards{dir: dir, root: root, prefix: prefix}, nil
}

// hfCacheRepo recognises a Hugging Face cache snapshot directory,
// REPO/snapshots/REV, whose files are links into REPO/blobs, and returns
// REPO and "snapshots/REV".
func hfCacheRepo(dir string) (repo, rel string, ok bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", false
	}
	snapshots := filepath.Dir(abs)
	if filepath.Base(snapshots) != "snapshots" {
		return "", "", false
	}
	repo = filepath.Dir(snapshots)
	if fi, err := os.Stat(filepath.Join(repo, "blobs")); err != nil || !fi.IsDir() {
		return "", "", false
	}
	return repo, "snapshots/" + filepath.Base(abs), true
}

func (s *localShards) close() { s.root.Close() }

func (s *localShards) where(name string) string {
	return filepath.Join(s.dir, filepath.FromSlash(name))
}

func (s *localShards) open(_ context.Context, name string, cfg *config) (*loader.File, io.Closer, error) {
	where := s.where(name)
	rel := s.prefix + name
	// Without blocking on a named pipe; and nothing is read from a file
	// that is not a regular one.
	osf, err := s.root.OpenFile(rel, os.O_RDONLY|oNonblock, 0)
	if err != nil {
		return nil, nil, rootError(where, err)
	}
	if err := checkRegular(osf, where, ErrShardMissing); err != nil {
		osf.Close()
		return nil, nil, err
	}
	// The root names the file by its path inside the root, which for a
	// cache snapshot or the current directory is not the path users gave.
	osf = renamed(osf, where)
	fi, err := osf.Stat()
	if err != nil {
		osf.Close()
		return nil, nil, &loader.Error{File: where, Cause: err}
	}
	f, err := loader.NewReader(osf, fi.Size(), cfg.loaderOpts...)
	if err != nil {
		osf.Close()
		return nil, nil, err
	}
	return f, osf, nil
}

// rootError classifies an error from os.Root. The root reports a path
// that leaves it with an unexported error, recognisable only by its text.
func rootError(where string, err error) error {
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe) && pe.Err.Error() == "path escapes from parent":
		return &loader.Error{File: where, Err: ErrInsecurePath, Detail: "a symbolic link leads out of the checkpoint directory"}
	case errors.As(err, &pe):
		err = pe.Err // where already says which file
	}
	if errors.Is(err, fs.ErrNotExist) {
		return &loader.Error{File: where, Err: ErrShardMissing, Cause: err}
	}
	return &loader.Error{File: where, Cause: err}
}
