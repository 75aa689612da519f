package httprange

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/stload/stload/loader"
)

// validators are what identifies the version of a file in a response.
type validators struct {
	etag, modified string
	// cond is what later requests send as If-Range: a strong validator,
	// or "" when the response has none.
	cond string
}

// downloadHint says what to do about a server without range support.
const downloadHint = "download the whole file instead (Download, or checkpoint.WithDownloadFallback)"

// validatorsOf reads the validators of a response.
//
// Later requests carry If-Range rather than If-Match. Both make a server
// that honours them refuse to answer from another version, but If-Match
// takes only an entity tag (a date needs If-Unmodified-Since, which has
// one-second resolution), and the two fail differently: If-Match with
// 412, If-Range with a 200 and the whole new file, which check refuses
// (and whose body is never read). If-Range works with either validator
// in one header, and the servers and CDNs that support ranges support
// it (it was made for resuming downloads). RFC 9110 (13.1.5) lets a
// client send in If-Range only a strong entity tag or, when there is no
// entity tag, a Last-Modified date at least a second older than the
// response's Date (a date is otherwise not a strong validator); with a
// weak ETag the request goes without If-Range, and the comparison of the
// responses' validators (check) is what catches a change.
func validatorsOf(h http.Header) validators {
	v := validators{etag: h.Get("ETag"), modified: h.Get("Last-Modified")}
	switch {
	case v.etag != "":
		if !strings.HasPrefix(v.etag, "W/") {
			v.cond = v.etag
		}
	case v.modified != "":
		mod, err1 := http.ParseTime(v.modified)
		date, err2 := http.ParseTime(h.Get("Date"))
		if err1 == nil && err2 == nil && date.Sub(mod) >= time.Second {
			v.cond = v.modified
		}
	}
	return v
}

func (v validators) none() bool { return v.etag == "" && v.modified == "" }

// String returns the ETag, else the Last-Modified date, else "".
func (v validators) String() string {
	if v.etag != "" {
		return v.etag
	}
	return v.modified
}

