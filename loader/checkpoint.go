package loader

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Sentinel errors of checkpoints. Like the file errors, they come wrapped
// in an [*Error] naming the index or shard file and, where one is
// concerned, the tensor.
var (
	// ErrNoCheckpoint reports a directory given to [OpenCheckpoint] that
	// holds no checkpoint, or several with nothing to choose between them.
	ErrNoCheckpoint = errors.New("no single checkpoint found")
	// ErrInvalidIndex reports an index file that is not the JSON
	// transformers writes: malformed, without a weight_map, with values of
	// the wrong type, or with a metadata.total_size that disagrees with the
	// shards.
	ErrInvalidIndex = errors.New("invalid checkpoint index")
	// ErrShardMissing reports a shard named by the index that does not
	// exist, or is not a regular file.
	ErrShardMissing = errors.New("shard file missing")
	// ErrWeightMap reports a weight_map that disagrees with the shards'
	// headers: a tensor listed but absent from its shard, present in a
	// shard but not listed (or listed for another shard), or present in
	// two shards.
	ErrWeightMap = errors.New("weight_map does not match the shards")
	// ErrInsecurePath reports a shard name that would resolve outside the
	// checkpoint directory: an absolute path, a path through "..", or a
	// symbolic link that leads out.
	ErrInsecurePath = errors.New("shard path escapes the checkpoint directory")
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

// Checkpoint is a model stored as one safetensors file or as several
// shards listed by a transformers-style index file
// (model.safetensors.index.json), seen as one set of tensors. Every shard
// is an open [File]; a tensor is read from the shard that holds it. Its
// methods are safe for concurrent use.
type Checkpoint struct {
	path   string            // index file, or the single file
	index  bool              // whether path is an index
	meta   map[string]string // index metadata, or the file's __metadata__
	shards []*File           // in shard-name order
	owner  map[string]int    // tensor name -> index in shards
	keys   func() []string   // sorted tensor names, built on first use
	size   int64             // bytes of tensor data in all shards
}

// OpenCheckpoint opens a checkpoint from any of three paths:
//
//   - an index file (name ending in ".json"): every shard its weight_map
//     names is opened, relative to the index's directory;
//   - a directory: its model.safetensors.index.json, else its only
//     *.safetensors.index.json, else its only *.safetensors file; a
//     directory with none or several fails with [ErrNoCheckpoint];
//   - a safetensors file, as a checkpoint of one shard.
//
// Each shard is opened as [Open] would, with opts, and fully validated.
// The index is then checked against the shards' headers: every tensor in
// weight_map must be in the shard named for it, every tensor of every
// shard must be listed, and no tensor may be in two shards
// ([ErrWeightMap]), nor be listed twice; a metadata.total_size, when present, must equal the
// bytes of tensor data in the shards ([ErrInvalidIndex]; transformers
// computes it as the sum of element count × element size over the tensors
// it saves, not from file sizes). [WithLenient] skips the total_size check
// (transformers never reads it, and some published indexes got it wrong)
// and lets a tensor listed twice in weight_map take its last entry.
//
// Shard names are resolved with an [os.Root] at the index's directory, so
// a name that is absolute, goes through "..", or reaches a symbolic link
// pointing out of the directory fails with [ErrInsecurePath] instead of
// opening a file elsewhere. In a Hugging Face cache snapshot
// (…/snapshots/REV/ beside …/blobs/), where every file is a link to
// ../../blobs/, the root is the repository directory that holds both.
//
// The index file may be at most the [WithMaxHeaderSize] limit in size.
func OpenCheckpoint(path string, opts ...Option) (*Checkpoint, error) {
	cfg := newConfig(path, opts)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, &Error{File: path, Offset: -1, Err: ErrIO, Cause: asOpenError(err)}
	}
	if fi.IsDir() {
		if path, err = findCheckpoint(path); err != nil {
			return nil, err
		}
	}
	if !strings.HasSuffix(path, ".json") {
		f, err := Open(path, append(slices.Clone(opts), WithName(path))...)
		if err != nil {
			return nil, err
		}
		return single(f), nil
	}
	b, err := readLimited(path, cfg.maxHeader)
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
	return assemble(path, idx, src, opts, cfg.lenient)
}

