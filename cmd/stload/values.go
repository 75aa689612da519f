package main

import (
	"bufio"
	"encoding/binary"
	"io"
	"iter"
	"math"
	"strconv"
	"strings"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// selection gives access to the elements of a slice by their row-major
// index, reading only the bytes asked for from the file.
type selection struct {
	f      *loader.File
	sl     *loader.Slice
	dt     dtype.DType
	shape  []uint64
	count  uint64 // number of elements
	group  uint64 // elements per whole-byte group: 2 for F4, 4 for F6, else 1
	gbytes int64  // bytes per group

	// A cursor over the slice's runs: reads move forward through the
	// selection, so each finds its run where the last one left off.
	next  func() (int64, int64, bool)
	stop  func()
	run   [2]int64 // the current run: file offset and length
	start int64    // offset of the current run in the selection's bytes
}

// newSelection returns the elements of s, a selection of a tensor of f
// whose element type is dt. It must be closed.
func newSelection(f *loader.File, dt dtype.DType, s *loader.Slice) *selection {
	sel := &selection{f: f, sl: s, dt: dt, shape: s.Shape, count: 1}
	for _, d := range s.Shape {
		sel.count *= d // the selection fits in the file, or a dimension is 0
	}
	if s.NBytes == 0 {
		sel.count = 0
	}
	sel.group, sel.gbytes = elementGroup(dt)
	return sel
}

// close releases the cursor.
func (s *selection) close() {
	if s.stop != nil {
		s.stop()
		s.next, s.stop = nil, nil
	}
}

// seek moves the cursor to the run that holds byte off of the selection,
// from the first run when off is behind it, and reports whether there is
// one.
func (s *selection) seek(off int64) bool {
	if s.next == nil || off < s.start {
		s.close()
		s.next, s.stop = iter.Pull2(s.sl.Runs())
		s.run, s.start = [2]int64{}, 0
	}
	for off >= s.start+s.run[1] {
		o, n, ok := s.next()
		if !ok {
			return false
		}
		s.start += s.run[1]
		s.run = [2]int64{o, n}
	}
	return true
}

// elementGroup returns the fewest elements of dt that fill whole bytes (2
// of F4, 4 of F6, else 1) and the number of bytes they fill.
func elementGroup(dt dtype.DType) (uint64, int64) {
	switch dt.Bits() {
	case 4:
		return 2, 1
	case 6:
		return 4, 3
	}
	return 1, int64(dt.Size())
}

// read fills p with the selection's bytes starting at offset off of their
// row-major concatenation.
func (s *selection) read(p []byte, off int64) error {
	for len(p) > 0 {
		if !s.seek(off) {
			return io.ErrUnexpectedEOF
		}
		within := off - s.start
		k := min(int64(len(p)), s.run[1]-within)
		if _, err := s.f.ReadAt(p[:k], s.run[0]+within); err != nil {
			return err
		}
		p, off = p[k:], off+k
	}
	return nil
}

// values decodes the n elements starting at element first.
func (s *selection) values(first, n uint64) ([]value, error) {
	g0 := first / s.group
	g1 := (first + n + s.group - 1) / s.group
	raw := make([]byte, int64(g1-g0)*s.gbytes)
	if err := s.read(raw, int64(g0)*s.gbytes); err != nil {
		return nil, err
	}
	vals, err := decodeValues(s.dt, raw)
	if err != nil {
		return nil, err
	}
	skip := first - g0*s.group
	return vals[skip : skip+n], nil
}

// value is one decoded element; which fields count depends on the dtype.
type value struct {
	u      uint64  // BOOL and unsigned integers
	i      int64   // signed integers
	re, im float64 // floating types (im for C64)
}

// decodeValues decodes every element of raw, which holds whole groups.
func decodeValues(dt dtype.DType, raw []byte) ([]value, error) {
	n := len(raw) * 8 / dt.Bits()
	vals := make([]value, n)
	switch kind := kindOfDType(dt); kind {
	case kindBool, kindUint, kindInt:
		// Little-endian words of size bytes, sign-extended for kindInt.
		size := dt.Size()
		shift := 64 - 8*size
		for i := range vals {
			var w [8]byte
			copy(w[:], raw[size*i:size*(i+1)])
			u := binary.LittleEndian.Uint64(w[:])
			if kind == kindInt {
				vals[i].i = int64(u<<shift) >> shift
			} else {
				vals[i].u = u
			}
		}
	case kindComplex:
		for i := range vals {
			vals[i].re = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[8*i:])))
			vals[i].im = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[8*i+4:])))
		}
	case kindFloat:
		if dt == dtype.F64 { // exact: float32 would round it
			for i := range vals {
				vals[i].re = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
			}
			break
		}
		// F32, F16, BF16, the F8, F6 and F4 types: exact in float32.
		fs := make([]float32, n)
		if err := dtype.ToFloat32(fs, raw, dt); err != nil {
			return nil, err
		}
		for i, f := range fs {
			vals[i].re = float64(f)
		}
	}
	return vals, nil
}

