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
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/stload/stload/loader"
)

// DefaultMaxShardSize is the shard size limit transformers and
// huggingface_hub use by default: 5 GB, in decimal units.
const DefaultMaxShardSize = 5_000_000_000

// Source is one tensor to write with [WriteFile] or [Save]: its
// description and where its bytes come from.
type Source struct {
	loader.Spec
	// Open returns a reader of the tensor's little-endian bytes: exactly
	// as many as Spec's element type and shape need. It is called once,
	// when the tensor's turn to be written comes, so a source can produce
	// its bytes lazily (converting them from another element type, say)
	// and only one tensor is in flight at a time. A reader that is also an
	// io.Closer is closed after use.
	Open func() (io.Reader, error)
}

// SourceOf returns a Source that copies the tensor t from its file. The
// reader it opens has a WriteTo method, which [WriteFile] and [Save] use:
// a mapped file's bytes go from the mapping to the output file with no
// copy in between, and any other file (a remote one, say) is read in
// chunks large enough that a remote file's parts are fetched in parallel,
// as for [loader.Slice.WriteTo]. Reading it with Read instead first reads
// the whole tensor ([loader.Tensor.Bytes]: no copy from a mapped file).
func SourceOf(t loader.Tensor) Source {
	return Source{
		Spec: loader.Spec{Name: t.Name, DType: t.DType, Shape: t.Shape},
		Open: func() (io.Reader, error) { return &tensorReader{t: t}, nil },
	}
}

// tensorReader reads a tensor: WriteTo streams it as a Slice of the whole
// tensor does; Read goes through its Bytes.
type tensorReader struct {
	t    loader.Tensor
	b    []byte // the tensor's bytes, once Read needed them
	read int    // bytes of b already read
}

func (r *tensorReader) Read(p []byte) (int, error) {
	if r.b == nil {
		b, err := r.t.Bytes()
		if err != nil {
			return 0, err
		}
		r.b = b
	}
	if r.read == len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.read:])
	r.read += n
	return n, nil
}

// WriteTo writes the rest of the tensor: all of it, unless Read read a
// part, which leaves the rest in b.
func (r *tensorReader) WriteTo(w io.Writer) (int64, error) {
	if r.b != nil {
		n, err := w.Write(r.b[r.read:])
		r.read += n
		return int64(n), err
	}
	s, err := r.t.Slice()
	if err != nil {
		return 0, err
	}
	n, err := s.WriteTo(w)
	r.b, r.read = []byte{}, 0 // all read: later reads see the end
	return n, err
}

// Sources returns a Source for every tensor of the checkpoint, in
// [Checkpoint.Tensors] order, reading each from its shard.
func (c *Checkpoint) Sources() []Source {
	out := make([]Source, 0, c.Len())
	for _, t := range c.Tensors() {
		out = append(out, SourceOf(t))
	}
	return out
}

// WriteFile writes the tensors to one safetensors file at path, as
// [loader.SaveFile] does but streaming: each tensor's bytes are copied
// from its source in turn, so merging the shards of a checkpoint (pass
// [Checkpoint.Sources]) needs no more memory than a copy buffer. The file
// is byte for byte what SaveFile writes for the same tensors and
// metadata. It appears at path only when complete; on failure or
// cancellation of ctx nothing is left behind.
func WriteFile(ctx context.Context, path string, tensors []Source, metadata map[string]string) error {
	return writeSources(ctx, path, tensors, metadata, make([]byte, copyBufSize))
}

// writeSources writes the tensors to a file at path, copying them with
// buf. Errors name path unless they name another file (a source's).
func writeSources(ctx context.Context, path string, tensors []Source, metadata map[string]string, buf []byte) error {
	w, err := loader.CreateFile(path, specsOf(tensors), metadata)
	if err != nil {
		return err
	}
	if complete, err := copySources(ctx, w, tensors, buf); err != nil {
		abandon(w, complete)
		return withFile(err, path)
	}
	return w.Close()
}

