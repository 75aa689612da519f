package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/checkpoint"
)

var inspectCmd = &command{
	name:     "inspect",
	summary:  "list a file's tensors, totals and metadata",
	synopsis: "stload inspect [--json] [--sha256] [--wide] [--lenient] INPUT",
	usage: `Usage: stload inspect [--json] [--sha256] [--wide] [--lenient] INPUT

Inspect validates INPUT and prints its tensors in file-offset order (ties by
name) as a table of name, dtype, shape and size (with --wide: exact bytes
and data offsets), then the totals per dtype, the parameter count and the
metadata. For a
sharded checkpoint it prints a summary of the whole, each shard's tensors
under a line naming the shard, the totals over all shards, the index's
metadata and the shards' metadata.

The tables fit 80 columns: a tensor name too long for that loses its least
telling parts to "…": leading components first ("model.", then
"language_model."), then middle ones, keeping layer and expert numbers and
the last components ("…layers.31…experts.7.w1.weight"); names that would
then read the same are printed whole. --wide prints names whole, with
exact bytes and offsets. Sizes are in decimal units (kB, MB, GB: powers of
1000) with one decimal; byte and parameter counts have thousands
separators; shapes and offsets are printed as the header writes them.

` + inputHelp + `
Flags:
  --json     print one line of JSON instead. For a single file (also one
             given by directory or URL):
             {"ok":true,"header_size":N,"metadata":{...}|null,
              "tensors":[{"name":..,"dtype":..,"shape":[..],"data_offsets":[b,e]},...]}
             metadata is null when the header has none (or null), {} when empty.
             For a sharded checkpoint (opened from an index):
             {"ok":true,"checkpoint":true,"metadata":{...}|null,
              "shards":[{"file":..,"header_size":N,"metadata":{...}|null,
                         "tensors":[...]},...]}
             where metadata is the index's (values as strings: total_size
             reads "123"), shards come in name order, file is the shard's
             name as weight_map gives it, and each shard's fields are a
             single file's; data_offsets are within the shard.
             An input that fails validation prints {"ok":false,"kind":..,"error":..}
             (kind is the reference's error variant, stload's own such as
             DuplicateKey, a checkpoint's NoCheckpoint, InvalidIndex,
             ShardMissing, WeightMapMismatch, InsecurePath, a URL's
             RangeUnsupported, RemoteChanged, NoValidators or
             DeadlineExceeded, or IoError) and exits 1.
  --sha256   add each tensor's SHA-256 (hex, of its bytes): a line under
             the tensor's row, or a "sha256" field in JSON. Reads every
             tensor, with a progress bar on standard error when it is a
             terminal.
  --wide     do not shorten names to fit the tables in 80 columns, and
             print each tensor's exact bytes and data offsets.
  --lenient  accept what the reference accepts and stload rejects by default:
             duplicate tensor names or metadata keys (the last one wins) and
             tensor entries written as positional arrays; for a checkpoint,
             also a metadata.total_size that disagrees with the shards and a
             tensor listed twice in weight_map (the last entry wins).
`,
}

func init() { inspectCmd.run = runInspect }

type inspectFlags struct {
	json, sha, wide bool
	in              inputOptions
}

func runInspect(ctx context.Context, e *env, args []string) int {
	stdout, stderr := e.stdout, e.stderr
	var fl inspectFlags
	fs := newFlags(inspectCmd)
	fs.BoolVar(&fl.json, "json", false, "")
	fs.BoolVar(&fl.sha, "sha256", false, "")
	fs.BoolVar(&fl.wide, "wide", false, "")
	addInputFlags(fs, &fl.in)
	pos, code, ok := parseCommand(inspectCmd, fs, args, 1, 1, stdout, stderr)
	if !ok {
		return code
	}
	c, err := openInput(ctx, e, pos[0], fl.in)
	if err != nil {
		return failure(ctx, err, fl.json, stdout, stderr)
	}
	defer c.Close()
	var sums [][][sha256.Size]byte // per file, per tensor
	if fl.sha {
		if sums, err = hashFiles(ctx, c.Files(), e.progress(stderr, false)); err != nil {
			return failure(ctx, err, fl.json, stdout, stderr)
		}
	}
	rep := &report{sums: sums, width: screenWidth}
	if fl.wide {
		rep.width = 0
	}
	bw := bufio.NewWriterSize(stdout, 64<<10)
	switch f := single(c.Checkpoint); {
	case fl.json && f != nil:
		rep.fileJSON(bw, f, 0)
	case fl.json:
		rep.checkpointJSON(bw, c.Checkpoint)
	case f != nil:
		rep.fileText(bw, shown(pos[0]), f)
	default:
		rep.checkpointText(bw, shown(pos[0]), c.Checkpoint)
	}
	if rep.err == nil {
		rep.err = bw.Flush()
	}
	return writeStatus(ctx, rep.err, stderr)
}