// kind of element, for formatting.
type elemKind int

const (
	kindBool elemKind = iota
	kindUint
	kindInt
	kindFloat
	kindComplex
)

func kindOfDType(dt dtype.DType) elemKind {
	switch dt {
	case dtype.BOOL:
		return kindBool
	case dtype.U8, dtype.U16, dtype.U32, dtype.U64:
		return kindUint
	case dtype.I8, dtype.I16, dtype.I32, dtype.I64:
		return kindInt
	case dtype.C64:
		return kindComplex
	}
	return kindFloat
}

// floatBits is the precision a dtype's values are printed with: their
// shortest representation as a float64 for F64, as a float32 otherwise
// (every narrower type is exact in float32).
func floatBits(dt dtype.DType) int {
	if dt == dtype.F64 {
		return 64
	}
	return 32
}

// ---- readable output, after numpy's array repr ----

const (
	reprLineWidth = 75   // numpy's default linewidth
	reprThreshold = 1000 // more elements than this are summarised
	reprEdgeItems = 3    // items shown at each end of a summarised axis
)

// writeRepr prints the selection as numpy's repr does, with the
// safetensors dtype name: array([[1. , 2.5],\n       [3. , 4. ]], dtype=F32).
func (s *selection) writeRepr(w io.Writer) error {
	bw := bufio.NewWriter(w)
	dtypeStr := "dtype=" + s.dt.String() + ")"
	switch {
	case s.count == 0:
		bw.WriteString("array([], ")
		if len(s.shape) != 1 {
			bw.WriteString("shape=(")
			for i, d := range s.shape {
				if i > 0 {
					bw.WriteString(", ")
				}
				bw.WriteString(strconv.FormatUint(d, 10))
			}
			bw.WriteString("), ")
		}
		bw.WriteString(dtypeStr + "\n")
		return bw.Flush()
	case len(s.shape) == 0:
		vals, err := s.values(0, 1)
		if err != nil {
			return err
		}
		bw.WriteString("array(" + formatValues(s.dt, vals)[0] + ", " + dtypeStr + "\n")
		return bw.Flush()
	}

	summarize := s.count > reprThreshold
	vals, err := s.shownValues(summarize)
	if err != nil {
		return err
	}
	p := &reprPrinter{shape: s.shape, summarize: summarize, words: formatValues(s.dt, vals)}
	const prefix = "array("
	hang := strings.Repeat(" ", len(prefix)+1)
	// numpy leaves room for the "," that follows the data.
	body := prefix + p.recurse(0, hang, reprLineWidth-1) + ","
	lastLine := len(body) - (strings.LastIndexByte(body, '\n') + 1)
	spacer := " "
	if lastLine+len(dtypeStr)+1 > reprLineWidth {
		spacer = "\n" + strings.Repeat(" ", len(prefix))
	}
	bw.WriteString(body + spacer + dtypeStr + "\n")
	return bw.Flush()
}

// shownIndex lists, for an axis of size n, the positions numpy shows.
func shownIndex(n uint64, summarize bool) []uint64 {
	if summarize && n > 2*reprEdgeItems {
		out := make([]uint64, 0, 2*reprEdgeItems)
		for i := range uint64(reprEdgeItems) {
			out = append(out, i)
		}
		for i := n - reprEdgeItems; i < n; i++ {
			out = append(out, i)
		}
		return out
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i)
	}
	return out
}