// asOpenError reports a failed os.Stat of a path as os.Open of it reports
// the same failure ("open PATH: no such file or directory"), so that a
// missing or unreachable path reads the same whether the caller opens it
// with Open or OpenCheckpoint. Both resolve the path alike, so the cause
// is the one Open would have met.
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
		return "", &Error{File: dir, Offset: -1, Err: ErrIO, Cause: err}
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
		return "", &Error{File: dir, Offset: -1, Err: ErrNoCheckpoint,
			Detail: fmt.Sprintf("%d index files (%s) and no %s; name the one to open", len(indexes), strings.Join(indexes, ", "), DefaultIndexName)}
	case len(files) == 1:
		return filepath.Join(dir, files[0]), nil
	case len(files) > 1:
		return "", &Error{File: dir, Offset: -1, Err: ErrNoCheckpoint,
			Detail: fmt.Sprintf("%d .safetensors files and no index file; name the file to open", len(files))}
	}
	return "", &Error{File: dir, Offset: -1, Err: ErrNoCheckpoint, Detail: "no index file and no .safetensors file in the directory"}
}

// readLimited reads the file at path, refusing one larger than limit.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Offset: -1, Err: ErrIO, Cause: err}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &Error{File: path, Offset: -1, Err: ErrIO, Cause: err}
	}
	if int64(len(b)) > limit {
		return nil, &Error{File: path, Offset: limit, Err: ErrInvalidIndex,
			Detail: fmt.Sprintf("the index is larger than the limit of %d bytes (see WithMaxHeaderSize)", limit)}
	}
	return b, nil
}

// single makes a one-shard checkpoint of f.
func single(f *File) *Checkpoint {
	c := &Checkpoint{path: f.Name(), meta: f.meta, shards: []*File{f}, owner: make(map[string]int, f.Len())}
	for _, t := range f.tensors {
		c.owner[t.Name] = 0
		c.size += t.Len()
	}
	c.keys = f.keys
	return c
}

// index is a parsed index file.
type index struct {
	meta      map[string]string
	totalSize *json.Number // metadata.total_size, nil when absent
	weightMap map[string]string
}

// parseIndex parses the JSON of an index file. It reads token by token
// rather than into a map so that a tensor listed twice is noticed: a map
// would silently keep one of the two shards. Errors carry the byte offset
// in the index.
func parseIndex(b []byte, lenient bool) (*index, *Error) {
	// encoding/json would replace invalid UTF-8 silently.
	if err := checkUTF8(b); err != nil {
		return nil, newError(ErrInvalidIndex, "", "%s", err.Detail).at(err.Offset - 8)
	}
	p := &indexParser{dec: json.NewDecoder(bytes.NewReader(b)), lenient: lenient}
	p.dec.UseNumber()
	idx, err := p.parse()
	if err != nil {
		return nil, err
	}
	return idx, nil
}

// indexParser walks the tokens of an index file.
type indexParser struct {
	dec     *json.Decoder
	lenient bool
	idx     index
}

func (p *indexParser) fail(format string, args ...any) *Error {
	return newError(ErrInvalidIndex, "", format, args...).at(p.dec.InputOffset())
}

// syntax turns a decoder error into an *Error at the place it occurred.
func (p *indexParser) syntax(err error) *Error {
	e := &Error{Offset: p.dec.InputOffset(), Err: ErrInvalidIndex, Detail: "malformed JSON", Cause: err}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		e.Offset = se.Offset
	} else if err == io.EOF {
		e.Cause = io.ErrUnexpectedEOF
	}
	return e
}

