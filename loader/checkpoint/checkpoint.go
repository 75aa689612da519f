// Package checkpoint opens and saves models stored as safetensors files:
// one file, or a sharded checkpoint of several files listed by a
// transformers-style index (model.safetensors.index.json), on a disk or
// served over HTTP.
//
// [Open] accepts anything stload's command does — a file, a checkpoint
// directory, an index file, or the http(s) URL of a file or an index —
// and validates the whole: every shard's header, and that the index's
// weight_map matches them. [Save] writes a sharded checkpoint as
// transformers' save_pretrained does, all or nothing; [WriteFile] writes
// one file. Both stream tensors from [Source] values, so converting or
// resharding a checkpoint larger than memory needs no more memory than a
// copy buffer.
//
// Errors are [*loader.Error] values wrapping this package's sentinels or
// the loader's.
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
	path    string            // index file, or the single file
	index   bool              // whether path is an index
	meta    map[string]string // index metadata, or the file's __metadata__
	shards  []*loader.File    // in shard-name order
	closers []io.Closer       // what the shards read through, to close after them
	owner   map[string]int    // tensor name -> index in shards
	size    int64             // bytes of tensor data in all shards

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
//     directory with none or several fails with [ErrNoCheckpoint];
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
// The index file may be at most 100 MB. ctx bounds the opening: the
// requests it makes, and the shards it starts opening; reads of a remote
// checkpoint's tensors later are bounded by the HTTP options and by Close.
func Open(ctx context.Context, path string, opts ...Option) (*Checkpoint, error) {
	cfg := newConfig(opts)
	if httprange.IsURL(path) {
		return openURL(ctx, path, cfg)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, &loader.Error{File: path, Cause: asOpenError(err)}
	}
	if fi.IsDir() {
		if path, err = findCheckpoint(path); err != nil {
			return nil, err
		}
	}
	if !strings.HasSuffix(path, ".json") {
		f, err := loader.Open(path, cfg.loaderOpts...)
		if err != nil {
			return nil, err
		}
		return single(f, nil), nil
	}
	b, err := readLimited(path, maxIndexSize)
	if err != nil {
		return nil, err
	}
	idx, perr := parseIndex(b, cfg.lenient)
	if perr != nil {
		perr.File = path
		return nil, perr
	}
	src, err := newLocalShards(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer src.close()
	return assemble(ctx, path, idx, src, cfg)
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

// findCheckpoint picks the file to open in directory dir.
func findCheckpoint(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", &loader.Error{File: dir, Cause: err}
	}
	var indexes, files []string
	for _, e := range entries {
		switch name := e.Name(); {
		case name == DefaultIndexName:
			return filepath.Join(dir, name), nil
		case strings.HasSuffix(name, IndexSuffix):
			indexes = append(indexes, name)
		case strings.HasSuffix(name, ".safetensors"):
			files = append(files, name)
		}
	}
	switch {
	case len(indexes) == 1:
		return filepath.Join(dir, indexes[0]), nil
	case len(indexes) > 1:
		return "", &loader.Error{File: dir, Err: ErrNoCheckpoint,
			Detail: fmt.Sprintf("%d index files (%s) and no %s; name the one to open", len(indexes), strings.Join(indexes, ", "), DefaultIndexName)}
	case len(files) == 1:
		return filepath.Join(dir, files[0]), nil
	case len(files) > 1:
		return "", &loader.Error{File: dir, Err: ErrNoCheckpoint,
			Detail: fmt.Sprintf("%d .safetensors files and no index file; name the file to open", len(files))}
	}
	return "", &loader.Error{File: dir, Err: ErrNoCheckpoint, Detail: "no index file and no .safetensors file in the directory"}
}

// single makes a one-shard checkpoint of f, which reads through r (nil
// when f closes what it reads).
func single(f *loader.File, r io.Closer) *Checkpoint {
	c := &Checkpoint{path: f.Name(), meta: f.Metadata(), shards: []*loader.File{f}, owner: map[string]int{}}
	if r != nil {
		c.closers = []io.Closer{r}
	}
	for name, t := range f.Tensors() {
		c.owner[name] = 0
		c.size += t.Len()
	}
	return c
}

// Path returns the path (or URL) the checkpoint was opened from: its
// index file, or its single safetensors file.
func (c *Checkpoint) Path() string { return c.path }

// Sharded reports whether the checkpoint was opened from an index file.
func (c *Checkpoint) Sharded() bool { return c.index }

// Files returns the checkpoint's files, in the order of their names
// (model-00001-of-00003.safetensors first). Each is also reachable
// through the checkpoint; the caller must not close them.
func (c *Checkpoint) Files() []*loader.File { return slices.Clone(c.shards) }

// File returns the file (the shard) that holds the named tensor.
func (c *Checkpoint) File(name string) (*loader.File, bool) {
	i, ok := c.owner[name]
	if !ok {
		return nil, false
	}
	return c.shards[i], true
}

// Len returns the number of tensors in all shards.
func (c *Checkpoint) Len() int { return len(c.owner) }

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