// abandon closes a Writer from loader.CreateFile so that it publishes
// nothing and removes its temporary file: Close does so when it fails, as
// it does for an incomplete Writer or one whose write failed. A complete
// one (a source too long for the last tensor leaves it so) is first made
// to fail by a write past its end.
func abandon(w *loader.Writer, complete bool) {
	if complete {
		w.Write([]byte{0})
	}
	w.Close()
}

// Save writes the tensors to directory dir (created if need be) as a
// checkpoint that transformers and [Open] load, and returns the paths of
// the files written, the index last. [WithMaxShardSize], [WithPrefix] and
// [WithMetadata] configure it.
//
// Tensors are grouped into shards in the order given, as huggingface_hub's
// split_state_dict_into_shards does (and with it transformers'
// save_pretrained): a shard is filled until the next tensor would take it
// past the maximum shard size, which closes it; a tensor larger than the
// maximum gets a shard of its own straight away, while the shard being
// filled stays open for the tensors after it. So with a limit of 10 and
// sizes 6, 6, 2, 12, 2 the shards hold [6], [12], [6 2 2]. The shards are
// named PREFIX-00001-of-0000N.safetensors and listed by
// PREFIX.safetensors.index.json, written as transformers writes it: keys
// sorted, two-space indentation, non-ASCII escaped, a final newline, and
// {"total_size": N} as metadata, N being the bytes of tensor data. With a
// single shard, only PREFIX.safetensors is written, as transformers does.
//
// Output is all or nothing: shards and index are first written in full to
// a temporary directory inside dir, then renamed into place, shards first
// and the index last, so that no index ever names a shard that is not
// complete. Files of the same names already in dir (an earlier save's)
// are first moved aside into the temporary directory and deleted only
// once the new files are all in place; if a rename fails, they are put
// back, so a failed save leaves dir as it was. After that, shards of
// another count left by an earlier save with the same prefix are removed,
// as transformers does, and so is such a save's index when the new
// checkpoint is a single file. Replacing a checkpoint is still several
// renames, not one: a crash part-way through leaves the earlier files in
// dir's .stload-shards-* directory. To replace one atomically, write to a
// new directory and swap the directories.
func Save(ctx context.Context, dir string, tensors []Source, opts ...Option) ([]string, error) {
	cfg := newConfig(opts)
	if err := checkShardPrefix(cfg.prefix); err != nil {
		return nil, err
	}
	groups, total, err := planShards(specsOf(tensors), cfg.maxShard)
	if err != nil {
		return nil, err
	}
	created, err := makeDir(dir)
	if err != nil {
		return nil, err
	}
	written, err := saveSharded(ctx, dir, tensors, groups, total, &cfg)
	if err != nil && created {
		os.Remove(dir) // only if still empty
	}
	return written, err
}

// makeDir creates dir if it does not exist, as save_pretrained does, and
// reports whether it did.
func makeDir(dir string) (bool, error) {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, &loader.Error{File: dir, Cause: err}
	}
	return true, nil
}

// saveSharded writes the planned shards and index into dir.
func saveSharded(ctx context.Context, dir string, tensors []Source, groups [][]int, total int64, cfg *config) ([]string, error) {
	stage, err := os.MkdirTemp(dir, ".stload-shards-*")
	if err != nil {
		return nil, &loader.Error{File: dir, Cause: err}
	}
	keep := false // publish could not put back the files it replaced
	defer func() {
		if !keep {
			os.RemoveAll(stage)
		}
	}()
	names := shardFileNames(cfg.prefix, len(groups))
	buf := make([]byte, copyBufSize)
	for i, g := range groups {
		shard := make([]Source, len(g))
		for j, k := range g {
			shard[j] = tensors[k]
		}
		if err := saveStaged(ctx, stage, names[i], dir, shard, cfg.metadata, buf); err != nil {
			return nil, err
		}
	}
	if len(groups) > 1 {
		b := encodeIndex(names, groups, tensors, total)
		if err := writeStaged(filepath.Join(stage, cfg.prefix+IndexSuffix), b); err != nil {
			return nil, withFile(err, filepath.Join(dir, cfg.prefix+IndexSuffix))
		}
		names = append(names, cfg.prefix+IndexSuffix)
	}
	var written []string
	rename := cfg.rename
	if rename == nil {
		rename = os.Rename
	}
	written, keep, err = publish(stage, dir, names, rename)
	if err != nil {
		return nil, err
	}
	removeStale(dir, cfg.prefix, names)
	return written, nil
}

