package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/checkpoint"
)

var inspectCmd = &command{
	name:    "inspect",
	summary: "list a file's tensors, totals and metadata",
	usage: `Usage: stload inspect [--json] [--sha256] [--lenient] INPUT

Inspect validates INPUT and prints its tensors in file-offset order (ties by
name) as a table of name, dtype, shape, size in bytes and data offsets,
then the totals per dtype, the parameter count and the metadata. For a
sharded checkpoint it prints a summary of the whole, each shard's tensors
under a line naming the shard, the totals over all shards, the index's
metadata and the shards' metadata.

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
             RangeUnsupported or RemoteChanged, or IoError) and exits 1.
  --sha256   add each tensor's SHA-256 (hex, of its bytes): a column, or a
             "sha256" field in JSON. Reads every tensor.
  --lenient  accept what the reference accepts and stload rejects by default:
             duplicate tensor names or metadata keys (the last one wins) and
             tensor entries written as positional arrays; for a checkpoint,
             also a metadata.total_size that disagrees with the shards and a
             tensor listed twice in weight_map (the last entry wins).
`,
}

func init() { inspectCmd.run = runInspect }

type inspectFlags struct {
	json, sha bool
	in        inputOptions
}

func runInspect(args []string, stdout, stderr io.Writer) int {
	var fl inspectFlags
	fs := newFlags(inspectCmd)
	fs.BoolVar(&fl.json, "json", false, "")
	fs.BoolVar(&fl.sha, "sha256", false, "")
	addInputFlags(fs, &fl.in)
	pos, code, ok := parseCommand(inspectCmd, fs, args, 1, 1, stdout, stderr)
	if !ok {
		return code
	}
	c, err := openInput(context.Background(), pos[0], fl.in)
	if err != nil {
		return failure(err, fl.json, stdout, stderr)
	}
	defer c.Close()
	if f := single(c); f != nil {
		rep, err := describe(f, fl.sha)
		if err != nil {
			return failure(err, fl.json, stdout, stderr)
		}
		if fl.json {
			err = writeJSON(stdout, rep)
		} else {
			err = rep.writeText(stdout, pos[0], fl.sha)
		}
		return writeStatus(err, stderr)
	}
	rep, err := describeCheckpoint(c, fl.sha)
	if err != nil {
		return failure(err, fl.json, stdout, stderr)
	}
	if fl.json {
		err = writeJSON(stdout, rep)
	} else {
		err = rep.writeText(stdout, pos[0], c.Path(), fl.sha)
	}
	return writeStatus(err, stderr)
}

// inspectJSON is inspect's --json output; the field order is the
// contract.
type inspectJSON struct {
	OK         bool              `json:"ok"`
	HeaderSize int64             `json:"header_size"`
	Metadata   map[string]string `json:"metadata"` // nil → null, empty → {}
	Tensors    []tensorJSON      `json:"tensors"`
}

