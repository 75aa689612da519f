package device

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"runtime"
	"strings"
	"sync"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// verifyChunk is how much device memory Verify reads back per call.
const verifyChunk = 8 << 20

// Verify checks every tensor and shard of the set against its file: it
// reads the bytes back from the device (with [Accelerator.Read], in
// chunks) and compares their SHA-256 with that of the file's bytes for
// the same part, selected independently of the load's plan through
// [loader.Tensor.Slice] and converted as the load converted them. The files
// must still be open. It fails with [ErrMismatch] naming the tensors that
// differ. Tensors are checked in parallel, on up to GOMAXPROCS goroutines.
func (s *Set) Verify(ctx context.Context) error {
	if s.closed.Load() {
		return &Error{Op: "verify", Err: ErrClosed}
	}
	work := make(chan *Tensor)
	var (
		mu   sync.Mutex
		bad  []string
		errs []error
		wg   sync.WaitGroup
	)
	for range min(runtime.GOMAXPROCS(0), max(len(s.tensors), 1)) {
		wg.Go(func() {
			buf := make([]byte, verifyChunk)
			for t := range work {
				same, err := s.verifyOne(t, buf)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else if !same {
					bad = append(bad, t.label())
				}
				mu.Unlock()
			}
		})
	}
	for _, t := range s.tensors {
		if ctx.Err() != nil {
			break
		}
		work <- t
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return &Error{Op: "verify", Err: err}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	if len(bad) > 0 {
		shown := bad[:min(len(bad), 10)]
		return &Error{Op: "verify", Detail: fmt.Sprintf("%d of %d tensors differ: %s", len(bad), len(s.tensors),
			strings.Join(shown, ", ")), Err: ErrMismatch}
	}
	return nil
}

// label names a tensor or shard for messages: "name" or "name[1/4]@cuda:1".
func (t *Tensor) label() string {
	if t.Shards > 1 {
		return fmt.Sprintf("%s[%d/%d]@%s", t.Name, t.Shard, t.Shards, t.Device)
	}
	return t.Name + "@" + t.Device.String()
}

// verifyOne compares one tensor's device bytes with the file's, using buf
// for conversion and read-back.
func (s *Set) verifyOne(t *Tensor, buf []byte) (bool, error) {
	want, err := t.fileSum(buf)
	if err != nil {
		return false, &Error{Op: "verify", Device: t.Device.String(), File: t.file.Name(), Tensor: t.Name, Err: err}
	}
	got, err := s.deviceSum(t, buf)
	if err != nil {
		return false, &Error{Op: "verify", Device: t.Device.String(), File: t.file.Name(), Tensor: t.Name, Err: err}
	}
	return bytes.Equal(want, got), nil
}

// fileSum hashes the part of the file that t holds, converted to t.DType
// through buf.
func (t *Tensor) fileSum(buf []byte) ([]byte, error) {
	h := sha256.New()
	if t.Len == 0 {
		return h.Sum(nil), nil
	}
	var idx []loader.Index
	if t.Dim >= 0 && t.Shards > 1 {
		full := int64(t.Source.Shape[t.Dim])
		n := int64(t.Shards)
		k := int64(t.Shard)
		start := k*(full/n) + min(k, full%n) // torch.tensor_split
		for range t.Dim {
			idx = append(idx, loader.Index{}) // the whole dimension
		}
		idx = append(idx, loader.Range(start, start+int64(t.Shape[t.Dim])))
	}
	sl, err := t.Source.Slice(idx...)
	if err != nil {
		return nil, err
	}
	w := newConvertWriter(h, t.Source.DType, t.DType, buf)
	if _, err := sl.WriteTo(w); err != nil {
		return nil, err
	}
	if err := w.close(); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// deviceSum hashes t's bytes as they are on its device.
func (s *Set) deviceSum(t *Tensor, buf []byte) ([]byte, error) {
	h := sha256.New()
	if t.Memory == nil {
		h.Write(t.data)
		return h.Sum(nil), nil
	}
	ref := s.accs[t.Device]
	for off := int64(0); off < t.Len; {
		n := min(t.Len-off, int64(len(buf)))
		if err := ref.acc.Read(buf[:n], t.Memory, t.Offset+off); err != nil {
			return nil, err
		}
		h.Write(buf[:n])
		off += n
	}
	return h.Sum(nil), nil
}

// convertWriter converts what is written from one dtype to another and
// hashes the result. It converts straight from the written bytes, a block
// of out at a time, so that a tensor written whole from the file's mapping
// is neither copied nor held converted in full; only an element group
// split between two writes is carried over, in pending.
type convertWriter struct {
	h        hash.Hash
	from, to dtype.DType
	unit     int    // source bytes per group of whole elements
	step     int    // source bytes converted into out at a time
	out      []byte // converted bytes: room for at least one group
	pending  []byte
}

func newConvertWriter(h hash.Hash, from, to dtype.DType, out []byte) *convertWriter {
	w := &convertWriter{h: h, from: from, to: to, out: out}
	if from != to {
		w.unit = int(sourceUnit(from, to))
		w.step = max(1, len(out)/int(stagedUnit(from, to))) * w.unit
	}
	return w
}

func (w *convertWriter) Write(p []byte) (int, error) {
	if w.from == w.to {
		return w.h.Write(p)
	}
	n := len(p)
	if len(w.pending) > 0 { // complete the group split by the last write
		k := min(w.unit-len(w.pending), len(p))
		w.pending = append(w.pending, p[:k]...)
		p = p[k:]
		if len(w.pending) < w.unit {
			return n, nil
		}
		if err := w.convert(w.pending); err != nil {
			return 0, err
		}
		w.pending = w.pending[:0]
	}
	whole := len(p) / w.unit * w.unit
	if err := w.convert(p[:whole]); err != nil {
		return 0, err
	}
	w.pending = append(w.pending, p[whole:]...)
	return n, nil
}

// convert hashes src, whole groups, converted a block at a time.
func (w *convertWriter) convert(src []byte) error {
	for len(src) > 0 {
		k := min(len(src), w.step)
		m, err := dtype.Convert(w.out, w.to, src[:k], w.from)
		if err != nil {
			return err
		}
		w.h.Write(w.out[:m])
		src = src[k:]
	}
	return nil
}

func (w *convertWriter) close() error {
	if len(w.pending) > 0 {
		return fmt.Errorf("%d trailing bytes are not a whole %v element", len(w.pending), w.from)
	}
	return nil
}
