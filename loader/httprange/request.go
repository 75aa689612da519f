package httprange

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stload/stload/loader"
)

// transientError is a failure worth retrying: the same request may well
// succeed later.
type transientError struct {
	err   error
	after time.Duration // the server's Retry-After, or 0
}

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

func transient(format string, args ...any) error {
	return &transientError{err: fmt.Errorf(format, args...)}
}

// retry runs attempt until it succeeds, fails for good, or has been
// retried c.retries times, waiting with exponential backoff in between.
// When ctx ends first, the error is ctx's cause (a deadline of
// WithTimeout, say) with the last failure.
func (c *config) retry(ctx context.Context, attempt func(context.Context) error) error {
	for i := 0; ; i++ {
		err := attempt(ctx)
		var t *transientError
		if err == nil || !errors.As(err, &t) {
			return err
		}
		if i >= c.retries {
			return fmt.Errorf("giving up after %d attempt%s: %w", i+1, plural(i+1), err)
		}
		timer := time.NewTimer(c.backoff(i, t.after))
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%w (the last attempt: %v)", context.Cause(ctx), err)
		case <-timer.C:
		}
	}
}

// backoff returns the wait before retry i (from 0): MinBackoff doubled i
// times, capped, then jittered down by up to half so that parallel parts
// that failed together do not retry together.
func (c *config) backoff(i int, after time.Duration) time.Duration {
	d := c.maxBackoff
	if i < 30 {
		d = min(c.minBackoff<<i, c.maxBackoff)
	}
	d = d/2 + rand.N(d/2+1)
	if after > d {
		d = min(after, c.maxBackoff)
	}
	return d
}

// errStalled cancels a request that went StallTimeout without data.
var errStalled = errors.New("no data received within the stall timeout")

// send makes one GET request for bytes [start, end], under the
// reader's bound on requests in flight, with If-Range cond when not "".
func (r *Reader) send(ctx context.Context, start, end int64, cond string) (*http.Response, func(), error) {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, context.Cause(ctx)
	}
	resp, stop, err := r.o.send(ctx, r.url, fmt.Sprintf("bytes=%d-%d", start, end), cond)
	if err != nil {
		<-r.sem
		return nil, nil, err
	}
	return resp, func() { stop(); <-r.sem }, nil
}

// send makes one GET request of rawURL, with a Range header rng and an
// If-Range header cond where they are not "". The returned stop function
// closes the response and releases the request's resources; it must be
// called once the body has been read.
func (c *config) send(ctx context.Context, rawURL, rng, cond string) (*http.Response, func(), error) {
	rctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{cancel: cancel, d: c.stallTimeout}
	w.start()
	release := func() {
		w.stop()
		cancel(nil)
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, rawURL, nil)
	if err != nil {
		release()
		return nil, nil, &loader.Error{Cause: scrub(err)}
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	if cond != "" {
		req.Header.Set("If-Range", cond)
	}
	// Ranges must count bytes of the file, not of a compressed encoding.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := c.client.Do(req)
	if err != nil {
		release()
		return nil, nil, requestError(ctx, w, err)
	}
	resp.Body = &watchedBody{ReadCloser: resp.Body, w: w}
	return resp, func() { resp.Body.Close(); release() }, nil
}

// watchdog cancels a request when its timer fires; every byte that
// arrives rewinds it.
type watchdog struct {
	cancel context.CancelCauseFunc
	d      time.Duration
	t      *time.Timer
	fired  atomic.Bool
}

func (w *watchdog) start() {
	if w.d > 0 {
		w.t = time.AfterFunc(w.d, func() { w.fired.Store(true); w.cancel(errStalled) })
	}
}

func (w *watchdog) reset() {
	if w.t != nil {
		w.t.Reset(w.d)
	}
}

func (w *watchdog) stop() {
	if w.t != nil {
		w.t.Stop()
	}
}

// watchedBody rewinds the watchdog with every byte, and reports a read
// the watchdog cut short as a stall.
type watchedBody struct {
	io.ReadCloser
	w *watchdog
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.reset()
	}
	if err != nil && err != io.EOF && b.w.fired.Load() {
		err = errStalled
	}
	return n, err
}

// requestError classifies a failed request: the end of ctx (the caller's
// cancellation, Close, a deadline) and errors that will not go away are
// final, the rest are retried.
func requestError(ctx context.Context, w *watchdog, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if w.fired.Load() {
		return &transientError{err: errStalled}
	}
	// A *url.Error repeats the URL, query and all, which may hold
	// credentials; the File of the final *Error names the file instead.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	err = scrub(err) // a redirect's Location, say
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	if errors.As(err, &dns) && dns.IsNotFound || errors.As(err, &cert) {
		return &loader.Error{Cause: err}
	}
	return &transientError{err: err}
}

// bodyError classifies an error reading a response body: a body cut short
// or a connection broken is retried.
func bodyError(ctx context.Context, err error, at int64) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return transient("the response ended early, at byte %d", at)
	}
	return &transientError{err: err}
}

// statusError turns an unexpected status into an error, transient for the
// statuses that say "try again".
func statusError(resp *http.Response) error {
	he := &StatusError{StatusCode: resp.StatusCode, Status: resp.Status}
	switch c := resp.StatusCode; {
	case c >= 500, c == http.StatusTooManyRequests, c == http.StatusRequestTimeout:
		return &transientError{err: he, after: retryAfter(resp.Header.Get("Retry-After"))}
	}
	return &loader.Error{Cause: he}
}

// retryAfter parses a Retry-After header given in seconds.
func retryAfter(v string) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || s < 0 {
		return 0
	}
	return time.Duration(min(s, 3600)) * time.Second
}

// parseContentRange parses "bytes START-END/TOTAL", "bytes START-END/*"
// (total -1) and "bytes */TOTAL" (start and end -1).
func parseContentRange(v string) (start, end, total int64, ok bool) {
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, 0, 0, false
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, false
	}
	total = -1
	if tot != "*" {
		if total, ok = parseNonNeg(tot); !ok {
			return 0, 0, 0, false
		}
	}
	if rng == "*" {
		return -1, -1, total, total >= 0
	}
	s, e, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, false
	}
	if start, ok = parseNonNeg(s); !ok {
		return 0, 0, 0, false
	}
	if end, ok = parseNonNeg(e); !ok || end < start {
		return 0, 0, 0, false
	}
	return start, end, total, true
}

func parseNonNeg(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0 && s[0] != '+'
}

// errClosed stands for a read of a closed Reader until fail names it.
var errClosed = errors.New("closed")

// fail turns an error from the request machinery into an *Error naming
// the file and the offset.
func (r *Reader) fail(err error, off int64) error {
	var e *loader.Error
	if !errors.As(err, &e) && (err == errClosed || r.isClosed()) {
		return &loader.Error{File: r.name, Offset: off, Err: fs.ErrClosed}
	}
	return failure(r.name, err, off)
}

// failure names the file and the offset in an error of a request.
func failure(name string, err error, off int64) error {
	var e *loader.Error
	if errors.As(err, &e) {
		// Final errors are not wrapped: they come straight from a check
		// or statusError.
		e.File = name
		if e.Offset == 0 {
			e.Offset = off
		}
		return e
	}
	return &loader.Error{File: name, Offset: off, Cause: err}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