// differ compares a later response's validators with v's and says what
// changed, or "". The ETag must be the same, present or absent alike: one
// that disappears or appears means another version (or another server)
// answered. So must the Last-Modified date, except that it may come or
// go where a matching ETag identifies the version already.
func (v validators) differ(h http.Header) string {
	etag, mod := h.Get("ETag"), h.Get("Last-Modified")
	switch {
	case etag != v.etag:
		return fmt.Sprintf("its ETag went from %s to %s", orNone(v.etag), orNone(etag))
	case mod != v.modified && (v.etag == "" || mod != "" && v.modified != ""):
		return fmt.Sprintf("its Last-Modified date went from %s to %s", orNone(v.modified), orNone(mod))
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// first sends the first request, for bytes [0, HeadSize), and learns the
// file's size and validators from the response.
func (r *Reader) first(ctx context.Context) error {
	resp, stop, err := r.send(ctx, 0, r.o.headSize-1, "")
	if err != nil {
		return err
	}
	defer stop()
	r.v, r.ctype = validatorsOf(resp.Header), resp.Header.Get("Content-Type")
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, end, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		switch {
		case ok && total < 0:
			return &loader.Error{Err: ErrRangeUnsupported, Detail: "the server does not give the file's size; " + downloadHint}
		case !ok || start != 0 || end >= r.o.headSize || end >= total:
			return transient("asked for bytes 0-%d, the server sent Content-Range %q", r.o.headSize-1, resp.Header.Get("Content-Range"))
		}
		r.size = total
		r.head = make([]byte, end+1)
	case http.StatusOK:
		// A server may ignore the range. For a file no longer than what
		// was asked for, the whole body is the answer anyway.
		if resp.ContentLength < 0 || resp.ContentLength > r.o.headSize {
			return &loader.Error{Err: ErrRangeUnsupported,
				Detail: fmt.Sprintf("asked for bytes 0-%d, the server sent the whole file (status 200%s); %s", r.o.headSize-1, typeNote(r.ctype), downloadHint)}
		}
		r.size = resp.ContentLength
		r.head = make([]byte, r.size)
	case http.StatusRequestedRangeNotSatisfiable:
		// The answer for an empty file: "Content-Range: bytes */0".
		_, _, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || total != 0 {
			return statusError(resp)
		}
		return nil
	default:
		return statusError(resp)
	}
	if _, err := io.ReadFull(resp.Body, r.head); err != nil {
		return bodyError(ctx, err, 0)
	}
	return nil
}

// typeNote returns ", CONTENT-TYPE" for an error's detail, or "".
func typeNote(ctype string) string {
	if ctype == "" {
		return ""
	}
	return ", " + ctype
}

// prefetchHeader makes the second request: the rest of the header when
// the first response did not hold all of it. A length prefix beyond
// maxPrefetch or the file is left for loader.NewReader to reject; the
// first bytes of other files (JSON, say) read as a length far beyond it.
func (r *Reader) prefetchHeader(ctx context.Context) error {
	if len(r.head) < 8 {
		return nil
	}
	n := binary.LittleEndian.Uint64(r.head)
	have := int64(len(r.head))
	if n > maxPrefetch || int64(n) > r.size-8 || 8+int64(n) <= have {
		return nil
	}
	ctx, cancel := r.o.deadline(ctx, 8+int64(n)-have)
	defer cancel()
	// Fetched straight into place: the header may be 100 MB.
	head := slices.Grow(r.head, int(8+int64(n)-have))[:8+n]
	if err := r.fetch(ctx, head[have:], have); err != nil {
		return err
	}
	r.head = head
	return nil
}

// get makes one request for len(dst) bytes at off and reads the response
// into dst, returning how many bytes arrived.
func (r *Reader) get(ctx context.Context, dst []byte, off int64) (int, error) {
	end := off + int64(len(dst)) - 1
	resp, stop, err := r.send(ctx, off, end, r.v.cond)
	if err != nil {
		return 0, err
	}
	defer stop()
	if err := r.check(resp, off, end); err != nil {
		return 0, err
	}
	n, err := io.ReadFull(resp.Body, dst)
	if err != nil {
		return n, bodyError(ctx, err, off+int64(n))
	}
	return n, nil
}

// check accepts only a 206 response for exactly the bytes asked for, from
// the same version of the file as the first response. A 200 answers an
// If-Range whose validator no longer matches (the file changed) or comes
// from a server that ignores ranges: its own validators say which.
func (r *Reader) check(resp *http.Response, start, end int64) error {
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusOK:
		if d := r.v.differ(resp.Header); d != "" {
			return r.changed(start, "asked for bytes %d-%d, the server sent the whole file (status 200): %s", start, end, d)
		}
		return &loader.Error{Offset: start, Err: ErrRangeUnsupported,
			Detail: fmt.Sprintf("asked for bytes %d-%d, the server sent the whole file (status 200)", start, end)}
	case http.StatusPreconditionFailed:
		return r.changed(start, "the server answered %s", resp.Status)
	case http.StatusRequestedRangeNotSatisfiable:
		if _, _, total, ok := parseContentRange(resp.Header.Get("Content-Range")); ok && total != r.size {
			return r.changed(start, "its size went from %d to %d bytes", r.size, total)
		}
		return statusError(resp)
	default:
		return statusError(resp)
	}
	if d := r.v.differ(resp.Header); d != "" {
		return r.changed(start, "%s", d)
	}
	cr := resp.Header.Get("Content-Range")
	s, e, total, ok := parseContentRange(cr)
	switch {
	case ok && total >= 0 && total != r.size:
		return r.changed(start, "its size went from %d to %d bytes", r.size, total)
	case !ok || s != start || e != end:
		return transient("asked for bytes %d-%d, the server sent Content-Range %q", start, end, cr)
	case resp.ContentLength >= 0 && resp.ContentLength != end-start+1:
		return transient("asked for %d bytes, the server announced %d", end-start+1, resp.ContentLength)
	}
	return nil
}

func (r *Reader) changed(off int64, format string, args ...any) error {
	return &loader.Error{Offset: off, Err: ErrRemoteChanged, Detail: fmt.Sprintf(format, args...)}
}