// hashFiles hashes every tensor of files, streamed from its file, and
// returns the digests per file in tensor order. bar shows the progress.
func hashFiles(ctx context.Context, files []*loader.File, bar *progressBar) ([][][sha256.Size]byte, error) {
	var total int64
	for _, f := range files {
		for _, t := range f.Tensors() {
			total += t.End - t.Begin
		}
	}
	m := &meter{total: total}
	draw := func() { bar.update(m.n.Load(), total) }
	stop := func() {}
	if bar != nil {
		draw()
		ticker := tick(progressInterval, draw)
		stop = func() {
			ticker()
			draw() // the end, with its rate, as convert's bar shows it
		}
	}
	defer bar.done()
	defer stop()
	h := sha256.New()
	sums := make([][][sha256.Size]byte, len(files))
	for i, f := range files {
		sums[i] = make([][sha256.Size]byte, 0, tensorCount(f))
		for _, t := range f.Tensors() {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			s, err := t.Slice()
			if err != nil {
				return nil, err
			}
			h.Reset()
			if _, err := s.WriteTo(countingWriter{w: h, m: m}); err != nil {
				return nil, err
			}
			sums[i] = append(sums[i], [sha256.Size]byte{})
			h.Sum(sums[i][len(sums[i])-1][:0])
		}
	}
	return sums, nil
}

// tensorCount returns the number of tensors in f.
func tensorCount(f *loader.File) int {
	n := 0
	for range f.Tensors() {
		n++
	}
	return n
}

