package device

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
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
		return &Error{Op: "verify", Detail: "the Set is closed", Err: fs.ErrClosed}
	}
	work := make(chan *Tensor)
	var (
		mu   sync.Mutex
		bad  []string
		errs []error
		wg   sync.WaitGroup
	)
	for range min(runtime.GOMAXPROCS(0), max(s.n, 1)) {
		wg.Go(func() {
			buf := make([]byte, verifyChunk)
			var cw dtype.ConvertWriter
			for t := range work {
				same, err := s.verifyOne(t, buf, &cw)
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
	for t := range s.All() {
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
		return &Error{Op: "verify", Detail: fmt.Sprintf("%d of %d tensors differ: %s", len(bad), s.n,
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
// for read-back and cw for conversion. A CPU view of a file truncated
// since it was mapped faults when hashed, as do the loader's reads of it:
// that is an error, not a crash.
func (s *Set) verifyOne(t *Tensor, buf []byte, cw *dtype.ConvertWriter) (bool, error) {
	var want, got []byte
	err := guardFault(func() (err error) {
		if want, err = t.fileSum(cw); err != nil {
			return err
		}
		got, err = s.deviceSum(t, buf)
		return err
	})
	if err != nil {
		return false, &Error{Op: "verify", Device: t.Device.String(), File: t.file.Name(), Tensor: t.Name, Err: err}
	}
	return bytes.Equal(want, got), nil
}

// fileSum hashes the part of the file that t holds, converted to t.DType
// by cw.
func (t *Tensor) fileSum(cw *dtype.ConvertWriter) ([]byte, error) {
	h := sha256.New()
	if t.Len == 0 {
		return h.Sum(nil), nil
	}
	var idx []loader.Index
	if t.Dim >= 0 && t.Shards > 1 {
		start := partStart(int64(t.Source.Shape[t.Dim]), int64(t.Shards), int64(t.Shard))
		for range t.Dim {
			idx = append(idx, loader.Index{}) // the whole dimension
		}
		idx = append(idx, loader.Range(start, start+int64(t.Shape[t.Dim])))
	}
	sl, err := t.Source.Slice(idx...)
	if err != nil {
		return nil, err
	}
	if err := cw.Reset(h, t.Source.DType, t.DType); err != nil {
		return nil, err
	}
	if _, err := sl.WriteTo(cw); err != nil {
		return nil, err
	}
	if err := cw.Close(); err != nil {
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
