package loader

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader/internal/nameidx"
)

// maxDepth is serde_json's recursion limit: the reference fails on the
// 128th nested array or object, counting the header object itself.
const maxDepth = 128

// metadataKey is the reserved top-level key that holds the string map.
const metadataKey = "__metadata__"

// header is the parsed JSON header. Its tensors are parsed straight into
// the File's final form, not validated yet: their Begin and End hold the
// header's uint64 data_offsets bit for bit (a value past 2^63 reads as
// negative) until validate has checked them against the data section, so
// that its errors and its ordering see the values written.
type header struct {
	tensors []Tensor
	index   nameidx.Index // of tensors
	meta    []metaEntry   // in header order; nil when absent or null
	// strict is the first violation of stload's rules that are stricter
	// than the reference's (duplicate keys, array entries). It is reported
	// only after the reference's own checks pass, so that stload gives the
	// reference's verdict on every file the reference rejects.
	strict *Error
}

// parser is a strict JSON tokenizer for the fixed safetensors header
// schema. Generic decoding into maps costs several allocations per tensor;
// this one allocates nothing per tensor: names are substrings of the
// header, shapes are cut from an arena, and the tensors slice and the index
// are sized for the header before parsing.
type parser struct {
	b       []byte
	s       string // the same memory as b; names are substrings of it
	pos     int
	depth   int
	lenient bool
	file    *File // the file the tensors belong to
	h       header
	hasMeta bool     // __metadata__ was seen, possibly as null
	shapes  []uint64 // arena the shapes are cut from
	general bool     // parse every entry with entryObject, for tests of entryFast
}

// metaEntry is one key and value of the header's __metadata__ map.
type metaEntry struct{ key, value string }

// maxEntries is the most tensors, or metadata keys, a header may hold:
// the index counts them in 32 bits.
const maxEntries = nameidx.MaxEntries

// minEntry is the length of the shortest tensor entry, `"":["U8",[],[0,0]]`:
// a header of n bytes holds at most n/minEntry tensors.
const minEntry = 18

// shapeChunk is the number of dimensions in each block of the shape arena.
const shapeChunk = 4096

// parseHeader parses the N header bytes b, which must already be valid
// UTF-8, into tensors of f. The tensors' names alias b, which must not
// change until header.detach copies them out. Errors wrap
// ErrInvalidHeaderDeserialization and carry the offset within the file
// (the header starts after the 8-byte length prefix).
func parseHeader(b []byte, lenient bool, f *File) (*header, *Error) {
	p := &parser{b: b, s: unsafe.String(unsafe.SliceData(b), len(b)), lenient: lenient, file: f}
	if err := p.parse(); err != nil {
		return nil, err
	}
	if len(p.h.tensors) < cap(p.h.tensors)/2 {
		// The estimate was far off (names full of '[', duplicates): keep
		// no more than the File needs.
		p.h.tensors = slices.Clone(p.h.tensors)
	}
	return &p.h, nil
}

func (p *parser) fail(format string, args ...any) *Error {
	return newError(ErrInvalidHeaderDeserialization, "", format, args...).at(8 + int64(p.pos))
}

func (p *parser) skipSpace() {
	for p.pos < len(p.b) {
		// Writers put no whitespace between tokens: one comparison
		// settles the usual case.
		if c := p.b[p.pos]; c > ' ' || (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			return
		}
		p.pos++
	}
}

// peek returns the next byte, or 0 at the end of the header.
func (p *parser) peek() byte {
	if p.pos < len(p.b) {
		return p.b[p.pos]
	}
	return 0
}

// expect consumes c after optional whitespace.
func (p *parser) expect(c byte, what string) *Error {
	p.skipSpace()
	if p.peek() != c {
		return p.unexpected(what)
	}
	p.pos++
	return nil
}

// unexpected reports what was expected and what was found instead: a
// byte as a Go character literal, anything beyond ASCII as its code point.
func (p *parser) unexpected(what string) *Error {
	if p.pos >= len(p.b) {
		return p.fail("EOF while parsing %s", what)
	}
	switch r, _ := utf8.DecodeRuneInString(p.s[p.pos:]); {
	case r == '\ufeff':
		return p.fail("expected %s, found a byte order mark (U+FEFF)", what)
	case r >= utf8.RuneSelf:
		return p.fail("expected %s, found %U", what, r)
	}
	return p.fail("expected %s, found %q", what, p.b[p.pos])
}