// hashSlice streams the bytes a slice covers into SHA-256 without
// gathering them, and returns their number and the hex digest.
func hashSlice(s *loader.Slice) (int64, string, error) {
	h := sha256.New()
	n, err := s.WriteTo(h)
	if err != nil {
		return n, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// report writes what inspect prints, tensor by tensor as it goes through
// a file's, so that the memory it needs beyond the open file does not
// grow with the number of tensors. The first write error sticks in err
// and stops the writes after it.
type report struct {
	sums  [][][sha256.Size]byte // with --sha256, per file and tensor
	width int                   // of the tensor tables; 0: no limit
	err   error
	buf   bytes.Buffer // for json
	enc   *json.Encoder
}

func (r *report) printf(w io.Writer, format string, args ...any) {
	if r.err == nil {
		_, r.err = fmt.Fprintf(w, format, args...)
	}
}

// sum returns the hex SHA-256 of file i's tensor k, or "" without
// --sha256.
func (r *report) sum(i, k int) string {
	if r.sums == nil {
		return ""
	}
	return hex.EncodeToString(r.sums[i][k][:])
}

// inspect --json: the field order is the contract. A single file:
//
//	{"ok":true,"header_size":N,"metadata":{...}|null,"tensors":[...]}
//
// and a sharded checkpoint:
//
//	{"ok":true,"checkpoint":true,"metadata":{...}|null,"shards":[
//	  {"file":..,"header_size":N,"metadata":..,"tensors":[...]},...]}
//
// The tensors and shards are streamed, one element at a time.

// tensorJSON is one element of inspect --json's "tensors".
type tensorJSON struct {
	Name        string   `json:"name"`
	DType       string   `json:"dtype"`
	Shape       []uint64 `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
	SHA256      string   `json:"sha256,omitempty"`
}

// fileJSON writes the JSON report of f, the i-th file of its input.
func (r *report) fileJSON(w *bufio.Writer, f *loader.File, i int) {
	r.printf(w, `{"ok":true,"header_size":%d,"metadata":`, f.HeaderSize())
	r.json(w, f.Metadata())
	r.tensorsJSON(w, f, i)
	r.printf(w, "}\n")
}

// tensorsJSON writes `,"tensors":[...]` for f, the i-th file.
func (r *report) tensorsJSON(w *bufio.Writer, f *loader.File, i int) {
	r.printf(w, `,"tensors":[`)
	k := 0
	for name, t := range f.Tensors() {
		if k > 0 {
			r.printf(w, ",")
		}
		shape := t.Shape
		if shape == nil {
			shape = []uint64{} // a scalar's is [], not null
		}
		r.json(w, tensorJSON{Name: name, DType: t.DType.String(), Shape: shape,
			DataOffsets: [2]int64{t.Begin, t.End}, SHA256: r.sum(i, k)})
		k++
	}
	r.printf(w, "]")
}

// checkpointJSON writes the JSON report of a sharded checkpoint: the
// index's metadata (values as strings), then each shard, in name order.
func (r *report) checkpointJSON(w *bufio.Writer, c *checkpoint.Checkpoint) {
	r.printf(w, `{"ok":true,"checkpoint":true,"metadata":`)
	r.json(w, c.Metadata())
	r.printf(w, `,"shards":[`)
	for i, f := range c.Files() {
		if i > 0 {
			r.printf(w, ",")
		}
		r.printf(w, `{"file":`)
		r.json(w, shardName(c, f))
		r.printf(w, `,"header_size":%d,"metadata":`, f.HeaderSize())
		r.json(w, f.Metadata())
		r.tensorsJSON(w, f, i)
		r.printf(w, "}")
	}
	r.printf(w, "]}\n")
}

// json writes v as compact JSON without a newline, escaping strings as
// JSON requires and no more ('<', '>' and '&' as they are), as writeJSON
// does.
func (r *report) json(w io.Writer, v any) {
	if r.err != nil {
		return
	}
	if r.enc == nil {
		r.enc = json.NewEncoder(&r.buf)
		r.enc.SetEscapeHTML(false)
	}
	r.buf.Reset()
	if r.err = r.enc.Encode(v); r.err == nil {
		_, r.err = w.Write(bytes.TrimSuffix(r.buf.Bytes(), []byte("\n")))
	}
}

// total counts tensors, their elements and their bytes.
type total struct {
	tensors  int
	elements uint64
	bytes    int64
}

func (x *total) add(t loader.Tensor) {
	x.tensors++
	x.elements += t.NumElements()
	x.bytes += t.End - t.Begin
}

// totals counts the tensors of files per dtype and over all.
type totals struct {
	all    total
	byType map[dtype.DType]*total
}

func (x *totals) add(f *loader.File) {
	if x.byType == nil {
		x.byType = map[dtype.DType]*total{}
	}
	for _, t := range f.Tensors() {
		tt := x.byType[t.DType]
		if tt == nil {
			tt = &total{}
			x.byType[t.DType] = tt
		}
		tt.add(t)
		x.all.add(t)
	}
}

// fileText writes the readable report of a single file: a summary line,
// the tensor table, the totals per dtype and the metadata.
func (r *report) fileText(w io.Writer, input string, f *loader.File) {
	var x totals
	x.add(f)
	r.printf(w, "%s: %s, %s parameters, %s of tensor data, header %s\n",
		input, plural(x.all.tensors, "tensor"), groupDigits(x.all.elements), sizeText(x.all.bytes), plural(int(f.HeaderSize()), "byte"))
	if x.all.tensors > 0 {
		r.printf(w, "\n")
		r.tensorTable(w, f, 0)
		r.printf(w, "\n")
		r.totalsTable(w, &x)
	}
	r.printf(w, "\n")
	r.metadata(w, "metadata", f.Metadata())
}

// appendTensorRow appends the cells of a tensor's row in the tensor
// table to the row l is building: name (as names shows it), dtype,
// shape, then its size, or with wide its exact bytes and offsets.
func appendTensorRow(l *layout, t loader.Tensor, names *namer, wide bool) {
	l.row = names.appendName(l.row, t.Name)
	l.endCell()
	l.row = append(l.row, t.DType.String()...)
	l.endCell()
	l.row = appendShape(l.row, t.Shape)
	l.endCell()
	if !wide {
		l.row = appendSizeText(l.row, t.End-t.Begin)
		l.endCell()
		return
	}
	l.row = appendGrouped(l.row, uint64(t.End-t.Begin))
	l.endCell()
	l.row = append(strconv.AppendInt(append(strconv.AppendInt(append(l.row, '['), t.Begin, 10), ", "...), t.End, 10), ']')
	l.endCell()
}

// measureTensor widens l's columns to hold t's row, without making the
// row's strings: a header of a million tensors is measured without a
// million rows of garbage.
func measureTensor(l *layout, t loader.Tensor, wide bool) {
	shape := 2 + max(0, 2*(len(t.Shape)-1))
	for _, d := range t.Shape {
		shape += digits(d)
	}
	l.widths[0] = max(l.widths[0], utf8.RuneCountInString(displayName(t.Name)))
	l.widths[1] = max(l.widths[1], len(t.DType.String()))
	l.widths[2] = max(l.widths[2], shape)
	if !wide {
		l.row = appendSizeText(l.row[:0], t.End-t.Begin) // l.row is free while measuring
		l.widths[3] = max(l.widths[3], len(l.row))
		l.row = l.row[:0]
		return
	}
	n := digits(uint64(t.End - t.Begin))
	l.widths[3] = max(l.widths[3], n+(n-1)/3)
	l.widths[4] = max(l.widths[4], 4+digits(uint64(t.Begin))+digits(uint64(t.End)))
}

// digits returns the number of decimal digits of n.
func digits(n uint64) int {
	k := 1
	for ; n >= 10; n /= 10 {
		k++
	}
	return k
}

// tensorTable writes one row per tensor of f, the i-th file, each
// followed by a line with its SHA-256 under --sha256. Within r.width
// (80 columns) a row is name, dtype, shape and size, names shortened by
// a namer; with --wide (r.width 0) it is name, dtype, shape, exact bytes
// and offsets within the data section, names whole.
func (r *report) tensorTable(w io.Writer, f *loader.File, i int) {
	wide := r.width == 0
	head := []string{"NAME", "DTYPE", "SHAPE", "SIZE"}
	if wide {
		head = []string{"NAME", "DTYPE", "SHAPE", "BYTES", "OFFSETS"}
	}
	l := layout{right: []bool{false, false, false, true, false}, shrink: 0, widths: make([]int, len(head))}
	for _, t := range f.Tensors() {
		measureTensor(&l, t, wide)
	}
	longest := l.widths[0] // the widest name, whole
	l.measure(head...)
	l.fit(r.width)
	names := newNamer(f, longest, l.widths[0])
	l.widths[0] = max(len(head[0]), names.widest)
	l.shrink = -1 // the namer shortens names, keeping them apart
	if r.err == nil {
		r.err = l.writeRow(w, head...)
	}
	k := 0
	for _, t := range f.Tensors() {
		if r.err != nil {
			return
		}
		appendTensorRow(&l, t, names, wide)
		r.err = l.endRow(w)
		if r.sums != nil && r.err == nil {
			_, r.err = w.Write(append(hex.AppendEncode(append(l.line[:0], "  sha256:"...), r.sums[i][k][:]), '\n'))
		}
		k++
	}
}

// totalsTable writes the tensors, parameters and bytes per dtype, widest
// type first (the writer's order), and over all.
func (r *report) totalsTable(w io.Writer, x *totals) {
	tt := newTable(false, true, true, true, false)
	tt.add("DTYPE", "TENSORS", "PARAMETERS", "BYTES", "")
	row := func(name string, t *total) {
		tt.add(name, groupDigits(uint64(t.tensors)), groupDigits(t.elements), groupDigits(uint64(t.bytes)), "("+sizeText(t.bytes)+")")
	}
	for _, dt := range slices.Backward(slices.Sorted(maps.Keys(x.byType))) {
		row(dt.String(), x.byType[dt])
	}
	row("total", &x.all)
	if r.err == nil {
		r.err = tt.write(w, 0)
	}
}

// metadata writes a metadata map under label, keys sorted.
func (r *report) metadata(w io.Writer, label string, meta map[string]string) {
	switch {
	case meta == nil:
		r.printf(w, "%s: none\n", label)
	case len(meta) == 0:
		r.printf(w, "%s: {} (empty)\n", label)
	default:
		r.printf(w, "%s:\n", label)
		for _, k := range slices.Sorted(maps.Keys(meta)) {
			r.printf(w, "  %s: %s\n", displayName(k), displayValue(meta[k]))
		}
	}
}

// checkpointText writes the readable report of a sharded checkpoint: a
// summary, each shard's tensors under a line that names the shard with
// its totals, the totals per dtype over all shards, the index's metadata
// and the shards'.
func (r *report) checkpointText(w io.Writer, input string, c *checkpoint.Checkpoint) {
	var x totals
	files := c.Files()
	sameMeta := true
	for _, f := range files {
		x.add(f)
		m, m0 := f.Metadata(), files[0].Metadata()
		sameMeta = sameMeta && maps.Equal(m, m0) && (m == nil) == (m0 == nil)
	}
	r.printf(w, "%s: checkpoint of %s, %s, %s parameters, %s of tensor data\n",
		input, plural(len(files), "shard"), plural(x.all.tensors, "tensor"), groupDigits(x.all.elements), sizeText(x.all.bytes))
	if index := shown(c.Path()); index != input {
		r.printf(w, "index: %s\n", index)
	}
	for i, f := range files {
		var s totals
		s.add(f)
		r.printf(w, "\n%s: %s, %s parameters, %s, header %s\n",
			displayName(shardName(c, f)), plural(s.all.tensors, "tensor"), groupDigits(s.all.elements), sizeText(s.all.bytes), plural(int(f.HeaderSize()), "byte"))
		if !sameMeta {
			r.metadata(w, "metadata", f.Metadata())
		}
		if s.all.tensors > 0 {
			r.printf(w, "\n")
			r.tensorTable(w, f, i)
		}
	}
	if x.all.tensors > 0 {
		r.printf(w, "\n")
		r.totalsTable(w, &x)
	}
	r.printf(w, "\n")
	r.metadata(w, "index metadata", c.Metadata())
	if sameMeta && len(files) > 0 {
		r.metadata(w, "shard metadata", files[0].Metadata())
	}
}

// appendShape appends a shape as "[2, 4]" ("[]" for a scalar), with exact
// integers.
func appendShape(b []byte, shape []uint64) []byte {
	b = append(b, '[')
	for i, d := range shape {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendUint(b, d, 10)
	}
	return append(b, ']')
}

// displayName returns a name as is when it prints cleanly in a table, and
// quoted Go-style when it is empty or holds spaces or unprintable
// characters.
func displayName(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) || unicode.IsSpace(r) }) || strings.HasPrefix(s, `"`) {
		return strconv.Quote(s)
	}
	return s
}

// displayValue is displayName for a metadata value: spaces are fine, but
// line breaks and other control characters are quoted.
func displayValue(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) && r != ' ' }) || strings.HasPrefix(s, `"`) {
		return strconv.Quote(s)
	}
	return s
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return groupDigits(uint64(n)) + " " + what + "s"
}

// groupDigits writes n with thousands separators: 1,234,567.
func groupDigits(n uint64) string { return string(appendGrouped(nil, n)) }

func appendGrouped(b []byte, n uint64) []byte {
	var buf [20]byte
	d := strconv.AppendUint(buf[:0], n, 10)
	for i, c := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, c)
	}
	return b
}