// checkShardPrefix refuses a prefix that is not a plain file name.
func checkShardPrefix(prefix string) error {
	if !filepath.IsLocal(prefix) || strings.ContainsAny(prefix, `/\`) {
		return &loader.Error{Err: ErrInsecurePath, Detail: fmt.Sprintf("shard prefix %q is not a plain file name", prefix)}
	}
	return nil
}

// copyBufSize is the copy buffer of the writers, and the most bytes they
// write between checks of their context: big enough to keep system calls
// few, small enough to be negligible next to a tensor.
const copyBufSize = 1 << 20

func specsOf(tensors []Source) []loader.Spec {
	specs := make([]loader.Spec, len(tensors))
	for i, t := range tensors {
		specs[i] = t.Spec
	}
	return specs
}

// planShards groups tensors (by index) with huggingface_hub's rule (see
// Save) and returns the groups and the total bytes. Names must be unique
// across all shards, which each shard's writer cannot see: the specs are
// checked all together, as one file's would be.
func planShards(specs []loader.Spec, max int64) ([][]int, int64, error) {
	if _, err := loader.NewWriter(io.Discard, specs, nil); err != nil {
		return nil, 0, err
	}
	var groups [][]int
	var cur []int
	var curSize, total int64
	for i, s := range specs {
		size := specSize(s)
		if size > math.MaxInt64-total {
			return nil, 0, newError(loader.ErrValidationOverflow, s.Name, "the tensors' total size overflows 64 bits")
		}
		total += size
		if size > max {
			groups = append(groups, []int{i})
			continue
		}
		if curSize+size > max {
			groups = append(groups, cur)
			cur, curSize = nil, 0
		}
		cur = append(cur, i)
		curSize += size
	}
	if len(cur) > 0 || len(groups) == 0 {
		groups = append(groups, cur)
	}
	return groups, total, nil
}

// shardFileNames returns transformers' names for n shards.
func shardFileNames(prefix string, n int) []string {
	if n == 1 {
		return []string{prefix + ".safetensors"}
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%05d-of-%05d.safetensors", prefix, i+1, n)
	}
	return names
}

// saveStaged writes one shard into the staging directory. Errors name the
// shard's final path, which is what the user asked for.
func saveStaged(ctx context.Context, stage, name, dir string, tensors []Source, metadata map[string]string, buf []byte) error {
	staged := filepath.Join(stage, name)
	err := writeSources(ctx, staged, tensors, metadata, buf)
	var e *loader.Error
	if errors.As(err, &e) && e.File == staged {
		e.File = filepath.Join(dir, name)
	}
	return err
}

// copySources streams every tensor's bytes into w, in the order the
// writer needs them. On failure it reports whether w nonetheless got all
// its bytes.
func copySources(ctx context.Context, w *loader.Writer, tensors []Source, buf []byte) (complete bool, err error) {
	byName := make(map[string]Source, len(tensors))
	for _, t := range tensors {
		byName[t.Name] = t
	}
	var total, written int64
	for _, spec := range w.Tensors() {
		total += specSize(spec)
	}
	for _, spec := range w.Tensors() {
		if err := ctx.Err(); err != nil {
			return false, &loader.Error{Tensor: spec.Name, Cause: err}
		}
		n, err := copySource(ctx, w, byName[spec.Name], specSize(spec), buf)
		if written += n; err != nil {
			return written == total, err
		}
	}
	return true, nil
}

// specSize returns the bytes of a tensor that loader.NewWriter accepted,
// and so checked not to overflow.
func specSize(s loader.Spec) int64 {
	n := uint64(1)
	for _, d := range s.Shape {
		n *= d
	}
	return int64(n * uint64(s.DType.Bits()) / 8)
}

// copySource copies one tensor: exactly size bytes, and fails when the
// source has more, since a longer source means the bytes were not what
// the spec describes. io.CopyBuffer uses the reader's WriteTo where it has
// one, which for SourceOf writes straight from a mapping.
func copySource(ctx context.Context, w io.Writer, s Source, size int64, buf []byte) (n int64, err error) {
	if s.Open == nil {
		return 0, &loader.Error{Tensor: s.Name, Detail: "the source has no Open function"}
	}
	r, err := s.Open()
	if err != nil {
		return 0, &loader.Error{Tensor: s.Name, Cause: err}
	}
	if c, ok := r.(io.Closer); ok {
		defer func() {
			if cerr := c.Close(); cerr != nil && err == nil {
				err = &loader.Error{Tensor: s.Name, Cause: cerr}
			}
		}()
	}
	lw := &limitWriter{ctx: ctx, w: w, left: size}
	n, err = io.CopyBuffer(lw, r, buf)
	n = size - lw.left // what reached w, whatever the source claims
	var e *loader.Error
	switch {
	case lw.over:
		return n, newError(loader.ErrTensorInvalidInfo, s.Name, "the source has more than the %d bytes of %s %v", size, s.DType, s.Shape)
	case errors.As(err, &e):
		return n, err // already says what failed: the writer, or the source's file
	case err != nil:
		return n, &loader.Error{Tensor: s.Name, Cause: err}
	case n < size:
		return n, &loader.Error{Tensor: s.Name, Cause: io.ErrUnexpectedEOF,
			Detail: fmt.Sprintf("the source gave %d of the %d bytes of %s %v", n, size, s.DType, s.Shape)}
	}
	return n, nil
}

// limitWriter passes on at most left bytes, refusing more, in writes of at
// most copyBufSize between which it checks ctx, so that cancelling a long
// save does not wait for the current tensor to finish.
type limitWriter struct {
	ctx  context.Context
	w    io.Writer
	left int64
	over bool // a write went past left
}

// errTooLong stops a copy whose source has more bytes than its spec.
var errTooLong = errors.New("the source is longer than its tensor")

func (l *limitWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if err := l.ctx.Err(); err != nil {
			return written, err
		}
		if l.left == 0 {
			l.over = true
			return written, errTooLong
		}
		k := min(int64(len(p)), l.left, copyBufSize)
		n, err := l.w.Write(p[:k])
		written += n
		l.left -= int64(n)
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// withFile sets the file an *loader.Error names, if it names none.
func withFile(err error, path string) error {
	var e *loader.Error
	if errors.As(err, &e) && e.File == "" {
		e.File = path
	}
	return err
}

// writeStaged writes and syncs a small file in the staging directory.
func writeStaged(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return &loader.Error{Cause: err}
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &loader.Error{Cause: err}
	}
	return nil
}

// asideDir is the directory of the staging directory where publish keeps
// the files it replaces until the new ones are all in place. No staged
// file has this name: they all end in .safetensors or .json.
const asideDir = "replaced"

// publish moves the staged files into dir, in order, replacing files of
// the same names, and makes the renames durable. A failed rename must not
// leave dir with part of the new checkpoint over part of the old one,
// whose index would then name shards that are gone or that hold other
// tensors. So the files to be replaced are first set aside in the staging
// directory (renames within one file system: nothing is copied), the
// index first so that no index in dir names a shard already set aside;
// then the new files go in, shards first and the index last. If a rename
// fails, the new files are taken out again (the index first) and the old
// ones put back (the index last), which leaves dir as it was. The old
// files are deleted only once the new ones are in place and durable.
//
// keep reports that putting an old file back failed too: the error says
// where the old files are, and the staging directory must not be removed.
func publish(stage, dir string, names []string, rename func(string, string) error) (paths []string, keep bool, err error) {
	aside := filepath.Join(stage, asideDir)
	if err := os.Mkdir(aside, 0o700); err != nil {
		return nil, false, &loader.Error{File: dir, Cause: err}
	}
	var replaced, placed []string // names set aside, names moved in
	fail := func(final string, cause error) ([]string, bool, error) {
		e := &loader.Error{File: final, Cause: cause}
		for _, name := range slices.Backward(placed) {
			p := filepath.Join(dir, name)
			if rename(p, filepath.Join(stage, name)) != nil {
				os.Remove(p)
			}
		}
		var lost []string
		// replaced holds the index first: backwards puts the shards back
		// before the index that names them.
		for _, name := range slices.Backward(replaced) {
			if rename(filepath.Join(aside, name), filepath.Join(dir, name)) != nil {
				lost = append(lost, name)
			}
		}
		if lost != nil {
			e.Detail = fmt.Sprintf("could not put back %s, replaced files kept in %s", strings.Join(lost, ", "), aside)
		}
		syncDir(dir)
		return nil, lost != nil, e
	}
	for _, name := range slices.Backward(names) {
		final := filepath.Join(dir, name)
		// A directory is left where it is: the rename of the new file
		// over it fails below, and a failed save must not delete it.
		if fi, err := os.Lstat(final); err != nil || fi.IsDir() {
			continue
		}
		if err := rename(final, filepath.Join(aside, name)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed meanwhile: nothing to replace
			}
			return fail(final, err)
		}
		replaced = append(replaced, name)
	}
	paths = make([]string, 0, len(names))
	for _, name := range names {
		final := filepath.Join(dir, name)
		if err := rename(filepath.Join(stage, name), final); err != nil {
			return fail(final, err)
		}
		placed = append(placed, name)
		paths = append(paths, final)
	}
	syncDir(dir)
	os.RemoveAll(aside)
	return paths, false, nil
}

// staleName matches the files of a checkpoint written with some prefix.
var staleName = regexp.MustCompile(`^-[0-9]{5}-of-[0-9]{5}\.safetensors$`)

// removeStale removes what an earlier save with the same prefix left and
// the new checkpoint makes wrong, as transformers' save_pretrained does:
// shards numbered for another count, and the index when the new
// checkpoint is a single file. A PREFIX.safetensors beside a new sharded
// checkpoint is kept (it may be the file the shards were made from);
// Open on the directory prefers the index.
func removeStale(dir, prefix string, keep []string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok || slices.Contains(keep, name) || !e.Type().IsRegular() {
			continue
		}
		if staleName.MatchString(rest) || rest == IndexSuffix {
			os.Remove(filepath.Join(dir, name))
		}
	}
}

// encodeIndex writes the index exactly as transformers does, with
// json.dumps(index, indent=2, sort_keys=True) + "\n".
func encodeIndex(names []string, groups [][]int, tensors []Source, total int64) []byte {
	weightMap := make(map[string]string, len(tensors))
	for i, g := range groups {
		for _, k := range g {
			weightMap[tensors[k].Name] = names[i]
		}
	}
	b := []byte("{\n  \"metadata\": {\n    \"total_size\": ")
	b = strconv.AppendInt(b, total, 10)
	b = append(b, "\n  },\n  \"weight_map\": {"...)
	for i, name := range slices.Sorted(maps.Keys(weightMap)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n    "...)
		b = appendPyString(b, name)
		b = append(b, ": "...)
		b = appendPyString(b, weightMap[name])
	}
	if len(weightMap) > 0 {
		b = append(b, "\n  "...)
	}
	return append(b, "}\n}\n"...)
}

// appendPyString appends s as Python's json.dumps writes a string with
// its default ensure_ascii=True: printable ASCII as is, except the quote
// and the backslash; \n, \r, \t, \b, \f by name; every other character as
// \uXXXX in lowercase hex, as a surrogate pair beyond the BMP.
func appendPyString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	u := func(b []byte, r rune) []byte {
		return append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
	}
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r == '\b':
			b = append(b, `\b`...)
		case r == '\f':
			b = append(b, `\f`...)
		case r >= 0x20 && r < 0x7f:
			b = append(b, byte(r))
		case r > 0xffff:
			hi, lo := utf16.EncodeRune(r)
			b = u(u(b, hi), lo)
		default:
			b = u(b, r)
		}
	}
	return append(b, '"')
}

// syncDir makes renames in dir durable. Errors are ignored: some file
// systems cannot sync directories, and the files themselves are synced.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