func (p *parser) enter() *Error {
	p.depth++
	if p.depth >= maxDepth {
		return p.fail("recursion limit exceeded: more than %d nested arrays and objects", maxDepth-1)
	}
	return nil
}

func (p *parser) parse() *Error {
	p.skipSpace()
	if p.peek() != '{' {
		return p.unexpected("a JSON object")
	}
	// Every entry holds at least two '[' (its shape and its data_offsets),
	// a writer's exactly two, and takes at least minEntry bytes: sizing for
	// the smaller bound saves growing the tensors and the index, and
	// bounds what a hostile header can make this allocate.
	n := min(bytes.Count(p.b, []byte{'['})/2, len(p.b)/minEntry) + 1
	p.h.tensors = make([]Tensor, 0, n)
	p.h.index = nameidx.Make(n)
	p.shapes = make([]uint64, 0, p.chunkSize())
	err := p.object(func(key string, pos int) *Error {
		if key == metadataKey {
			return p.metadata()
		}
		return p.tensor(key, pos)
	})
	if err != nil {
		return err
	}
	p.skipSpace()
	if p.pos != len(p.b) {
		return p.fail("trailing characters after the header object")
	}
	return nil
}

// object parses a JSON object starting at '{', calling field for each key
// with the position just after the colon.
func (p *parser) object(field func(key string, keyPos int) *Error) *Error {
	p.pos++ // '{'
	if err := p.enter(); err != nil {
		return err
	}
	p.skipSpace()
	if p.peek() == '}' {
		p.pos++
		p.depth--
		return nil
	}
	for {
		p.skipSpace()
		keyPos := p.pos
		key, err := p.str()
		if err != nil {
			return err
		}
		if err := p.expect(':', "':'"); err != nil {
			return err
		}
		p.skipSpace()
		if err := field(key, keyPos); err != nil {
			return err
		}
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			p.depth--
			return nil
		default:
			return p.unexpected("',' or '}'")
		}
	}
}

// metadata parses the value of __metadata__: null or a map of strings.
func (p *parser) metadata() *Error {
	if p.hasMeta {
		return p.fail("duplicate field `%s`", metadataKey)
	}
	p.hasMeta = true
	if p.literal("null") {
		return nil
	}
	if p.peek() != '{' {
		return p.fail("invalid type for `%s`: expected a map of strings", metadataKey)
	}
	// Count the keys first, so that the entries and their index are
	// allocated once, at their size: this is what bounds the memory a
	// header made of many tiny metadata entries takes.
	// A header that fails in that pass fails the same way or earlier in
	// the next: that one reports it.
	start, depth, n := p.pos, p.depth, 0
	if p.object(func(string, int) *Error { n++; return p.skipValue() }) != nil {
		n = 0
	}
	p.pos, p.depth = start, depth
	meta := make([]metaEntry, 0, n)
	index := nameidx.Make(n)
	keyAt := func(i int) string { return meta[i].key }
	err := p.object(func(key string, keyPos int) *Error {
		if p.peek() != '"' {
			return p.fail("invalid type for metadata value %q: expected a string", key)
		}
		v, err := p.str()
		if err != nil {
			return err
		}
		if i, dup := index.Insert(key, len(meta), keyAt); dup {
			p.strictf(keyPos, "", "a second entry for metadata key %q", key)
			meta[i].value = v // the last one wins, as in the reference
			return nil
		}
		meta = append(meta, metaEntry{key, v})
		return nil
	})
	p.h.meta = meta
	return err
}

// strictf records a violation of stload's stricter rules, unless lenient
// parsing was asked for or an earlier one is already recorded.
func (p *parser) strictf(pos int, tensor, format string, args ...any) {
	if p.lenient || p.h.strict != nil {
		return
	}
	p.h.strict = newError(ErrDuplicateKey, tensor, format, args...).at(8 + int64(pos))
}