// shownValues decodes the elements the repr shows, in row-major order:
// every element, or only the edge items of each long axis when
// summarising. Runs along the last axis are read in one go.
func (s *selection) shownValues(summarize bool) ([]value, error) {
	rank := len(s.shape)
	if s.count == 0 {
		return nil, nil
	}
	if rank == 0 {
		return s.values(0, 1)
	}
	strides := make([]uint64, rank)
	stride := uint64(1)
	for i := rank - 1; i >= 0; i-- {
		strides[i] = stride
		stride *= s.shape[i]
	}
	var out []value
	var walk func(axis int, base uint64) error
	walk = func(axis int, base uint64) error {
		n := s.shape[axis]
		if axis == rank-1 {
			runs := [][2]uint64{{0, n}}
			if summarize && n > 2*reprEdgeItems {
				runs = [][2]uint64{{0, reprEdgeItems}, {n - reprEdgeItems, n}}
			}
			for _, r := range runs {
				v, err := s.values(base+r[0], r[1]-r[0])
				if err != nil {
					return err
				}
				out = append(out, v...)
			}
			return nil
		}
		for _, i := range shownIndex(n, summarize) {
			if err := walk(axis+1, base+i*strides[axis]); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(0, 0)
}

// reprPrinter lays out formatted elements as numpy's _formatArray does.
type reprPrinter struct {
	shape     []uint64
	summarize bool
	words     []string // in the order the recursion consumes them
	next      int
}

func (p *reprPrinter) word() string {
	w := p.words[p.next]
	p.next++
	return w
}

// recurse formats the sub-array at axis; hang is the indent of its
// continuation lines and width the room before the closing brackets.
func (p *reprPrinter) recurse(axis int, hang string, width int) string {
	if axis == len(p.shape) {
		return p.word()
	}
	const sep = ", "
	nextHang := hang + " "
	nextWidth := width - 1 // for "]"
	n := p.shape[axis]
	summary := p.summarize && n > 2*reprEdgeItems
	// Items printed before the last one, and where "..." goes.
	before, insertAt := n-1, uint64(math.MaxUint64)
	if summary {
		before, insertAt = 2*reprEdgeItems-1, reprEdgeItems
	}
	var s strings.Builder
	if len(p.shape)-axis == 1 {
		elemWidth := width - 1 // for "," or "]"
		line := hang
		for i := range before {
			if i == insertAt {
				line = extendLine(&s, line, "...", elemWidth, hang) + sep
			}
			line = extendLine(&s, line, p.recurse(axis+1, nextHang, nextWidth), elemWidth, hang) + sep
		}
		if before == insertAt {
			line = extendLine(&s, line, "...", elemWidth, hang) + sep
		}
		line = extendLine(&s, line, p.recurse(axis+1, nextHang, nextWidth), elemWidth, hang)
		s.WriteString(line)
	} else {
		lineSep := "," + strings.Repeat("\n", len(p.shape)-axis-1)
		for i := range before {
			if i == insertAt {
				s.WriteString(hang + "..." + lineSep)
			}
			s.WriteString(hang + p.recurse(axis+1, nextHang, nextWidth) + lineSep)
		}
		s.WriteString(hang + p.recurse(axis+1, nextHang, nextWidth))
	}
	return "[" + s.String()[len(hang):] + "]"
}

// extendLine adds word to line, first moving line to s and starting a new
// one when word would not fit within width.
func extendLine(s *strings.Builder, line, word string, width int, hang string) string {
	if len(line)+len(word) > width && len(line) > len(hang) {
		s.WriteString(strings.TrimRight(line, " ") + "\n")
		line = hang
	}
	return line + word
}

// formatValues formats elements for the repr, padded to one width as
// numpy pads them.
func formatValues(dt dtype.DType, vals []value) []string {
	out := make([]string, len(vals))
	switch kindOfDType(dt) {
	case kindBool:
		for i, v := range vals {
			out[i] = strconv.FormatBool(v.u != 0)
		}
	case kindUint:
		for i, v := range vals {
			out[i] = strconv.FormatUint(v.u, 10)
		}
	case kindInt:
		for i, v := range vals {
			out[i] = strconv.FormatInt(v.i, 10)
		}
	case kindFloat:
		xs := make([]float64, len(vals))
		for i, v := range vals {
			xs[i] = shortest(dt, v.re)
		}
		return formatFloats(xs, false)
	case kindComplex:
		re := make([]float64, len(vals))
		im := make([]float64, len(vals))
		for i, v := range vals {
			re[i], im[i] = shortest(dtype.F32, v.re), shortest(dtype.F32, v.im)
		}
		rs := formatFloats(re, false)
		is := formatFloats(im, true)
		for i := range out {
			// As numpy: the "j" right after the digits, the imaginary
			// part's padding after it.
			t := strings.TrimRight(is[i], " ")
			out[i] = rs[i] + t + "j" + strings.Repeat(" ", len(is[i])-len(t))
		}
		return out
	}
	return padLeft(out)
}

func padLeft(words []string) []string {
	width := 0
	for _, w := range words {
		width = max(width, len(w))
	}
	for i, w := range words {
		words[i] = strings.Repeat(" ", width-len(w)) + w
	}
	return words
}

// shortest returns the decimal number with the fewest digits that reads
// back as x in the type dt (x being a value of that type), as a float64
// whose shortest representation is those digits: 1.0078125 in BF16 is
// 1.01, in F32 it stays 1.0078125, as numpy prints each type with the
// shortest digits that identify a value of it. The F8, F6 and F4 types, whose
// few values are mostly short decimals or powers of two that people look
// up exactly, print exactly.
func shortest(dt dtype.DType, x float64) float64 {
	if dt == dtype.F64 || math.IsNaN(x) || math.IsInf(x, 0) || x == 0 {
		return x
	}
	if dt == dtype.F16 || dt == dtype.BF16 {
		f := float32(x)
		for digits := 0; digits < 9; digits++ {
			s := strconv.FormatFloat(x, 'e', digits, 32)
			y, _ := strconv.ParseFloat(s, 32)
			if roundTo(dt, float32(y)) == f {
				d, _ := strconv.ParseFloat(s, 64)
				return d
			}
		}
	}
	d, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', -1, 32), 64)
	return d
}

// roundTo rounds f to the nearest value of dt, F16 or BF16.
func roundTo(dt dtype.DType, f float32) float32 {
	if dt == dtype.F16 {
		return dtype.F16ToFloat32(dtype.Float32ToF16(f))
	}
	return dtype.BF16ToFloat32(dtype.Float32ToBF16(f))
}

// floatPrecision is numpy's default: at most 8 decimals.
const floatPrecision = 8

// formatFloats formats xs as numpy's default float format does: the
// shortest representation of each (see shortest), at most 8 decimals, in
// scientific notation when the values span too wide a range, aligned on
// the decimal point. With sign set, every value carries its sign ("+1.5"),
// as the imaginary part of a complex number does.
func formatFloats(xs []float64, sign bool) []string {
	expMode := wantsExp(xs)
	ps := make([]floatParts, len(xs))
	var pad widths
	for i, x := range xs {
		ps[i] = splitFloat(x, expMode, sign)
		if ps[i].special == "" {
			pad.widen(ps[i])
		}
	}
	out := make([]string, len(xs))
	width := 0
	for i, p := range ps {
		out[i] = p.special
		if p.special == "" {
			out[i] = p.align(pad, expMode)
		}
		width = max(width, len(out[i]))
	}
	if sign {
		// The imaginary parts follow the real ones directly; align them
		// on the left so that every "j" lines up.
		for i, s := range out {
			out[i] = s + strings.Repeat(" ", width-len(s))
		}
		return out
	}
	return padLeft(out)
}

// wantsExp reports whether numpy would print xs in scientific notation:
// when a finite non-zero value is ≥ 1e8 or < 1e-4, or they span more than
// three decades.
func wantsExp(xs []float64) bool {
	var maxAbs float64
	minAbs := math.Inf(1)
	for _, x := range xs {
		if a := math.Abs(x); a != 0 && !math.IsInf(a, 0) && !math.IsNaN(a) {
			maxAbs = max(maxAbs, a)
			minAbs = min(minAbs, a)
		}
	}
	return maxAbs > 0 && (maxAbs >= 1e8 || minAbs < 1e-4 || maxAbs/minAbs > 1e3)
}

// floatParts is one formatted number cut at its decimal point and its
// exponent, or a special value (nan, inf) that is printed as it is.
type floatParts struct {
	intPart, frac, exp string
	special            string
}

// widths are the lengths of a column's widest integer part, fraction and
// exponent: the widths every value is padded to.
type widths struct{ intPart, frac, exp int }

// widen grows w to hold p.
func (w *widths) widen(p floatParts) {
	w.intPart = max(w.intPart, len(p.intPart))
	w.frac = max(w.frac, len(p.frac))
	w.exp = max(w.exp, len(p.exp))
}

// splitFloat formats x, shortest first and rounded to floatPrecision
// decimals only when the shortest form is longer.
func splitFloat(x float64, expMode, sign bool) floatParts {
	var p floatParts
	switch {
	case math.IsNaN(x):
		p.special = "nan"
	case math.IsInf(x, 1):
		p.special = "inf"
	case math.IsInf(x, -1):
		p.special = "-inf"
	}
	if p.special != "" {
		if sign && p.special[0] != '-' {
			p.special = "+" + p.special
		}
		return p
	}
	if expMode {
		mant, exp, _ := strings.Cut(strconv.FormatFloat(x, 'e', -1, 64), "e")
		if m := strings.IndexByte(mant, '.'); m >= 0 && len(mant)-m-1 > floatPrecision {
			mant, exp, _ = strings.Cut(strconv.FormatFloat(x, 'e', floatPrecision, 64), "e")
			mant = strings.TrimRight(mant, "0")
		}
		p.intPart, p.frac, _ = strings.Cut(mant, ".")
		p.exp = exp
	} else {
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if d := strings.IndexByte(s, '.'); d >= 0 && len(s)-d-1 > floatPrecision {
			s = strings.TrimRight(strconv.FormatFloat(x, 'f', floatPrecision, 64), "0")
		}
		p.intPart, p.frac, _ = strings.Cut(s, ".")
	}
	if sign && p.intPart[0] != '-' {
		p.intPart = "+" + p.intPart
	}
	return p
}

// align pads p to the column widths in pad, on the decimal point.
func (p floatParts) align(pad widths, expMode bool) string {
	s := strings.Repeat(" ", pad.intPart-len(p.intPart)) + p.intPart + "." + p.frac
	if !expMode {
		return s + strings.Repeat(" ", pad.frac-len(p.frac))
	}
	// As numpy: the mantissas padded with zeros to one number of
	// decimals, the exponents to one number of digits (at least two):
	// 1.0e-05, 2.5e+00.
	sgn, digits := p.exp[:1], p.exp[1:]
	digits = strings.Repeat("0", max(0, pad.exp-1-len(digits))) + digits
	return s + strings.Repeat("0", pad.frac-len(p.frac)) + "e" + sgn + digits
}

// ---- JSON output ----

// writeJSON writes {"ok":true,"dtype":..,"shape":[..],"values":[..]} with
// every element, streamed in chunks.
func (s *selection) writeJSON(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.WriteString(`{"ok":true,"dtype":"` + s.dt.String() + `","shape":[`)
	for i, d := range s.shape {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString(strconv.FormatUint(d, 10))
	}
	bw.WriteString(`],"values":`)
	if s.count == 0 {
		bw.WriteString("[]")
	} else {
		if err := s.streamJSON(bw); err != nil {
			return err
		}
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

func (s *selection) streamJSON(bw *bufio.Writer) error {
	rank := len(s.shape)
	pos := make([]uint64, rank)
	const chunk = 1 << 14 // a multiple of every group size
	kind := kindOfDType(s.dt)
	bits := floatBits(s.dt)
	var buf []byte
	for range rank {
		bw.WriteByte('[')
	}
	for first := uint64(0); first < s.count; first += chunk {
		vals, err := s.values(first, min(chunk, s.count-first))
		if err != nil {
			return err
		}
		for k, v := range vals {
			if first+uint64(k) > 0 {
				// Close the axes that wrapped, separate, reopen them.
				wrapped := 0
				for a := rank - 1; a >= 0; a-- {
					pos[a]++
					if pos[a] < s.shape[a] {
						break
					}
					pos[a] = 0
					wrapped++
				}
				for range wrapped {
					bw.WriteByte(']')
				}
				bw.WriteByte(',')
				for range wrapped {
					bw.WriteByte('[')
				}
			}
			buf = appendJSONValue(buf[:0], kind, bits, v)
			bw.Write(buf)
		}
	}
	for range rank {
		bw.WriteByte(']')
	}
	return nil
}

func appendJSONValue(b []byte, kind elemKind, bits int, v value) []byte {
	switch kind {
	case kindBool:
		return strconv.AppendBool(b, v.u != 0)
	case kindUint:
		return strconv.AppendUint(b, v.u, 10)
	case kindInt:
		return strconv.AppendInt(b, v.i, 10)
	case kindComplex:
		b = append(b, '[')
		b = appendJSONFloat(b, v.re, 32)
		b = append(b, ',')
		b = appendJSONFloat(b, v.im, 32)
		return append(b, ']')
	}
	return appendJSONFloat(b, v.re, bits)
}

func appendJSONFloat(b []byte, x float64, bits int) []byte {
	switch {
	case math.IsNaN(x):
		return append(b, `"NaN"`...)
	case math.IsInf(x, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(x, -1):
		return append(b, `"-Infinity"`...)
	}
	return strconv.AppendFloat(b, x, 'g', -1, bits)
}
