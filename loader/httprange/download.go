package httprange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/stload/stload/loader"
)

// downloadBuffer is the size of Download's one copy buffer.
const downloadBuffer = 256 << 10

// Download copies the file at an http:// or https:// URL to dst, front
// to back, and returns the number of bytes written: the way to read from
// a server without range support, whose files [Open] refuses with
// [ErrRangeUnsupported]. It streams through one buffer: memory use does
// not grow with the file. progress, when not nil, is called with the
// bytes written so far and the file's size (-1 when the server does not
// say), with 0 once before the first byte and then after every write.
//
// Failed requests are retried as [Open]'s are. Once bytes have been
// written to dst, a retry resumes where the download broke off only when
// the first response carried a strong validator (an ETag that is not
// weak, or a Last-Modified date at least a second older than the
// response) and the new response carries the same validators: with Range
// and If-Range where the server supports ranges, else by skipping what
// was already written. A response from another version of the file fails
// with [ErrRemoteChanged], and a break with no validator to vouch for
// what would follow fails for good: bytes of two versions are never
// mixed. After an error, what was written to dst is incomplete.
//
// ctx bounds the download, and the options are Open's: [WithTimeout]
// bounds the whole download (by default it must average 64 KiB/s after
// its first 2 minutes), and [WithRequireValidators] refuses a server that
// sends no validator before anything is written.
func Download(ctx context.Context, rawURL string, dst io.Writer, progress func(done, total int64), opts ...Option) (int64, error) {
	name, err := checkURL(rawURL)
	if err != nil {
		return 0, err
	}
	o := newConfig(opts)
	if o.ownClient {
		defer o.client.CloseIdleConnections()
	}
	d := &download{url: rawURL, o: &o, dst: dst, progress: progress, total: -1}
	ctx, stop := d.limit(ctx)
	defer stop()
	for {
		// Retries start over whenever bytes arrived: a long download
		// over a flaky link may need more than WithRetries in all.
		before := d.done
		err = o.retry(ctx, d.attempt)
		var t *transientError
		if err == nil || !errors.As(err, &t) || d.done == before || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return d.done, failure(name, err, d.done)
	}
	return d.done, nil
}

// download is the state of one Download.
type download struct {
	url      string
	o        *config
	dst      io.Writer
	progress func(done, total int64)
	pace     *pacer // nil with a fixed timeout

	buf   []byte
	v     validators // of the first response
	total int64      // the file's size, or -1
	done  int64      // bytes written to dst
}

// limit applies the download's deadline to ctx (see WithTimeout).
func (d *download) limit(ctx context.Context) (context.Context, func()) {
	if d.o.timeout != autoTimeout {
		return d.o.deadline(ctx, 0)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	d.pace = newPacer(timeoutBase, minThroughput, func() {
		cancel(&timeoutError{fmt.Sprintf("the download averaged less than %d KiB/s", minThroughput>>10)})
	})
	return ctx, func() { d.pace.stop(); cancel(nil) }
}

// attempt makes one request: for the whole file, or, after a break, for
// the rest of it.
func (d *download) attempt(ctx context.Context) error {
	rng, cond := "", ""
	if d.done > 0 {
		rng, cond = fmt.Sprintf("bytes=%d-", d.done), d.v.cond
	}
	resp, stop, err := d.o.send(ctx, d.url, rng, cond)
	if err != nil {
		return err
	}
	defer stop()
	skip, err := d.accept(resp)
	if err != nil {
		return err
	}
	err = d.copy(ctx, resp.Body, skip)
	var t *transientError
	if d.done > 0 && d.v.cond == "" && errors.As(err, &t) {
		// t.err, not err: the error is final, not one to retry.
		return &loader.Error{Offset: d.done, Cause: t.err,
			Detail: "the download broke off, and the server sent no strong validator (ETag or Last-Modified date) to resume it safely"}
	}
	return err
}

// accept checks a response, and returns how many leading bytes of its
// body were written already.
func (d *download) accept(resp *http.Response) (int64, error) {
	if d.done == 0 { // a fresh start, whatever came before
		if resp.StatusCode != http.StatusOK {
			return 0, statusError(resp)
		}
		d.v, d.total = validatorsOf(resp.Header), resp.ContentLength
		if d.o.requireValidators && d.v.none() {
			return 0, &loader.Error{Err: ErrNoValidators, Detail: "a change of the file during the download could not be detected"}
		}
		d.report()
		return 0, nil
	}
	if diff := d.v.differ(resp.Header); diff != "" {
		return 0, &loader.Error{Offset: d.done, Err: ErrRemoteChanged, Detail: "resuming the download: " + diff}
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		s, _, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if ok && d.total >= 0 && total >= 0 && total != d.total {
			return 0, &loader.Error{Offset: d.done, Err: ErrRemoteChanged, Detail: fmt.Sprintf("its size went from %d to %d bytes", d.total, total)}
		}
		if !ok || s != d.done {
			return 0, transient("asked for bytes %d-, the server sent Content-Range %q", d.done, resp.Header.Get("Content-Range"))
		}
		return 0, nil
	case http.StatusOK:
		if d.total >= 0 && resp.ContentLength >= 0 && resp.ContentLength != d.total {
			return 0, &loader.Error{Offset: d.done, Err: ErrRemoteChanged, Detail: fmt.Sprintf("its size went from %d to %d bytes", d.total, resp.ContentLength)}
		}
		return d.done, nil
	}
	return 0, statusError(resp)
}

// copy skips skip bytes of body and writes the rest to dst.
func (d *download) copy(ctx context.Context, body io.Reader, skip int64) error {
	if n, err := io.CopyN(io.Discard, body, skip); err != nil {
		return bodyError(ctx, err, n)
	}
	if d.buf == nil {
		d.buf = make([]byte, downloadBuffer)
	}
	for {
		n, err := body.Read(d.buf)
		if n > 0 {
			w, werr := d.dst.Write(d.buf[:n])
			d.done += int64(w)
			if werr == nil && w < n {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return &loader.Error{Offset: d.done, Detail: "writing the download", Cause: werr}
			}
			d.report()
		}
		switch {
		case err == io.EOF && d.total >= 0 && d.done < d.total:
			return transient("the response ended early, at byte %d of %d", d.done, d.total)
		case err == io.EOF:
			return nil
		case err != nil:
			return bodyError(ctx, err, d.done)
		}
	}
}

// report tells the pacer and the caller how far the download got.
func (d *download) report() {
	if d.pace != nil {
		d.pace.progress(d.done)
	}
	if d.progress != nil {
		d.progress(d.done, d.total)
	}
}
