package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/httprange"
	"github.com/stload/stload/loader/internal/tensorindex"
)

// kinded is the type of the package's sentinel errors: a message, and the
// name [loader.Kind] reports for it.
type kinded struct{ msg, kind string }

func (e *kinded) Error() string { return e.msg }
func (e *kinded) Kind() string  { return e.kind }

// Sentinel errors of checkpoints. They come wrapped in a [*loader.Error]
// naming the index or shard file and, where one is concerned, the tensor.
var (
	// ErrNoCheckpoint reports a directory given to [Open] that holds no
	// checkpoint, or several with nothing to choose between them.
	ErrNoCheckpoint error = &kinded{"no single checkpoint found", "NoCheckpoint"}
	// ErrInvalidIndex reports an index file that is not the JSON
	// transformers writes: malformed, without a weight_map, with values of
	// the wrong type, or with a metadata.total_size that disagrees with the
	// shards.
	ErrInvalidIndex error = &kinded{"invalid checkpoint index", "InvalidIndex"}
	// ErrShardMissing reports a shard named by the index that does not
	// exist, or is not a regular file.
	ErrShardMissing error = &kinded{"shard file missing", "ShardMissing"}
	// ErrWeightMap reports a weight_map that disagrees with the shards'
	// headers: a tensor listed but absent from its shard, present in a
	// shard but not listed (or listed for another shard), or present in
	// two shards.
	ErrWeightMap error = &kinded{"weight_map does not match the shards", "WeightMapMismatch"}
	// ErrInsecurePath reports a shard name that would resolve outside the
	// checkpoint directory: an absolute path, a path through "..", or a
	// symbolic link that leads out.
	ErrInsecurePath error = &kinded{"shard path escapes the checkpoint directory", "InsecurePath"}
	// ErrIncomplete reports a checkpoint that a save has not finished (or
	// finished publishing while it was being opened): shards of a sharded
	// checkpoint with no index, which a save moves in last; a staging
	// folder (.stload-shards-*) of a save in progress, or of one that was
	// killed, with no checkpoint beside it; an index or shard missing from
	// a directory that holds such leftovers; or an index replaced again and
	// again while Open read the shards it names. The error's Detail names
	// what is there and says what to do: open again after the save, or
	// save again (which removes what a killed save left).
	ErrIncomplete error = &kinded{"incomplete checkpoint", "IncompleteCheckpoint"}
)

// IndexSuffix ends the name of every index file, and DefaultIndexName is
// the one transformers writes and loads.
const (
	IndexSuffix      = ".safetensors.index.json"
	DefaultIndexName = "model" + IndexSuffix
)

// shardConcurrency bounds the shards opened at once: enough to overlap
// remote round trips or header parsing, few enough not to exhaust file
// descriptors or connections while opening.
const shardConcurrency = 8

// maxIndexSize bounds the size of an index file, which is read into
// memory whole: the reference's limit on a header, which an index lists
// fewer bytes per tensor than.
const maxIndexSize = 100_000_000

// Checkpoint is a model stored as one safetensors file or as several
// shards listed by a transformers-style index file
// (model.safetensors.index.json), seen as one set of tensors. Every shard
// is an open [loader.File]; a tensor is read from the shard that holds
// it. Its methods are safe for concurrent use.
type Checkpoint struct {
	path      string             // index file, or the single file
	index     bool               // whether path is an index
	meta      map[string]string  // index metadata, or the file's __metadata__
	shards    []*loader.File     // in shard-name order
	closers   []io.Closer        // what the shards read through, to close after them
	owner     *tensorindex.Index // finds a tensor's shard; nil for one file, whose own index does
	size      int64              // bytes of tensor data in all shards
	leftovers []string           // what killed saves left beside it

	closeOnce sync.Once
	closeErr  error
}