// tensor parses one tensor entry and adds it, last one winning as in the
// reference.
func (p *parser) tensor(name string, pos int) *Error {
	t := Tensor{Name: name, f: p.file}
	var err *Error
	switch p.peek() {
	case '{':
		if p.general || !p.entryFast(&t) {
			err = p.entryObject(&t)
		}
	case '[':
		err = p.entryArray(&t)
		if err == nil && !p.lenient && p.h.strict == nil {
			p.h.strict = newError(ErrEntryNotObject, name, "a positional array [dtype, shape, data_offsets], which only lenient reading accepts").at(8 + int64(pos))
		}
	default:
		return p.fail("invalid type for tensor %q: expected an object", name)
	}
	if err != nil {
		return err
	}
	if i, dup := p.h.index.Insert(name, len(p.h.tensors), p.h.tensorName); dup {
		p.strictf(pos, name, "a second entry of this name")
		p.h.tensors[i] = t // the last one wins, as in the reference
		return nil
	}
	if len(p.h.tensors) == maxEntries {
		return p.fail("more than %d tensors", maxEntries)
	}
	p.h.tensors = append(p.h.tensors, t)
	return nil
}

// tensorName returns the name of the i-th tensor, for the index.
func (h *header) tensorName(i int) string { return h.tensors[i].Name }

// detach copies the tensors' names and the metadata, substrings of the
// header until now, into one string of their own, so that the File does
// not keep the header: in a checkpoint's header the names are a quarter
// to a half of it, the rest being dtypes, shapes and offsets (on a 99 MB
// header of 1.19M tensors the File goes from 2.0× its header's size to
// 1.3×).
func (h *header) detach() {
	n := 0
	for i := range h.tensors {
		n += len(h.tensors[i].Name)
	}
	for _, e := range h.meta {
		n += len(e.key) + len(e.value)
	}
	var b strings.Builder
	b.Grow(n)
	for i := range h.tensors {
		b.WriteString(h.tensors[i].Name)
	}
	for _, e := range h.meta {
		b.WriteString(e.key)
		b.WriteString(e.value)
	}
	all, at := b.String(), 0
	cut := func(s string) string {
		at += len(s)
		return all[at-len(s) : at]
	}
	for i := range h.tensors {
		h.tensors[i].Name = cut(h.tensors[i].Name)
	}
	for i := range h.meta {
		h.meta[i].key, h.meta[i].value = cut(h.meta[i].key), cut(h.meta[i].value)
	}
}

// entryFast parses an entry written as writers write them,
// {"dtype":"F32","shape":[2,3],"data_offsets":[0,24]} with no whitespace
// and plain numbers, into t. It reports false, having consumed nothing,
// for anything else, which entryObject then parses; that is also where
// every error is reported.
func (p *parser) entryFast(t *Tensor) bool {
	start := p.pos
	if !p.literal(`{"dtype":"`) {
		return false
	}
	i := p.pos
	for i < len(p.b) && p.b[i] != '"' && p.b[i] != '\\' {
		i++
	}
	t.DType = dtype.Lookup(p.b[p.pos:i])
	p.pos = i + 1
	if t.DType == dtype.Invalid || i == len(p.b) || p.b[i] != '"' || !p.literal(`,"shape":[`) {
		p.pos = start
		return false
	}
	var dims [8]uint64
	rank := 0
	if p.peek() == ']' {
		p.pos++
	} else {
		for {
			v, ok := p.plainUint()
			if !ok || rank == len(dims) {
				p.pos = start
				return false
			}
			dims[rank] = v
			rank++
			if p.peek() != ',' {
				break
			}
			p.pos++
		}
		if p.peek() != ']' {
			p.pos = start
			return false
		}
		p.pos++
	}
	if !p.literal(`,"data_offsets":[`) || !p.fastOffsets(t) {
		p.pos = start
		return false
	}
	t.Shape = p.cut(dims[:rank])
	return true
}

// fastOffsets parses "B,E]}" into t's data offsets, for entryFast.
func (p *parser) fastOffsets(t *Tensor) bool {
	b, ok := p.plainUint()
	if !ok || p.peek() != ',' {
		return false
	}
	p.pos++
	e, ok := p.plainUint()
	if !ok || !p.literal("]}") {
		return false
	}
	t.Begin, t.End = int64(b), int64(e)
	return true
}