type tensorJSON struct {
	Name        string   `json:"name"`
	DType       string   `json:"dtype"`
	Shape       []uint64 `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
	SHA256      string   `json:"sha256,omitempty"`

	elements uint64
	bytes    int64
}

// describe collects what inspect prints about f, hashing every tensor
// when sha is set.
func describe(f *loader.File, sha bool) (*inspectJSON, error) {
	rep := &inspectJSON{OK: true, HeaderSize: f.HeaderSize(), Metadata: f.Metadata(), Tensors: []tensorJSON{}}
	for name, info := range f.Tensors() {
		t := tensorJSON{
			Name:        name,
			DType:       info.DType.String(),
			Shape:       append([]uint64{}, info.Shape...), // a scalar's is [], not null
			DataOffsets: [2]int64{info.Begin, info.End},
			elements:    info.NumElements(),
			bytes:       info.Len(),
		}
		if sha {
			sum, err := tensorSHA256(info)
			if err != nil {
				return nil, err
			}
			t.SHA256 = sum
		}
		rep.Tensors = append(rep.Tensors, t)
	}
	return rep, nil
}

// tensorSHA256 hashes the tensor's bytes, streamed from its file.
func tensorSHA256(t loader.Tensor) (string, error) {
	s, err := t.Slice()
	if err != nil {
		return "", err
	}
	_, sum, err := hashSlice(s)
	return sum, err
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

// writeText prints the readable report: a summary line, the tensor table,
// the totals per dtype and the metadata.
func (rep *inspectJSON) writeText(w io.Writer, file string, sha bool) error {
	bw := bufio.NewWriter(w)
	all := tally(rep.Tensors)
	fmt.Fprintf(bw, "%s: %s, %s parameters, %s of tensor data, header %s\n",
		file, plural(all.tensors, "tensor"), groupDigits(all.elements), sizeText(all.bytes), plural(int(rep.HeaderSize), "byte"))
	if len(rep.Tensors) > 0 {
		bw.WriteString("\n")
		writeTensorTable(bw, rep.Tensors, sha)
		bw.WriteString("\n")
		writeTotals(bw, rep.Tensors)
	}
	bw.WriteString("\n")
	writeMetadata(bw, "metadata", rep.Metadata)
	return bw.Flush()
}

// total counts tensors, their elements and their bytes.
type total struct {
	tensors  int
	elements uint64
	bytes    int64
}

func (x *total) add(t tensorJSON) {
	x.tensors++
	x.elements += t.elements
	x.bytes += t.bytes
}

// tally totals tensors.
func tally(tensors []tensorJSON) total {
	var all total
	for _, t := range tensors {
		all.add(t)
	}
	return all
}

// writeTensorTable prints one row per tensor: name, dtype, shape, bytes,
// offsets and, with sha, the SHA-256.
func writeTensorTable(w io.Writer, tensors []tensorJSON, sha bool) {
	tt := table{right: []bool{false, false, false, true, false, false}}
	head := []string{"NAME", "DTYPE", "SHAPE", "BYTES", "OFFSETS"}
	if sha {
		head = append(head, "SHA256")
	}
	tt.add(head...)
	for _, t := range tensors {
		row := []string{displayName(t.Name), t.DType, shapeText(t.Shape), strconv.FormatInt(t.bytes, 10),
			fmt.Sprintf("[%d, %d]", t.DataOffsets[0], t.DataOffsets[1])}
		if sha {
			row = append(row, t.SHA256)
		}
		tt.add(row...)
	}
	tt.write(w)
}

// writeTotals prints the tensors, parameters and bytes per dtype, widest
// type first, and over all.
func writeTotals(w io.Writer, tensors []tensorJSON) {
	totals := map[string]*total{}
	var all total
	for _, t := range tensors {
		tt := totals[t.DType]
		if tt == nil {
			tt = &total{}
			totals[t.DType] = tt
		}
		tt.add(t)
		all.add(t)
	}
	tt := table{right: []bool{false, true, true, true, false}}
	tt.add("DTYPE", "TENSORS", "PARAMETERS", "BYTES", "")
	names := slices.SortedFunc(maps.Keys(totals), func(a, b string) int {
		// Widest type first, as the writer orders tensors.
		da, _ := dtype.Parse(a)
		db, _ := dtype.Parse(b)
		return int(db) - int(da)
	})
	for _, name := range names {
		x := totals[name]
		tt.add(name, strconv.Itoa(x.tensors), groupDigits(x.elements), groupDigits(uint64(x.bytes)), "("+sizeText(x.bytes)+")")
	}
	tt.add("total", strconv.Itoa(all.tensors), groupDigits(all.elements), groupDigits(uint64(all.bytes)), "("+sizeText(all.bytes)+")")
	tt.write(w)
}

// writeMetadata prints a metadata map under label, keys sorted.
func writeMetadata(w io.Writer, label string, meta map[string]string) {
	switch {
	case meta == nil:
		fmt.Fprintf(w, "%s: none\n", label)
	case len(meta) == 0:
		fmt.Fprintf(w, "%s: {} (empty)\n", label)
	default:
		fmt.Fprintf(w, "%s:\n", label)
		for _, k := range slices.Sorted(maps.Keys(meta)) {
			fmt.Fprintf(w, "  %s: %s\n", displayName(k), displayValue(meta[k]))
		}
	}
}

// checkpointJSON is inspect's --json output for a sharded checkpoint; the
// field order is the contract.
type checkpointJSON struct {
	OK         bool              `json:"ok"`
	Checkpoint bool              `json:"checkpoint"`
	Metadata   map[string]string `json:"metadata"` // the index's
	Shards     []shardJSON       `json:"shards"`
}

// shardJSON is one shard of checkpointJSON: a single file's report with
// the shard's name first.
type shardJSON struct {
	File       string            `json:"file"`
	HeaderSize int64             `json:"header_size"`
	Metadata   map[string]string `json:"metadata"`
	Tensors    []tensorJSON      `json:"tensors"`
}

// describeCheckpoint collects what inspect prints about a sharded
// checkpoint, shard by shard.
func describeCheckpoint(c *checkpoint.Checkpoint, sha bool) (*checkpointJSON, error) {
	rep := &checkpointJSON{OK: true, Checkpoint: true, Metadata: c.Metadata(), Shards: []shardJSON{}}
	for _, f := range c.Files() {
		r, err := describe(f, sha)
		if err != nil {
			return nil, err
		}
		rep.Shards = append(rep.Shards, shardJSON{File: shardName(c, f), HeaderSize: r.HeaderSize, Metadata: r.Metadata, Tensors: r.Tensors})
	}
	return rep, nil
}

// writeText prints the readable report of a checkpoint: a summary, each
// shard's tensors under a line that names the shard with its totals, the
// totals per dtype over all shards, the index's metadata and the shards'.
func (rep *checkpointJSON) writeText(w io.Writer, input, index string, sha bool) error {
	bw := bufio.NewWriter(w)
	var tensors []tensorJSON
	for _, s := range rep.Shards {
		tensors = append(tensors, s.Tensors...)
	}
	all := tally(tensors)
	fmt.Fprintf(bw, "%s: checkpoint of %s, %s, %s parameters, %s of tensor data\n",
		input, plural(len(rep.Shards), "shard"), plural(all.tensors, "tensor"), groupDigits(all.elements), sizeText(all.bytes))
	if index != input {
		fmt.Fprintf(bw, "index: %s\n", index)
	}
	sameMeta := true
	for _, s := range rep.Shards {
		sameMeta = sameMeta && maps.Equal(s.Metadata, rep.Shards[0].Metadata) && (s.Metadata == nil) == (rep.Shards[0].Metadata == nil)
	}
	for _, s := range rep.Shards {
		x := tally(s.Tensors)
		fmt.Fprintf(bw, "\n%s: %s, %s parameters, %s, header %s\n",
			displayName(s.File), plural(x.tensors, "tensor"), groupDigits(x.elements), sizeText(x.bytes), plural(int(s.HeaderSize), "byte"))
		if !sameMeta {
			writeMetadata(bw, "metadata", s.Metadata)
		}
		if len(s.Tensors) > 0 {
			bw.WriteString("\n")
			writeTensorTable(bw, s.Tensors, sha)
		}
	}
	if len(tensors) > 0 {
		bw.WriteString("\n")
		writeTotals(bw, tensors)
	}
	bw.WriteString("\n")
	writeMetadata(bw, "index metadata", rep.Metadata)
	if sameMeta && len(rep.Shards) > 0 {
		writeMetadata(bw, "shard metadata", rep.Shards[0].Metadata)
	}
	return bw.Flush()
}

// shapeText formats a shape as "[2, 4]" ("[]" for a scalar), with exact
// integers.
func shapeText(shape []uint64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatUint(d, 10))
	}
	b.WriteByte(']')
	return b.String()
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
func groupDigits(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// sizeText formats a byte count for people: "512 B", "1.5 KiB", "3.0 GiB".
func sizeText(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n) / 1024
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
