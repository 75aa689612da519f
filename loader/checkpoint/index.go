package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/stload/stload/loader"
)

// readLimited reads f, the file at path, refusing one larger than limit.
func readLimited(f *os.File, path string, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &loader.Error{File: path, Cause: err}
	}
	if int64(len(b)) > limit {
		return nil, &loader.Error{File: path, Offset: limit, Err: ErrInvalidIndex,
			Detail: fmt.Sprintf("the index is larger than the limit of %d bytes", limit)}
	}
	return b, nil
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
func parseIndex(b []byte, lenient bool) (*index, *loader.Error) {
	// encoding/json would replace invalid UTF-8 silently.
	if !utf8.Valid(b) {
		for i, r := range string(b) {
			if _, n := utf8.DecodeRune(b[i:]); r == utf8.RuneError && n == 1 {
				return nil, at(newError(ErrInvalidIndex, "", "byte %#02x is not valid UTF-8", b[i]), int64(i))
			}
		}
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

func (p *indexParser) fail(format string, args ...any) *loader.Error {
	return at(newError(ErrInvalidIndex, "", format, args...), p.dec.InputOffset())
}

// syntax turns a decoder error into an *loader.Error at the place it occurred.
func (p *indexParser) syntax(err error) *loader.Error {
	e := &loader.Error{Offset: p.dec.InputOffset(), Err: ErrInvalidIndex, Detail: "malformed JSON", Cause: err}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		e.Offset = se.Offset
	} else if err == io.EOF {
		e.Cause = io.ErrUnexpectedEOF
	}
	return e
}

// token returns the next token.
func (p *indexParser) token() (json.Token, *loader.Error) {
	t, err := p.dec.Token()
	if err != nil {
		return nil, p.syntax(err)
	}
	return t, nil
}

func (p *indexParser) parse() (*index, *loader.Error) {
	seen := map[string]bool{}
	err := p.object("the index", func(key string) *loader.Error {
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
func (p *indexParser) object(what string, field func(key string) *loader.Error) *loader.Error {
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
func (p *indexParser) weightMap() *loader.Error {
	p.idx.weightMap = map[string]string{}
	return p.object("weight_map", func(tensor string) *loader.Error {
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
			return at(newError(ErrWeightMap, tensor, "the tensor is listed twice in weight_map, for %s and for %s", prev, shard), p.dec.InputOffset())
		}
		p.idx.weightMap[tensor] = shard
		return nil
	})
}

// metadata reads the metadata object (or null). String values are kept
// as they are, others as their JSON text, so that the map has the type of
// a file's __metadata__.
func (p *indexParser) metadata() *loader.Error {
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

// newError returns an *loader.Error with no offset.
func newError(sentinel error, tensor, format string, args ...any) *loader.Error {
	return &loader.Error{Tensor: tensor, Detail: fmt.Sprintf(format, args...), Err: sentinel}
}

// at sets e's byte offset and returns it.
func at(e *loader.Error, off int64) *loader.Error {
	e.Offset = off
	return e
}
