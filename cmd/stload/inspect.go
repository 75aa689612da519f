package main

import (
	"bufio"
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
)

var inspectCmd = &command{
	name:    "inspect",
	summary: "list a file's tensors, totals and metadata",
	usage: `Usage: stload inspect [--json] [--sha256] [--lenient] FILE

Inspect validates FILE and prints its tensors in file-offset order (ties by
name) as a table of name, dtype, shape, size in bytes and data offsets,
then the totals per dtype, the parameter count and the metadata.

Flags:
  --json     print one line of JSON instead:
             {"ok":true,"header_size":N,"metadata":{...}|null,
              "tensors":[{"name":..,"dtype":..,"shape":[..],"data_offsets":[b,e]},...]}
             metadata is null when the header has none (or null), {} when empty.
             A file that fails validation prints {"ok":false,"kind":..,"error":..}
             (kind is the reference's error variant, stload's own such as
             DuplicateKey, or IoError) and exits 1.
  --sha256   add each tensor's SHA-256 (hex, of its bytes): a column, or a
             "sha256" field in JSON. Reads every tensor.
  --lenient  accept what the reference accepts and stload rejects by default:
             duplicate tensor names or metadata keys (the last one wins) and
             tensor entries written as positional arrays.
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
	f, err := openInput(pos[0], fl.in)
	if err != nil {
		return failure(err, fl.json, stdout, stderr)
	}
	defer f.Close()
	rep, err := describe(f, fl.sha)
	if err != nil {
		return failure(err, fl.json, stdout, stderr)
	}
	if fl.json {
		err = writeJSON(stdout, rep)
	} else {
		err = rep.writeText(stdout, pos[0], fl.sha)
	}
	if err != nil {
		fmt.Fprintf(stderr, "stload inspect: %v\n", err)
		return exitFail
	}
	return exitOK
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
			Shape:       append([]uint64{}, info.Shape...),
			DataOffsets: [2]int64{info.Begin, info.End},
			elements:    info.NumElements(),
			bytes:       info.Len(),
		}
		if sha {
			sum, err := tensorSHA256(f, name)
			if err != nil {
				return nil, err
			}
			t.SHA256 = sum
		}
		rep.Tensors = append(rep.Tensors, t)
	}
	return rep, nil
}

// tensorSHA256 hashes the named tensor's bytes, streamed from the file.
func tensorSHA256(f *loader.File, name string) (string, error) {
	s, err := f.Slice(name)
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
	type total struct {
		tensors  int
		elements uint64
		bytes    int64
	}
	totals := map[string]*total{}
	var all total
	for _, t := range rep.Tensors {
		tt := totals[t.DType]
		if tt == nil {
			tt = &total{}
			totals[t.DType] = tt
		}
		for _, x := range []*total{tt, &all} {
			x.tensors++
			x.elements += t.elements
			x.bytes += t.bytes
		}
	}
	fmt.Fprintf(bw, "%s: %s, %s parameters, %s of tensor data, header %s\n",
		file, plural(all.tensors, "tensor"), groupDigits(all.elements), sizeText(all.bytes), plural(int(rep.HeaderSize), "byte"))

	if len(rep.Tensors) > 0 {
		bw.WriteString("\n")
		tt := table{right: []bool{false, false, false, true, false, false}}
		head := []string{"NAME", "DTYPE", "SHAPE", "BYTES", "OFFSETS"}
		if sha {
			head = append(head, "SHA256")
		}
		tt.add(head...)
		for _, t := range rep.Tensors {
			row := []string{displayName(t.Name), t.DType, shapeText(t.Shape), strconv.FormatInt(t.bytes, 10),
				fmt.Sprintf("[%d, %d]", t.DataOffsets[0], t.DataOffsets[1])}
			if sha {
				row = append(row, t.SHA256)
			}
			tt.add(row...)
		}
		tt.write(bw)

		bw.WriteString("\n")
		tt = table{right: []bool{false, true, true, true, false}}
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
		tt.write(bw)
	}

	bw.WriteString("\n")
	switch {
	case rep.Metadata == nil:
		bw.WriteString("metadata: none\n")
	case len(rep.Metadata) == 0:
		bw.WriteString("metadata: {} (empty)\n")
	default:
		bw.WriteString("metadata:\n")
		for _, k := range slices.Sorted(maps.Keys(rep.Metadata)) {
			fmt.Fprintf(bw, "  %s: %s\n", displayName(k), displayValue(rep.Metadata[k]))
		}
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
