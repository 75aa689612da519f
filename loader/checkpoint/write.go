package checkpoint

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/internal/nameidx"
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

// SourcesOf returns a Source for every tensor of f, in file order, each
// as [SourceOf] makes it but in less memory: a Source refers to its
// tensor by f and position (24 bytes besides the Source) rather than
// holding a copy of the Tensor (80), which counts for a header of a
// million tensors.
func SourcesOf(f *loader.File) []Source {
	out := make([]Source, f.Len())
	for i := range out {
		t := f.TensorAt(i)
		out[i] = Source{
			Spec: loader.Spec{Name: t.Name, DType: t.DType, Shape: t.Shape},
			Open: func() (io.Reader, error) { return &tensorReader{t: f.TensorAt(i)}, nil },
		}
	}
	return out
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
	for _, f := range c.shards {
		out = append(out, SourcesOf(f)...)
	}
	return out
}

// WriteFile writes the tensors to one safetensors file at path, as
// [loader.SaveFile] does but streaming: each tensor's bytes are copied
// from its source in turn, so merging the shards of a checkpoint (pass
// [Checkpoint.Sources]) needs no more memory than a copy buffer. The file
// is byte for byte what SaveFile writes for the same tensors and
// metadata.
//
// The file is written in full into a staging folder beside path, synced,
// and renamed over path in one step: at every instant, path is the old
// file or the new one, whole, even if the process is killed. On failure or
// cancellation of ctx nothing is left behind. A new file gets the mode
// os.Create gives (0666 less the umask); a replaced one keeps its mode.
// Before writing, WriteFile removes what killed runs left beside path
// (see the package documentation). WriteFile writes only path: to replace
// a sharded checkpoint by one file, use [Save], which also retires the
// index and the shards.
func WriteFile(ctx context.Context, path string, tensors []Source, metadata map[string]string) error {
	cfg := newConfig(nil)
	return writeFile(ctx, path, tensors, metadata, &cfg)
}