// Open opens and validates a checkpoint from any of these:
//
//   - a safetensors file, as a checkpoint of one shard, opened as
//     [loader.Open] opens it (so its errors are the same);
//   - an index file (name ending in ".json"): every shard its weight_map
//     names is opened, relative to the index's directory;
//   - a directory: its model.safetensors.index.json, else its only
//     *.safetensors.index.json, else its only *.safetensors file; a
//     directory with none or several fails with [ErrNoCheckpoint]. Shards
//     of a sharded checkpoint (PREFIX-0000k-of-0000M.safetensors, M > 1)
//     without an index are never opened as a checkpoint, complete or not:
//     they fail with [ErrIncomplete], as does a directory whose only
//     content is the staging folder of a save;
//   - an http:// or https:// URL of a safetensors file or of an index
//     file (a path ending in ".json"), read with range requests through
//     [httprange.Open]: an index's shards are fetched from the same
//     directory of the server, keeping the index URL's query, and a shard
//     the server answers with 404 or 410 is [ErrShardMissing]. A server
//     cannot list a directory, so a directory URL is not accepted.
//
// Each shard is opened with the options of [WithLoaderOptions] (and, for
// a URL, [WithHTTPOptions]) and fully validated. The index is then
// checked against the shards' headers: every tensor in weight_map must be
// in the shard named for it, every tensor of every shard must be listed,
// and no tensor may be in two shards ([ErrWeightMap]), nor be listed
// twice; a metadata.total_size, when present, must equal the bytes of
// tensor data in the shards ([ErrInvalidIndex]; transformers computes it
// as the sum of element count × element size over the tensors it saves,
// not from file sizes). [WithLenient] skips the total_size check
// (transformers never reads it, and some published indexes got it wrong)
// and lets a tensor listed twice in weight_map take its last entry.
//
// Shard names are resolved with an [os.Root] at the index's directory, so
// a name that is absolute, goes through "..", or reaches a symbolic link
// pointing out of the directory fails with [ErrInsecurePath] instead of
// opening a file elsewhere. In a Hugging Face cache snapshot
// (…/snapshots/REV/ beside …/blobs/), where every file is a link to
// ../../blobs/, the root is the repository directory that holds both. On a
// server, a name that leaves the index's directory is refused the same
// way, before any request.
//
// A file that is not a regular file (a named pipe, a device) fails at
// once, with kind IoError or, as a shard, [ErrShardMissing].
//
// Open never takes part of a checkpoint for the whole while [Save] or
// [WriteFile] replaces it, in this process or another, nor after a save
// was killed at any point: it gets the old checkpoint whole, the new one
// whole, or [ErrIncomplete]. When the index it went by is replaced while
// it opens the shards, it starts again (a few times, then fails with
// ErrIncomplete). What killed saves left beside a checkpoint that is
// whole is reported by [Checkpoint.Leftovers].
//
// The index file may be at most 100 MB. ctx bounds the opening: the
// requests it makes, and the shards it starts opening; reads of a remote
// checkpoint's tensors later are bounded by the HTTP options and by Close.
func Open(ctx context.Context, path string, opts ...Option) (*Checkpoint, error) {
	cfg := newConfig(opts)
	if httprange.IsURL(path) {
		return openURL(ctx, path, cfg)
	}
	for try := 1; ; try++ {
		c, changed, err := openLocal(ctx, path, cfg)
		if !changed {
			return c, err
		}
		if try == openTries {
			return nil, &loader.Error{File: path, Err: ErrIncomplete,
				Detail: fmt.Sprintf("the index changed %d times while its shards were being opened: a save is replacing the checkpoint; open it again once the save has finished", try)}
		}
	}
}

// openTries is how many times Open opens a local checkpoint whose index
// is replaced meanwhile.
const openTries = 3

// openLocal opens a checkpoint on disk. changed reports that the index it
// went by was replaced while it opened the shards (c is then nil): a save
// may have replaced some of them too.
func openLocal(ctx context.Context, path string, cfg config) (c *Checkpoint, changed bool, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, false, missing(path, err)
	}
	var scan *dirScan
	if fi.IsDir() {
		if scan, err = scanDir(path); err != nil {
			return nil, false, err
		}
		if path, err = scan.choose(); err != nil {
			return nil, false, err
		}
	}
	if !strings.HasSuffix(path, ".json") {
		c, err := openSingle(path, cfg)
		if err == nil && scan != nil {
			c.leftovers = scan.leftovers()
		}
		return c, false, err
	}
	c, changed, err = openIndex(ctx, path, cfg)
	if c != nil {
		if scan == nil {
			scan, _ = scanDir(filepath.Dir(path))
		}
		if scan != nil {
			c.leftovers = scan.leftovers()
		}
	}
	return c, changed, err
}

// openSingle opens a safetensors file as a checkpoint of one file.
func openSingle(path string, cfg config) (*Checkpoint, error) {
	osf, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	fi, err := osf.Stat()
	if err != nil {
		osf.Close()
		return nil, &loader.Error{File: path, Cause: err}
	}
	f, err := loader.NewReader(osf, fi.Size(), cfg.loaderOpts...)
	if err != nil {
		osf.Close()
		return nil, err
	}
	return single(f, osf), nil
}

// openIndex opens the index file at path and its shards. changed reports
// that the file at path is no longer the index that was read once the
// shards are open (or failed to open): a save retires the index before it
// replaces any shard and puts the new one in last, so an index unchanged
// from before the shards were opened to after means none of them was
// replaced in between.
func openIndex(ctx context.Context, path string, cfg config) (c *Checkpoint, changed bool, err error) {
	f, err := openRegular(path)
	if err != nil {
		// Gone since the Stat: retired by a save.
		return nil, errors.Is(err, fs.ErrNotExist), err
	}
	before, serr := stampOf(f)
	b, err := readLimited(f, path, maxIndexSize)
	f.Close()
	if err != nil {
		return nil, false, err
	}
	idx, perr := parseIndex(b, cfg.lenient)
	if perr != nil {
		perr.File = path
		return nil, false, perr
	}
	src, err := newLocalShards(filepath.Dir(path))
	if err != nil {
		return nil, false, err
	}
	defer src.close()
	c, err = assemble(ctx, path, idx, src, cfg)
	if after, aerr := stampPath(path); serr == nil && (aerr != nil || after != before) {
		if c != nil {
			c.Close()
		}
		return nil, true, err
	}
	return c, false, err
}