// token returns the next token.
func (p *indexParser) token() (json.Token, *Error) {
	t, err := p.dec.Token()
	if err != nil {
		return nil, p.syntax(err)
	}
	return t, nil
}

func (p *indexParser) parse() (*index, *Error) {
	seen := map[string]bool{}
	err := p.object("the index", func(key string) *Error {
		if seen[key] && !p.lenient {
			return p.fail("the index has two %q fields", key)
		}
		seen[key] = true
		switch key {
		case "weight_map":
			return p.weightMap()
		case "metadata":
			return p.metadata()
		}
		var skip json.RawMessage
		if err := p.dec.Decode(&skip); err != nil {
			return p.syntax(err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, p.fail("data after the index object")
	}
	if !seen["weight_map"] {
		return nil, newError(ErrInvalidIndex, "", "the index has no weight_map")
	}
	return &p.idx, nil
}

// object reads a JSON object, calling field for each key with the decoder
// positioned at the value.
func (p *indexParser) object(what string, field func(key string) *Error) *Error {
	t, err := p.token()
	if err != nil {
		return err
	}
	if t != json.Delim('{') {
		return p.fail("%s is %s, want a JSON object", what, describe(t))
	}
	for p.dec.More() {
		t, err := p.token()
		if err != nil {
			return err
		}
		if err := field(t.(string)); err != nil {
			return err
		}
	}
	_, err = p.token() // '}'
	return err
}

// weightMap reads weight_map, an object from tensor name to shard name.
func (p *indexParser) weightMap() *Error {
	p.idx.weightMap = map[string]string{}
	return p.object("weight_map", func(tensor string) *Error {
		t, err := p.token()
		if err != nil {
			return err
		}
		shard, ok := t.(string)
		if !ok {
			e := p.fail("weight_map gives %s, want a file name", describe(t))
			e.Tensor = tensor
			return e
		}
		if prev, dup := p.idx.weightMap[tensor]; dup && !p.lenient {
			return newError(ErrWeightMap, tensor, "the tensor is listed twice in weight_map, for %s and for %s", prev, shard).at(p.dec.InputOffset())
		}
		p.idx.weightMap[tensor] = shard
		return nil
	})
}

// metadata reads the metadata object (or null). String values are kept
// as they are, others as their JSON text, so that the map has the type of
// a file's __metadata__.
func (p *indexParser) metadata() *Error {
	var raw json.RawMessage
	if err := p.dec.Decode(&raw); err != nil {
		return p.syntax(err)
	}
	if string(raw) == "null" {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return p.fail("metadata is not a JSON object")
	}
	p.idx.meta = make(map[string]string, len(m))
	for k, v := range m {
		var s string
		if json.Unmarshal(v, &s) != nil {
			var buf bytes.Buffer
			json.Compact(&buf, v) // v is valid JSON
			s = buf.String()
		}
		p.idx.meta[k] = s
	}
	if v, ok := m["total_size"]; ok {
		// Kept as JSON text: checkTotal wants a number, and shows what
		// it got otherwise.
		n := json.Number(bytes.TrimSpace(v))
		p.idx.totalSize = &n
	}
	return nil
}

// describe names the JSON type of a token for error messages.
func describe(t json.Token) string {
	switch v := t.(type) {
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

// shardSource opens the shards an index names.
type shardSource interface {
	// where returns the path or URL of a shard, for error messages.
	where(name string) string
	// open opens and validates the named shard; name is clean and local.
	open(name string, opts []Option) (*File, error)
}

// assemble opens the shards of idx from src and checks them against it.
func assemble(indexPath string, idx *index, src shardSource, opts []Option, lenient bool) (*Checkpoint, error) {
	names, err := shardNames(indexPath, idx)
	if err != nil {
		return nil, err
	}
	shards, err := openShards(names, src, opts)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{path: indexPath, index: true, meta: idx.meta, shards: shards}
	if err := c.link(names, idx, src); err != nil {
		c.Close()
		return nil, err
	}
	if !lenient {
		if err := c.checkTotal(idx); err != nil {
			c.Close()
			return nil, err
		}
	}
	c.keys = sync.OnceValue(func() []string { return slices.Sorted(maps.Keys(c.owner)) })
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
			return nil, &Error{File: indexPath, Tensor: tensor, Offset: -1, Err: ErrInvalidIndex, Detail: "weight_map gives an empty file name"}
		}
		if !localName(name) {
			return nil, &Error{File: indexPath, Tensor: tensor, Offset: -1, Err: ErrInsecurePath,
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
func openShards(names []string, src shardSource, opts []Option) ([]*File, error) {
	shards := make([]*File, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, shardConcurrency)
	var wg sync.WaitGroup
	for i, name := range names {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			shards[i], errs[i] = src.open(name, opts)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			for _, f := range shards {
				if f != nil {
					f.Close()
				}
			}
			return nil, err
		}
	}
	return shards, nil
}

// link maps every tensor to its shard and checks that weight_map says the
// same. All problems are found; the first, in name order, is reported with
// the number of others.
func (c *Checkpoint) link(names []string, idx *index, src shardSource) error {
	c.owner = make(map[string]int, len(idx.weightMap))
	var problems []*Error
	for i, f := range c.shards {
		for _, t := range f.tensors {
			c.size += t.Len()
			if j, dup := c.owner[t.Name]; dup {
				problems = append(problems, &Error{File: f.name, Tensor: t.Name, Offset: -1, Err: ErrWeightMap,
					Detail: fmt.Sprintf("the tensor is in two shards, %s and %s", names[j], names[i])})
				continue
			}
			c.owner[t.Name] = i
			switch listed, ok := idx.weightMap[t.Name]; {
			case !ok:
				problems = append(problems, &Error{File: f.name, Tensor: t.Name, Offset: -1, Err: ErrWeightMap,
					Detail: fmt.Sprintf("the tensor is in %s but not listed in weight_map", names[i])})
			case listed != names[i]:
				problems = append(problems, &Error{File: f.name, Tensor: t.Name, Offset: -1, Err: ErrWeightMap,
					Detail: fmt.Sprintf("the tensor is in %s but weight_map lists it for %s", names[i], listed)})
			}
		}
	}
	for tensor, name := range idx.weightMap {
		if _, ok := c.owner[tensor]; !ok {
			problems = append(problems, &Error{File: src.where(name), Tensor: tensor, Offset: -1, Err: ErrWeightMap,
				Detail: fmt.Sprintf("weight_map lists the tensor for %s, which does not hold it", name)})
		}
	}
	if len(problems) == 0 {
		return nil
	}
	slices.SortFunc(problems, func(a, b *Error) int {
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
			return &Error{File: c.path, Offset: -1, Err: ErrInvalidIndex,
				Detail: fmt.Sprintf("metadata.total_size is %s, not a whole number of bytes", s)}
		}
		n = int64(f)
	}
	if n != c.size {
		return &Error{File: c.path, Offset: -1, Err: ErrInvalidIndex,
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
		return nil, &Error{File: rootDir, Offset: -1, Err: ErrIO, Cause: err}
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

func (s *localShards) open(name string, opts []Option) (*File, error) {
	where := s.where(name)
	rel := s.prefix + name
	// Stat first: opening a FIFO or a device would block or read
	// something that is not a file.
	fi, err := s.root.Stat(rel)
	if err != nil {
		return nil, rootError(where, err)
	}
	if !fi.Mode().IsRegular() {
		what := "a directory"
		if !fi.IsDir() {
			what = "not a regular file (" + fi.Mode().Type().String() + ")"
		}
		return nil, &Error{File: where, Offset: -1, Err: ErrShardMissing, Detail: "the path is " + what}
	}
	osf, err := s.root.Open(rel)
	if err != nil {
		return nil, rootError(where, err)
	}
	return OpenFile(osf, append(slices.Clone(opts), WithName(where))...)
}

// rootError classifies an error from os.Root. The root reports a path
// that leaves it with an unexported error, recognisable only by its text.
func rootError(where string, err error) error {
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe) && pe.Err.Error() == "path escapes from parent":
		return &Error{File: where, Offset: -1, Err: ErrInsecurePath, Detail: "a symbolic link leads out of the checkpoint directory"}
	case errors.As(err, &pe):
		err = pe.Err // where already says which file
	}
	if errors.Is(err, fs.ErrNotExist) {
		return &Error{File: where, Offset: -1, Err: ErrShardMissing, Cause: err}
	}
	return &Error{File: where, Offset: -1, Err: ErrIO, Cause: err}
}

// Path returns the path (or URL) the checkpoint was opened from: its
// index file, or its single safetensors file.
func (c *Checkpoint) Path() string { return c.path }

// Sharded reports whether the checkpoint was opened from an index file.
func (c *Checkpoint) Sharded() bool { return c.index }

// Shards returns the checkpoint's files, in the order of their names
// (model-00001-of-00003.safetensors first). Each is also reachable
// through the checkpoint; the caller must not close them.
func (c *Checkpoint) Shards() []*File { return slices.Clone(c.shards) }

// Shard returns the file that holds the named tensor.
func (c *Checkpoint) Shard(name string) (*File, bool) {
	i, ok := c.owner[name]
	if !ok {
		return nil, false
	}
	return c.shards[i], true
}

// Len returns the number of tensors in all shards.
func (c *Checkpoint) Len() int { return len(c.owner) }

// Keys returns the names of all tensors sorted in byte order. The caller
// may modify the returned slice.
func (c *Checkpoint) Keys() []string { return slices.Clone(c.keys()) }

// Tensors iterates over the tensors shard by shard, and within a shard in
// file-offset order, which is the order that reads each file front to
// back. A TensorInfo's offsets are within its own shard (see
// [Checkpoint.Shard]).
func (c *Checkpoint) Tensors() iter.Seq2[string, TensorInfo] {
	return func(yield func(string, TensorInfo) bool) {
		for _, f := range c.shards {
			for _, t := range f.tensors {
				if !yield(t.Name, t) {
					return
				}
			}
		}
	}
}

// Info returns the description of the named tensor.
func (c *Checkpoint) Info(name string) (TensorInfo, bool) {
	f, ok := c.Shard(name)
	if !ok {
		return TensorInfo{}, false
	}
	return f.Info(name)
}

// Tensor returns the named tensor, read from its shard. It fails with
// [ErrTensorNotFound] when no shard has the tensor and [ErrClosed] after
// Close.
func (c *Checkpoint) Tensor(name string) (Tensor, error) {
	f, ok := c.Shard(name)
	if !ok {
		return Tensor{}, &Error{File: c.path, Tensor: name, Offset: -1, Err: ErrTensorNotFound}
	}
	return f.Tensor(name)
}

// Slice selects part of the named tensor, as [File.Slice] does; the
// ranges are offsets in the tensor's shard.
func (c *Checkpoint) Slice(name string, idx ...Index) (*Slice, error) {
	t, err := c.Tensor(name)
	if err != nil {
		return nil, err
	}
	return t.Slice(idx...)
}

// Metadata returns a copy of the index's metadata map, with string values
// as they are and other values as their JSON text (transformers writes
// "total_size" as a number: it reads back as "123"); for a single file it
// is the file's __metadata__. It is nil when there is none.
func (c *Checkpoint) Metadata() map[string]string { return maps.Clone(c.meta) }

// TotalSize returns the number of bytes of tensor data in all shards: the
// value transformers writes as metadata.total_size.
func (c *Checkpoint) TotalSize() int64 { return c.size }

// Close closes every shard. Tensors and slices read from the checkpoint
// become invalid as for [File.Close]. Close is idempotent.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, f := range c.shards {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