// plainUint parses a non-negative integer of at most 19 digits and no
// leading zero, followed by neither a fraction nor an exponent, for
// entryFast. It reports false for anything else.
func (p *parser) plainUint() (uint64, bool) {
	start := p.pos
	var v uint64
	for p.pos < len(p.b) && p.pos-start < 20 {
		d := uint64(p.b[p.pos] - '0')
		if d > 9 {
			break
		}
		v = v*10 + d
		p.pos++
	}
	n := p.pos - start
	if n == 0 || n > 19 || (n > 1 && p.b[start] == '0') {
		return 0, false
	}
	if c := p.peek(); c == '.' || c == 'e' || c == 'E' {
		return 0, false
	}
	return v, true
}

// cut copies a shape into the arena and returns it there.
func (p *parser) cut(dims []uint64) []uint64 {
	if cap(p.shapes)-len(p.shapes) < len(dims) {
		p.shapes = make([]uint64, 0, max(len(dims), p.chunkSize()))
	}
	start := len(p.shapes)
	p.shapes = append(p.shapes, dims...)
	return p.shapes[start:len(p.shapes):len(p.shapes)]
}

// entryObject parses {"dtype": .., "shape": .., "data_offsets": ..} into
// t, in any order, ignoring unknown fields as serde does.
func (p *parser) entryObject(t *Tensor) *Error {
	var have [3]bool
	err := p.object(func(key string, _ int) *Error {
		var i int
		switch key {
		case "dtype":
			i = 0
		case "shape":
			i = 1
		case "data_offsets":
			i = 2
		default:
			return p.skipValue()
		}
		if have[i] {
			return p.fail("duplicate field `%s` in tensor %q", key, t.Name)
		}
		have[i] = true
		return p.field(t, i)
	})
	if err != nil {
		return err
	}
	for i, f := range [3]string{"dtype", "shape", "data_offsets"} {
		if !have[i] {
			return p.fail("missing field `%s` in tensor %q", f, t.Name)
		}
	}
	return nil
}

// entryArray parses the positional form [dtype, shape, data_offsets] into
// t.
func (p *parser) entryArray(t *Tensor) *Error {
	i := 0
	err := p.array(func() *Error {
		if i == 3 {
			return p.fail("invalid length for tensor %q: expected 3 elements", t.Name)
		}
		i++
		return p.field(t, i-1)
	})
	if err == nil && i != 3 {
		err = p.fail("invalid length %d for tensor %q: expected 3 elements", i, t.Name)
	}
	return err
}

// field parses field i (0 dtype, 1 shape, 2 data_offsets) into t.
func (p *parser) field(t *Tensor, i int) *Error {
	switch i {
	case 0:
		return p.dtype(&t.DType)
	case 1:
		return p.shape(&t.Shape)
	default:
		return p.offsets(&t.Begin, &t.End)
	}
}

func (p *parser) dtype(dt *dtype.DType) *Error {
	if p.peek() != '"' {
		return p.fail("invalid type for dtype: expected a string")
	}
	start := p.pos
	raw, err := p.rawStr()
	if err != nil {
		return err
	}
	if *dt = dtype.Lookup(raw); *dt == dtype.Invalid {
		p.pos = start
		return p.fail("unknown dtype %q", raw)
	}
	return nil
}

func (p *parser) shape(dst *[]uint64) *Error {
	if p.peek() != '[' {
		return p.fail("invalid type for shape: expected an array")
	}
	start := len(p.shapes)
	err := p.array(func() *Error {
		v, err := p.uint()
		if len(p.shapes) == cap(p.shapes) {
			start = p.newChunk(start)
		}
		p.shapes = append(p.shapes, v)
		return err
	})
	// Cap the slice so that an append by a caller cannot overwrite the next
	// tensor's shape in the arena.
	*dst = p.shapes[start:len(p.shapes):len(p.shapes)]
	return err
}

// newChunk starts a block of the shape arena for a shape whose first
// dimensions, from start on, filled the last one, moving them there. The
// block holds at least shapeChunk dimensions, and all of this shape's: it
// counts them first, so that no shape, however long, is ever regrown.
func (p *parser) newChunk(start int) int {
	have := p.shapes[start:]
	rest := p.b[p.pos:]
	if end := bytes.IndexByte(rest, ']'); end >= 0 {
		rest = rest[:end]
	}
	need := len(have) + bytes.Count(rest, []byte{','}) + 1
	p.shapes = append(make([]uint64, 0, max(need, p.chunkSize())), have...)
	return 0
}