// asOpenError reports a failed os.Stat of a path as os.Open of it reports
// the same failure ("open PATH: no such file or directory"), so that a
// missing or unreachable path reads the same whether the caller opens it
// with loader.Open or with Open. Both resolve the path alike, so the
// cause is the one loader.Open would have met.
func asOpenError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Op == "stat" {
		return &fs.PathError{Op: "open", Path: pe.Path, Err: pe.Err}
	}
	return err
}

// single makes a one-shard checkpoint of f, which reads through r (nil
// when f closes what it reads).
func single(f *loader.File, r io.Closer) *Checkpoint {
	c := &Checkpoint{path: f.Name(), meta: f.Metadata(), shards: []*loader.File{f}}
	if r != nil {
		c.closers = []io.Closer{r}
	}
	for _, t := range f.Tensors() {
		c.size += t.End - t.Begin
	}
	return c
}

// Path returns the path (or URL) the checkpoint was opened from: its
// index file, or its single safetensors file.
func (c *Checkpoint) Path() string { return c.path }

// Leftovers returns the paths of what killed saves left beside the
// checkpoint, found when it was opened from a directory or an index:
// staging folders (.stload-shards-*) and temporary files
// (.NAME.safetensors.tmp-*) that no running save holds locked. They are no
// part of the checkpoint, which is whole — a leftover beside a checkpoint
// is reported here rather than as an error, so that the checkpoint stays
// usable where it cannot be cleaned (another user's directory, a
// read-only mount) — but they may take as much space as the checkpoint.
// The next [Save] or [WriteFile] into the directory removes them; so may
// the user, by hand.
func (c *Checkpoint) Leftovers() []string { return slices.Clone(c.leftovers) }

// Sharded reports whether the checkpoint was opened from an index file.
func (c *Checkpoint) Sharded() bool { return c.index }

// Files returns the checkpoint's files, in the order of their names
// (model-00001-of-00003.safetensors first). Each is also reachable
// through the checkpoint; the caller must not close them.
func (c *Checkpoint) Files() []*loader.File { return slices.Clone(c.shards) }

// File returns the file (the shard) that holds the named tensor.
func (c *Checkpoint) File(name string) (*loader.File, bool) {
	if c.owner == nil {
		_, err := c.shards[0].Tensor(name)
		return c.shards[0], err == nil
	}
	i, ok := c.owner.Find(name)
	if !ok {
		return nil, false
	}
	return c.shards[i], true
}

// Len returns the number of tensors in all shards.
func (c *Checkpoint) Len() int {
	n := 0
	for _, f := range c.shards {
		n += f.Len()
	}
	return n
}

// Tensors iterates over the tensors shard by shard, and within a shard in
// file-offset order, which is the order that reads each file front to
// back. A Tensor's offsets are within its own shard (see
// [Checkpoint.File]).
func (c *Checkpoint) Tensors() iter.Seq2[string, loader.Tensor] {
	return func(yield func(string, loader.Tensor) bool) {
		for _, f := range c.shards {
			for name, t := range f.Tensors() {
				if !yield(name, t) {
					return
				}
			}
		}
	}
}

// Tensor returns the named tensor, read from its shard. It fails with
// [loader.ErrTensorNotFound] when no shard has the tensor and with
// [fs.ErrClosed] after Close.
func (c *Checkpoint) Tensor(name string) (loader.Tensor, error) {
	f, ok := c.File(name)
	if !ok {
		return loader.Tensor{}, &loader.Error{File: c.path, Tensor: name, Err: loader.ErrTensorNotFound}
	}
	return f.Tensor(name)
}

// Metadata returns a copy of the index's metadata map, with string values
// as they are and other values as their JSON text (transformers writes
// "total_size" as a number: it reads back as "123"); for a single file it
// is the file's __metadata__. It is nil when there is none.
func (c *Checkpoint) Metadata() map[string]string { return maps.Clone(c.meta) }

// TotalSize returns the number of bytes of tensor data in all shards: the
// value transformers writes as metadata.total_size.
func (c *Checkpoint) TotalSize() int64 { return c.size }

// Close closes every shard, and what they read through. Tensors and
// slices read from the checkpoint become invalid as for
// [loader.File.Close]. Close is idempotent.
func (c *Checkpoint) Close() error {
	c.closeOnce.Do(func() {
		var errs []error
		for _, f := range c.shards {
			errs = append(errs, f.Close())
		}
		for _, r := range c.closers {
			errs = append(errs, r.Close())
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}