// writeFile is WriteFile with cfg's test hook and rename.
func writeFile(ctx context.Context, path string, tensors []Source, metadata map[string]string, cfg *config) error {
	base := filepath.Base(path)
	s := newSaver(filepath.Dir(path), path, cfg)
	ours := func(name string) bool { return name == base }
	s.clean(ours)
	if err := s.openStage(); err != nil {
		return err
	}
	keep := false
	defer func() { s.closeStage(keep) }()
	if err := s.saveStaged(ctx, base, tensors, nil, metadata, make([]byte, copyBufSize)); err != nil {
		return err
	}
	unlock, err := s.lockDir(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	old := s.present(ours)
	if err := s.setModes([]string{base}, func(n string) fs.FileMode { return old.modeFor(n, s.mode) }); err != nil {
		return err
	}
	_, keep, err = s.publish([]string{base}, "", nil, old)
	return err
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
// Output is all or nothing, and crash-consistent: shards and index are
// written in full into a staging folder inside dir and synced; then,
// holding a lock on dir, Save retires the old index (moves it into the
// staging folder and syncs dir) before touching any shard, moves the new
// shards in, syncs, and renames the new index in last. So at every
// instant, even if the process is killed, [Open] on dir finds the old
// checkpoint whole, the new one whole, or [ErrIncomplete] — never shards
// of one with the index of the other. Files of the same names (an earlier
// save's) are kept in the staging folder until the new files are all in
// place; if a rename fails, they are put back, so a failed save leaves dir
// as it was. After that, shards of another count left by an earlier save
// with the same prefix are removed, as transformers does; and a sharded
// save retires PREFIX.safetensors with the old index, where transformers
// keeps it: beside the new shards it would be a second checkpoint of the
// same name holding the old weights, which transformers' from_pretrained
// loads in preference to the index. (Sources read from that file are
// done with before it is retired, and a mapped file stays readable
// anyway.) See the package documentation for the protocol, and what the
// next save cleans up after a killed one.
//
// New files get the mode os.Create gives (0666 less the umask); a
// replaced file keeps its mode, and a shard of a new name takes the mode
// of the index it replaces (or of PREFIX.safetensors, for shards
// replacing one file), so resharding 0600 files keeps them 0600.
func Save(ctx context.Context, dir string, tensors []Source, opts ...Option) ([]string, error) {
	cfg := newConfig(opts)
	if err := checkShardPrefix(cfg.prefix); err != nil {
		return nil, err
	}
	groups, total, err := planShards(tensors, cfg.maxShard)
	if err != nil {
		return nil, err
	}
	s := newSaver(dir, dir, &cfg)
	created, err := s.makeDir()
	if err != nil {
		return nil, err
	}
	written, err := s.saveSharded(ctx, tensors, groups, total)
	if err != nil && created {
		os.Remove(dir) // only if still empty
	}
	return written, err
}

// makeDir creates the destination if it does not exist, as save_pretrained
// does, and reports whether it did.
func (s *saver) makeDir() (bool, error) {
	if fi, err := os.Stat(s.dir); err == nil && fi.IsDir() {
		return false, nil
	}
	if err := s.step("mkdir dir", func() error { return os.MkdirAll(s.dir, 0o777) }); err != nil {
		return false, &loader.Error{File: s.dir, Cause: err}
	}
	return true, nil
}

// saveSharded writes the planned shards and index into the destination.
func (s *saver) saveSharded(ctx context.Context, tensors []Source, groups [][]int, total int64) ([]string, error) {
	prefix := s.cfg.prefix
	ours := checkpointFile(prefix)
	s.clean(ours)
	if err := s.openStage(); err != nil {
		return nil, err
	}
	keep := false // publish could not put back the files it replaced
	defer func() { s.closeStage(keep) }()
	names := shardFileNames(prefix, len(groups))
	buf := make([]byte, copyBufSize)
	for i, g := range groups {
		if err := s.saveStaged(ctx, names[i], tensors, g, s.cfg.metadata, buf); err != nil {
			return nil, err
		}
	}
	staged, index := names, ""
	if len(groups) > 1 {
		index = prefix + IndexSuffix
		err := s.writeStaged(index, func(w io.Writer) error { return encodeIndex(w, names, groups, tensors, total) })
		if err != nil {
			return nil, err
		}
		staged = append(slices.Clone(names), index)
	}
	unlock, err := s.lockDir(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	old := s.present(ours)
	modeOf := func(name string) fs.FileMode {
		return old.modeFor(name, s.mode, prefix+IndexSuffix, prefix+".safetensors")
	}
	if err := s.setModes(staged, modeOf); err != nil {
		return nil, err
	}
	// The old index goes first; and a sharded checkpoint replaces the
	// single file of its prefix, as a single file replaces the shards.
	retire := []string{prefix + IndexSuffix}
	if index != "" {
		retire = append(retire, prefix+".safetensors")
	}
	var written []string
	if written, keep, err = s.publish(names, index, retire, old); err != nil {
		return nil, err
	}
	s.removeStale(staleShards(prefix, old, names))
	return written, nil
}

// checkpointFile returns whether a file name is one a save with prefix
// writes: PREFIX.safetensors, its index, or a shard.
func checkpointFile(prefix string) func(name string) bool {
	return func(name string) bool {
		if name == prefix+".safetensors" || name == prefix+IndexSuffix {
			return true
		}
		p, _, _, ok := ParseShardName(name)
		return ok && p == prefix
	}
}

// staleShards returns the shards of old, a save with prefix, that the new
// files names do not replace: an earlier save's shards of another count,
// or all of them when the new checkpoint is one file. An index is not
// among them: publish has retired it.
func staleShards(prefix string, old present, names []string) []string {
	var stale []string
	for name := range old {
		if p, _, _, ok := ParseShardName(name); ok && p == prefix && !slices.Contains(names, name) {
			stale = append(stale, name)
		}
	}
	slices.Sort(stale)
	return stale
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

// planShards groups tensors (by index) with huggingface_hub's rule (see
// Save) and returns the groups and the total bytes. It checks the specs
// first, so that a save fails before it writes any shard for a tensor a
// Writer refuses (only a shard's header too large is left to its writer).
func planShards(tensors []Source, max int64) ([][]int, int64, error) {
	if err := checkUnique(tensors); err != nil {
		return nil, 0, err
	}
	if err := checkSpecs(tensors); err != nil {
		return nil, 0, err
	}
	var groups [][]int
	var cur []int
	var curSize, total int64
	for i, t := range tensors {
		size := specSize(t.Spec)
		if size > math.MaxInt64-total {
			return nil, 0, newError(loader.ErrValidationOverflow, t.Name, "the tensors' total size overflows 64 bits")
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

// checkUnique fails for a name given twice, which each shard's writer
// cannot see across shards. Its index of positions takes a tenth of a map
// of the names.
func checkUnique(tensors []Source) error {
	if i, dup := nameidx.FirstDup(len(tensors), func(i int) string { return tensors[i].Name }); dup {
		return newError(loader.ErrDuplicateKey, tensors[i].Name, "the name is given twice")
	}
	return nil
}

// specBatch bounds the header that checkSpecs has a Writer encode at
// once, well below the limit on a header.
const specBatch = 1 << 20

// checkSpecs fails for a tensor a Writer refuses, by giving the specs to
// Writers that write to io.Discard, in batches whose header is at most
// specBatch bytes: one Writer for all of them would hold a copy of the
// list, and could fail for a header that no shard of a sharded save has.
func checkSpecs(tensors []Source) error {
	var specs []loader.Spec
	size := 0
	check := func() error {
		_, err := loader.NewWriter(io.Discard, specs, nil)
		specs, size = specs[:0], 0
		return err
	}
	for _, t := range tensors {
		n := entryBound(t.Spec)
		if len(specs) > 0 && size+n > specBatch {
			if err := check(); err != nil {
				return err
			}
		}
		specs = append(specs, t.Spec)
		size += n
	}
	if len(specs) > 0 {
		return check()
	}
	return nil
}

// entryBound bounds the length of a spec's header entry: its name escaped
// (at most 6 bytes a byte), its dimensions (20 digits each, and a comma),
// and the rest, dtype and offsets included.
func entryBound(s loader.Spec) int { return 6*len(s.Name) + 21*len(s.Shape) + 128 }

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

// saveStaged writes one file of the tensors at positions group of
// tensors (nil: all of them) into the staging folder, complete and synced.
// Errors name the file's final path, which is what the user asked for.
func (s *saver) saveStaged(ctx context.Context, name string, tensors []Source, group []int, metadata map[string]string, buf []byte) error {
	staged := filepath.Join(s.stage, name)
	order := writeOrder(tensors, group)
	var w *loader.Writer
	err := s.step("create stage/"+name, func() (err error) {
		w, err = loader.CreateFile(staged, specsIn(tensors, order), metadata)
		return err
	})
	if err == nil {
		if complete, cerr := copySources(ctx, w, tensors, order, buf); cerr != nil {
			abandon(w, complete)
			err = withFile(cerr, staged)
		} else {
			err = s.step("commit stage/"+name, w.Close)
		}
	}
	var e *loader.Error
	if errors.As(err, &e) && e.File == staged {
		e.File = filepath.Join(s.dir, name)
	}
	return err
}

// writeOrder returns the positions in tensors of those of group (nil:
// all) in the order a Writer writes them (Writer.Tensors: by element type,
// the later first, then by name; TestWriteOrder holds the two together), which
// copySources follows: 4 bytes a tensor, where a map from name to Source
// took about 90, and no copy of the Sources.
func writeOrder(tensors []Source, group []int) []int32 {
	var order []int32
	if group == nil {
		order = make([]int32, len(tensors))
		for i := range order {
			order[i] = int32(i)
		}
	} else {
		order = make([]int32, len(group))
		for i, k := range group {
			order[i] = int32(k)
		}
	}
	less := func(a, b int32) int {
		x, y := &tensors[a].Spec, &tensors[b].Spec
		return cmp.Or(cmp.Compare(y.DType, x.DType), cmp.Compare(x.Name, y.Name))
	}
	if !slices.IsSortedFunc(order, less) {
		slices.SortFunc(order, less)
	}
	return order
}

// specsIn returns the specs of tensors in the given order.
func specsIn(tensors []Source, order []int32) []loader.Spec {
	specs := make([]loader.Spec, len(order))
	for k, i := range order {
		specs[k] = tensors[i].Spec
	}
	return specs
}

// copySources streams the bytes of the tensors at positions order of
// tensors into w, which was given their specs in that order (its own). On
// failure it reports whether w nonetheless got all its bytes.
func copySources(ctx context.Context, w *loader.Writer, tensors []Source, order []int32, buf []byte) (complete bool, err error) {
	var total, written int64
	for _, i := range order {
		total += specSize(tensors[i].Spec)
	}
	for _, i := range order {
		t := tensors[i]
		if err := ctx.Err(); err != nil {
			return false, &loader.Error{Tensor: t.Name, Cause: err}
		}
		n, err := copySource(ctx, w, t, specSize(t.Spec), buf)
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
// save does not wait for the current tensor to finish. It holds the save's
// ctx because io.Writer's Write takes none: the one case where Go's
// guidance allows a Context in a struct. It lives for one tensor's copy.
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

// writeStaged writes a file in the staging folder with write, which
// batches its own writes (encodeIndex writes 512 KiB at a time), and
// syncs it.
func (s *saver) writeStaged(name string, write func(io.Writer) error) error {
	var f *os.File
	err := s.step("create stage/"+name, func() (err error) {
		if f, err = os.OpenFile(filepath.Join(s.stage, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666); err == nil {
			err = write(f)
		}
		return err
	})
	if err == nil {
		err = s.step("fsync stage/"+name, f.Sync)
	}
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return &loader.Error{File: filepath.Join(s.dir, name), Cause: err}
	}
	return nil
}

// encodeIndex writes the index to w exactly as transformers does, with
// json.dumps(index, indent=2, sort_keys=True) + "\n": the weight map in
// name order (Python sorts by code point, as Go compares UTF-8 bytes). It
// streams: the index of a million tensors is as large as their header,
// and the names are unique (planShards checked them), so sorting their
// positions gives the order without a map of the names.
func encodeIndex(w io.Writer, names []string, groups [][]int, tensors []Source, total int64) error {
	shardOf := make([]int32, len(tensors))
	for i, g := range groups {
		for _, k := range g {
			shardOf[k] = int32(i)
		}
	}
	byName := make([]int32, len(tensors))
	for i := range byName {
		byName[i] = int32(i)
	}
	slices.SortFunc(byName, func(a, b int32) int { return strings.Compare(tensors[a].Name, tensors[b].Name) })
	b := []byte("{\n  \"metadata\": {\n    \"total_size\": ")
	b = strconv.AppendInt(b, total, 10)
	b = append(b, "\n  },\n  \"weight_map\": {"...)
	for i, k := range byName {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n    "...)
		b = appendPyString(b, tensors[k].Name)
		b = append(b, ": "...)
		b = appendPyString(b, names[shardOf[k]])
		if len(b) >= copyBufSize/2 {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	if len(byName) > 0 {
		b = append(b, "\n  "...)
	}
	_, err := w.Write(append(b, "}\n}\n"...))
	return err
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