// chunkSize is the size of a block of the shape arena: room for two
// dimensions per tensor the header can hold, up to shapeChunk.
func (p *parser) chunkSize() int { return min(2*cap(p.h.tensors), shapeChunk) }

// offsets parses data_offsets into begin and end, keeping the uint64
// values' bits (see header).
func (p *parser) offsets(begin, end *int64) *Error {
	if p.peek() != '[' {
		return p.fail("invalid type for data_offsets: expected an array")
	}
	n := 0
	err := p.array(func() *Error {
		v, err := p.uint()
		switch n {
		case 0:
			*begin = int64(v)
		case 1:
			*end = int64(v)
		default:
			return p.fail("invalid length for data_offsets: expected 2 elements")
		}
		n++
		return err
	})
	if err == nil && n != 2 {
		err = p.fail("invalid length %d for data_offsets: expected 2 elements", n)
	}
	return err
}

// array parses a JSON array starting at '[', calling elem at each element.
func (p *parser) array(elem func() *Error) *Error {
	p.pos++ // '['
	if err := p.enter(); err != nil {
		return err
	}
	p.skipSpace()
	if p.peek() == ']' {
		p.pos++
		p.depth--
		return nil
	}
	for {
		p.skipSpace()
		if err := elem(); err != nil {
			return err
		}
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
		case ']':
			p.pos++
			p.depth--
			return nil
		default:
			return p.unexpected("',' or ']'")
		}
	}
}

// uint parses a JSON number that must be a non-negative integer fitting in
// 64 bits, as serde does for usize: no sign, fraction, exponent or leading
// zero.
func (p *parser) uint() (uint64, *Error) {
	start := p.pos
	var v uint64
	for p.pos < len(p.b) {
		d := uint64(p.b[p.pos] - '0')
		if d > 9 {
			break
		}
		// 19 digits always fit in 64 bits; only a longer number can
		// overflow.
		if p.pos-start >= 19 && v > (1<<64-1-d)/10 {
			return 0, p.fail("integer does not fit in 64 bits")
		}
		v = v*10 + d
		p.pos++
	}
	switch {
	case p.pos == start:
		if p.peek() == '-' {
			return 0, p.fail("invalid value: negative number, expected a non-negative integer")
		}
		return 0, p.unexpected("a non-negative integer")
	case p.b[start] == '0' && p.pos-start > 1:
		p.pos = start + 1
		return 0, p.fail("invalid number: leading zero")
	}
	if c := p.peek(); c == '.' || c == 'e' || c == 'E' {
		return 0, p.fail("invalid type: floating point number, expected a non-negative integer")
	}
	return v, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// literal consumes word (null, true, false) if it is next.
func (p *parser) literal(word string) bool {
	if len(p.b)-p.pos >= len(word) && p.s[p.pos:p.pos+len(word)] == word {
		p.pos += len(word)
		return true
	}
	return false
}

// skipValue validates and skips any JSON value, as serde does for unknown
// fields (it buffers them, so numbers must also be representable).
func (p *parser) skipValue() *Error {
	switch c := p.peek(); {
	case c == '{':
		return p.object(func(string, int) *Error { return p.skipValue() })
	case c == '[':
		return p.array(p.skipValue)
	case c == '"':
		_, err := p.rawStr()
		return err
	case c == '-' || isDigit(c):
		return p.number()
	case p.literal("null"), p.literal("true"), p.literal("false"):
		return nil
	default:
		return p.unexpected("a JSON value")
	}
}

// number validates the JSON number grammar and that the value is finite
// as a float64, as serde_json requires when it buffers a value.
func (p *parser) number() *Error {
	start := p.pos
	if p.peek() == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.b) && isDigit(p.b[p.pos]) {
			p.pos++
			n++
		}
		return n
	}
	intStart := p.pos
	if n := digits(); n == 0 || (n > 1 && p.b[intStart] == '0') {
		return p.fail("invalid number")
	}
	if p.peek() == '.' {
		p.pos++
		if digits() == 0 {
			return p.fail("invalid number")
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.pos++
		if c := p.peek(); c == '+' || c == '-' {
			p.pos++
		}
		if digits() == 0 {
			return p.fail("invalid number")
		}
	}
	if _, err := strconv.ParseFloat(p.s[start:p.pos], 64); err != nil {
		p.pos = start
		return p.fail("number out of range")
	}
	return nil
}

