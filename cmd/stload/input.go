package main

import (
	"context"
	"flag"
	"path/filepath"
	"strings"

	"github.com/stload/stload/loader"
)

// inputOptions are the flags that decide how a command opens its input.
type inputOptions struct {
	lenient bool
	pread   bool // read with pread instead of mapping (load only)
}

// addInputFlags registers the input flags every reading command shares.
func addInputFlags(fs *flag.FlagSet, o *inputOptions) {
	fs.BoolVar(&o.lenient, "lenient", false, "")
}

func (o inputOptions) loaderOptions() []loader.Option {
	var opts []loader.Option
	if o.lenient {
		opts = append(opts, loader.WithLenient())
	}
	if o.pread {
		opts = append(opts, loader.WithPread())
	}
	return opts
}

// inputHelp describes what the commands accept as input, for their help.
const inputHelp = `INPUT is any of:
  FILE       a safetensors file (memory-mapped read-only)
  DIR        a checkpoint directory: its model.safetensors.index.json, else
             its only *.safetensors.index.json, else its only *.safetensors
  INDEX      a transformers index file (*.safetensors.index.json): every
             shard its weight_map names, resolved inside its directory
  URL        an http:// or https:// URL of a safetensors file or of an index
             file, read with HTTP range requests (nothing is downloaded in
             full; the server must support ranges)
A checkpoint is validated whole: the index, every shard, and that
weight_map matches the shards' headers.
`

// openInput opens what a command line names as its input and validates
// it. Every command opens its input here and nowhere else.
//
// name is a safetensors file, a checkpoint directory, a transformers
// index.json, or an http(s) URL of a file or an index (see inputHelp). A
// single file is a checkpoint of one shard, opened exactly as loader.Open
// opens it (memory-mapped read-only, with pread where mapping fails), so
// its errors are the same. Errors are *loader.Error values whose kind
// (loader.Kind) is the reference's variant name, stload's own
// (NoCheckpoint, InvalidIndex, ShardMissing, WeightMapMismatch,
// InsecurePath, RangeUnsupported, RemoteChanged...), or IoError for a
// file that cannot be opened or read.
//
// ctx bounds the life of a remote checkpoint's requests: it must stay
// alive until the checkpoint is closed.
func openInput(ctx context.Context, name string, o inputOptions) (*loader.Checkpoint, error) {
	opts := o.loaderOptions()
	if loader.IsURL(name) {
		return loader.OpenCheckpointURL(ctx, name, nil, opts...)
	}
	return loader.OpenCheckpoint(name, opts...)
}

// shardName returns the name of a checkpoint's shard f as its index names
// it (model-00001-of-00002.safetensors): its path relative to the index's
// directory, or the whole path when it is elsewhere.
func shardName(c *loader.Checkpoint, f *loader.File) string {
	name := f.Name()
	if loader.IsURL(c.Path()) {
		// Both are URLs without user information, the query shown as "?…".
		index, _, _ := strings.Cut(c.Path(), "?")
		name, _, _ = strings.Cut(name, "?")
		return strings.TrimPrefix(name, index[:strings.LastIndex(index, "/")+1])
	}
	if rel, err := filepath.Rel(filepath.Dir(c.Path()), name); err == nil && filepath.IsLocal(rel) {
		return filepath.ToSlash(rel)
	}
	return name
}

// single returns the only shard of a checkpoint that is one file, or nil
// for a sharded checkpoint (opened from an index).
func single(c *loader.Checkpoint) *loader.File {
	if c.Sharded() {
		return nil
	}
	return c.Shards()[0]
}
