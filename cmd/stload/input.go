package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/checkpoint"
	"github.com/stload/stload/loader/httprange"
)

// inputOptions are the flags that decide how a command opens its input.
type inputOptions struct {
	lenient           bool
	pread             bool // read with pread instead of mapping (load only)
	timeout           durationFlag
	requireValidators bool
	downloadDir       string
	noProgress        bool // draw no download progress (load --json)
}

// addInputFlags registers the input flags every reading command shares.
func addInputFlags(fs *flag.FlagSet, o *inputOptions) {
	fs.BoolVar(&o.lenient, "lenient", false, "")
	fs.Var(&o.timeout, "timeout", "")
	fs.BoolVar(&o.requireValidators, "require-validators", false, "")
	fs.StringVar(&o.downloadDir, "download-dir", "", "")
}

// options returns the checkpoint options the flags ask for.
func (o inputOptions) options() []checkpoint.Option {
	var opts []checkpoint.Option
	if o.lenient {
		opts = append(opts, checkpoint.WithLenient())
	}
	if o.pread {
		opts = append(opts, checkpoint.WithLoaderOptions(loader.WithPread()))
	}
	var hopts []httprange.Option
	if o.timeout.set {
		hopts = append(hopts, httprange.WithTimeout(o.timeout.d))
	}
	if o.requireValidators {
		hopts = append(hopts, httprange.WithRequireValidators())
	}
	return append(opts, checkpoint.WithHTTPOptions(hopts...))
}

// downloads returns where files of servers without range support are
// downloaded: --download-dir, else the system's temporary directory.
func (o inputOptions) downloads() string {
	if o.downloadDir != "" {
		return o.downloadDir
	}
	return os.TempDir()
}

// inputHelp describes what the commands accept as input, for their help.
const inputHelp = `INPUT is any of:
  FILE       a safetensors file (memory-mapped read-only)
  DIR        a checkpoint directory: its model.safetensors.index.json, else
             its only *.safetensors.index.json, else its only *.safetensors
  INDEX      a transformers index file (*.safetensors.index.json): every
             shard its weight_map names, resolved inside its directory
  URL        an http:// or https:// URL of a safetensors file or of an index
             file, read with HTTP range requests (only the bytes needed are
             fetched); a file whose server does not support ranges is
             downloaded whole first (see --download-dir)
A checkpoint is validated whole: the index, every shard, and that
weight_map matches the shards' headers. One shard named by itself
(model-00003-of-00005.safetensors) is read as a file, with a warning.
` + remoteHelp

// input is an open input: the checkpoint, and the client that reads it
// when it is remote, whose connections Close closes too.
type input struct {
	*checkpoint.Checkpoint
	client *http.Client
}

// Close closes the checkpoint and the client's idle connections.
func (in *input) Close() error {
	err := in.Checkpoint.Close()
	if in.client != nil {
		in.client.CloseIdleConnections()
	}
	return err
}

// openInput opens what a command line names as its input (see inputHelp)
// with checkpoint.Open, and validates it. Every command opens its input
// here and nowhere else. Notices about the input go to stderr: a remote
// file downloaded whole (with its progress on a terminal), a server that
// sends no validator.
//
// ctx bounds the opening, and the checkpoint's reads: cancelling it closes
// the checkpoint, which aborts the requests of a remote one. The caller
// closes it too.
func openInput(ctx context.Context, e *env, name string, o inputOptions) (*input, error) {
	stderr := e.stderr
	if !httprange.IsURL(name) {
		c, err := checkpoint.Open(ctx, name, o.options()...)
		if err != nil {
			return nil, err
		}
		warnLeftovers(c, stderr)
		warnLoneShard(c, stderr)
		context.AfterFunc(ctx, func() { c.Close() })
		return &input{Checkpoint: c}, nil
	}
	opening, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	w := &remoteWatch{env: e, bar: e.progress(stderr, o.noProgress), dir: o.downloads(), stop: stop,
		seen: map[string]bool{}, downloads: map[string]*[2]int64{}}
	client := newRemoteClient(w)
	opts := append(o.options(), checkpoint.WithHTTPOptions(httprange.WithClient(client)),
		checkpoint.WithDownloadFallback(w.dir), checkpoint.WithDownloadProgress(w.progress))
	c, err := checkpoint.Open(opening, name, opts...)
	w.bar.done()
	if cause := context.Cause(opening); ctx.Err() == nil && cause != nil {
		// The download was stopped for want of room (or, when it was
		// too quick to stop, finished anyway: the check still holds).
		if err == nil {
			c.Close()
		}
		err = cause
	}
	if err != nil {
		client.CloseIdleConnections()
		return nil, err
	}
	w.warn()
	warnLeftovers(c, stderr)
	warnLoneShard(c, stderr)
	in := &input{Checkpoint: c, client: client}
	context.AfterFunc(ctx, func() { in.Close() })
	return in, nil
}

// shown returns an input (or a path made from the arguments) as the
// command prints it straight to its output: a URL without its user
// information, query or fragment, which may hold credentials
// (httprange.Redact); anything else as given, but for URL-looking words
// (httprange.RedactText). Errors hold inputs and paths as given, not
// shown: errorMessage redacts them where they are printed.
func shown(input string) string {
	if httprange.IsURL(input) {
		return httprange.Redact(input)
	}
	return httprange.RedactText(input)
}

// shardName returns the name of a checkpoint's shard f as its index names
// it (model-00001-of-00002.safetensors): its path relative to the index's
// directory, or the whole path when it is elsewhere.
func shardName(c *checkpoint.Checkpoint, f *loader.File) string {
	name := f.Name()
	if httprange.IsURL(c.Path()) {
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
func single(c *checkpoint.Checkpoint) *loader.File {
	if c.Sharded() {
		return nil
	}
	return c.Files()[0]
}

// warnLeftovers says what killed saves left beside a checkpoint that is
// whole (checkpoint.Checkpoint.Leftovers): what it is, where, how large,
// and that the next save removes it.
func warnLeftovers(c *checkpoint.Checkpoint, stderr io.Writer) {
	for _, p := range c.Leftovers() {
		what := "a temporary file"
		if strings.HasPrefix(filepath.Base(p), ".stload-shards-") {
			what = "a staging folder"
		}
		fmt.Fprintf(stderr, "stload: warning: %s: %s that an interrupted save left (%s), no part of the checkpoint; the next save to this directory removes it\n",
			shown(p), what, sizeText(diskUsage(p)))
	}
}

// warnLoneShard says when the input is one shard of a checkpoint, named
// by itself (model-00003-of-00005.safetensors): valid on its own, so
// nothing else would tell the user that they have a part of the model.
func warnLoneShard(c *checkpoint.Checkpoint, stderr io.Writer) {
	if c.Sharded() {
		return
	}
	name := inputBase(c)
	if _, k, n, ok := checkpoint.ParseShardName(name); ok && n > 1 {
		fmt.Fprintf(stderr, "stload: warning: %s is shard %d of %d; give the directory or its index.json to load the whole checkpoint\n", name, k, n)
	}
}

// diskUsage returns the bytes of the files at or under p.
func diskUsage(p string) int64 {
	var n int64
	filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