// special marks the bytes that end the fast scan of a string: the closing
// quote, a backslash, and the control characters JSON forbids raw.
var special = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// scan returns the index of the first special byte at or after i,
// looking at eight bytes at a time.
func (p *parser) scan(i int) int {
	for ; i+8 <= len(p.b); i += 8 {
		if m := specialBytes(binary.LittleEndian.Uint64(p.b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(p.b) && !special[p.b[i]] {
		i++
	}
	return i
}

// specialBytes returns a mask with the top bit of the first (lowest)
// special byte of the eight in x set, and maybe of later ones: the
// classic SWAR tests below can mark a byte after a true match, never one
// before it.
func specialBytes(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := (x - 0x20*ones) &^ x // bytes under 0x20
	q := x ^ '"'*ones
	quote := (q - ones) &^ q
	s := x ^ '\\'*ones
	slash := (s - ones) &^ s
	return (below | quote | slash) & highs
}

// str parses a JSON string and returns its value. Without escapes the
// value is a substring of the header and costs no allocation.
func (p *parser) str() (string, *Error) {
	if p.peek() != '"' {
		return "", p.unexpected("a string")
	}
	start := p.pos + 1
	i := p.scan(start)
	if i < len(p.b) && p.b[i] == '"' {
		p.pos = i + 1
		return p.s[start:i], nil
	}
	b, err := p.unescape(start, i)
	return string(b), err
}

// rawStr is str for values that are only compared, returning the bytes
// without converting them to a string.
func (p *parser) rawStr() ([]byte, *Error) {
	start := p.pos + 1
	i := p.scan(start)
	if i < len(p.b) && p.b[i] == '"' {
		p.pos = i + 1
		return p.b[start:i], nil
	}
	return p.unescape(start, i)
}

// unescape decodes the rest of a string whose content starts at start and
// whose first special byte (backslash, control character, or the end of
// the header) is at i.
func (p *parser) unescape(start, i int) ([]byte, *Error) {
	out := append([]byte(nil), p.b[start:i]...)
	p.pos = i
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		switch {
		case c == '"':
			p.pos++
			return out, nil
		case c < 0x20:
			return nil, p.fail("control character in string")
		case c != '\\':
			out = append(out, c)
			p.pos++
			continue
		}
		p.pos++ // backslash
		var r rune
		switch p.peek() {
		case '"', '\\', '/':
			r = rune(p.b[p.pos])
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case 'u':
			var err *Error
			if r, err = p.unicodeEscape(); err != nil {
				return nil, err
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return nil, p.fail("invalid escape")
		}
		out = append(out, byte(r))
		p.pos++
	}
	return nil, p.fail("EOF while parsing a string")
}

// unicodeEscape decodes \uXXXX (with p.pos at 'u'), pairing surrogates.
// Lone surrogates are errors, as in serde_json.
func (p *parser) unicodeEscape() (rune, *Error) {
	r, err := p.hex4()
	if err != nil {
		return 0, err
	}
	switch {
	case r >= 0xDC00 && r <= 0xDFFF:
		return 0, p.fail("lone trailing surrogate in hex escape")
	case r < 0xD800 || r > 0xDBFF:
		return r, nil
	}
	if !p.literal(`\u`) {
		return 0, p.fail("lone leading surrogate in hex escape")
	}
	p.pos-- // back onto 'u'
	lo, err := p.hex4()
	if err != nil {
		return 0, err
	}
	if lo < 0xDC00 || lo > 0xDFFF {
		return 0, p.fail("lone leading surrogate in hex escape")
	}
	return utf16.DecodeRune(r, lo), nil
}

// hex4 reads the four hex digits after the 'u' at p.pos.
func (p *parser) hex4() (rune, *Error) {
	if len(p.b)-p.pos < 5 {
		return 0, p.fail("EOF while parsing a string")
	}
	v, err := strconv.ParseUint(p.s[p.pos+1:p.pos+5], 16, 16)
	if err != nil {
		return 0, p.fail("invalid \\u escape")
	}
	p.pos += 5
	return rune(v), nil
}
