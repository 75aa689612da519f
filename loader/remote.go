package loader

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sentinel errors of remote files.
var (
	// ErrRangeUnsupported reports a server that answers a range request
	// with the whole file (status 200) or without the file's size, so that
	// reading one tensor would mean downloading everything.
	ErrRangeUnsupported = errors.New("server does not support range requests")
	// ErrRemoteChanged reports a remote file whose ETag, Last-Modified or
	// length differs from one response to the next: bytes read before and
	// after the change would not belong to the same file.
	ErrRemoteChanged = errors.New("remote file changed while being read")
)

// Defaults of [HTTPOptions].
const (
	DefaultHeadSize     = 64 << 10
	DefaultPartSize     = 8 << 20
	DefaultConcurrency  = 8
	DefaultMaxRetries   = 5
	DefaultMinBackoff   = 100 * time.Millisecond
	DefaultMaxBackoff   = 5 * time.Second
	DefaultStallTimeout = 30 * time.Second
)

// HTTPOptions configures reading a file over HTTP. The zero value, or a
// nil *HTTPOptions, selects the defaults.
type HTTPOptions struct {
	// Client sends the requests. The default is a client whose transport
	// keeps enough idle connections per host for Concurrency parallel
	// requests (http.DefaultClient keeps two). Supply one to add
	// authentication, proxies or a timeout.
	Client *http.Client
	// Header is added to every request: an Authorization header, say.
	Header http.Header
	// HeadSize is the length of the first request, which learns the file's
	// size and, for most files, gets the whole header with it. Default
	// DefaultHeadSize.
	HeadSize int64
	// PartSize is the longest range one request asks for: a longer read
	// is split into parts fetched in parallel. Default DefaultPartSize.
	PartSize int64
	// Concurrency bounds the requests in flight for one file, across all
	// its concurrent reads. Default DefaultConcurrency.
	Concurrency int
	// MaxRetries is how many times a request that failed transiently (a
	// 5xx, 408 or 429 status, a broken connection, a short body, a stall)
	// is tried again. Default DefaultMaxRetries; negative means never.
	MaxRetries int
	// MinBackoff and MaxBackoff bound the wait before a retry, which
	// doubles from MinBackoff with each retry of a request, with jitter, up
	// to MaxBackoff; a Retry-After header can lengthen it up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// StallTimeout fails (and retries) a request when no byte of the
	// response arrives for this long. Default DefaultStallTimeout;
	// negative means never. Unlike http.Client.Timeout it does not limit
	// how long a large part may take to arrive.
	StallTimeout time.Duration
}

func (o *HTTPOptions) withDefaults() HTTPOptions {
	var c HTTPOptions
	if o != nil {
		c = *o
	}
	if c.Client == nil {
		c.Client = defaultClient()
	}
	if c.HeadSize <= 0 {
		c.HeadSize = DefaultHeadSize
	}
	c.HeadSize = max(c.HeadSize, 8) // the length prefix must come first
	if c.PartSize <= 0 {
		c.PartSize = DefaultPartSize
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	switch {
	case c.MaxRetries == 0:
		c.MaxRetries = DefaultMaxRetries
	case c.MaxRetries < 0:
		c.MaxRetries = 0
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	c.MaxBackoff = max(c.MaxBackoff, c.MinBackoff)
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	return c
}

// defaultClient is shared by every reader that brings no client, so that
// the shards of a checkpoint on one host share connections.
var defaultClient = sync.OnceValue(func() *http.Client {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultClient
	}
	t = t.Clone()
	t.MaxIdleConnsPerHost = 4 * DefaultConcurrency
	return &http.Client{Transport: t}
})

// HTTPError is the cause of an error for an HTTP response that stload
// cannot use, such as 404 Not Found or 403 Forbidden.
type HTTPError struct {
	StatusCode int    // 404, say
	Status     string // as the server gave it, "404 Not Found"
}

// Error returns "HTTP " and the status, as in "HTTP 404 Not Found".
func (e *HTTPError) Error() string { return "HTTP " + e.Status }

// HTTPReaderAt reads a file served over HTTP with range requests. It
// implements [io.ReaderAt], so that [NewReader] can validate and read the
// file as any other; [OpenURL] does both. Its methods are safe for
// concurrent use: concurrent reads are sent as concurrent requests.
type HTTPReaderAt struct {
	url  string
	name string // the URL without credentials or query, for errors
	o    HTTPOptions

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	closed atomic.Bool
	sem    chan struct{} // one token per request in flight

	// Set by the first response and constant after.
	size           int64
	etag, modified string
	head           []byte // the first bytes of the file, [0, len(head))
}

// NewHTTPReaderAt opens the file at an http:// or https:// URL. It sends
// one range request for the first HeadSize bytes, which gives the file's
// size, and, when the safetensors header announced by the first 8 bytes is
// longer, a second one for the rest of it (up to [DefaultMaxHeaderSize]):
// parsing the header then needs no more requests. Other bytes are fetched
// when read; nothing is downloaded in advance.
//
// ctx bounds the reader's whole life: the requests made now and those of
// later reads. Cancel it, or call Close, to abort them.
func NewHTTPReaderAt(ctx context.Context, rawURL string, opts *HTTPOptions) (*HTTPReaderAt, error) {
	return newHTTPReaderAt(ctx, rawURL, opts, DefaultMaxHeaderSize)
}

func newHTTPReaderAt(ctx context.Context, rawURL string, opts *HTTPOptions, maxHeader int64) (*HTTPReaderAt, error) {
	name, err := checkURL(rawURL)
	if err != nil {
		return nil, err
	}
	r := &HTTPReaderAt{url: rawURL, name: name, o: opts.withDefaults()}
	r.ctx, r.cancel = context.WithCancel(ctx)
	r.sem = make(chan struct{}, r.o.Concurrency)
	if err := r.retry(r.ctx, r.first); err != nil {
		r.cancel()
		return nil, r.fail(err, 0)
	}
	if err := r.prefetchHeader(maxHeader); err != nil {
		r.cancel()
		return nil, r.fail(err, int64(len(r.head)))
	}
	return r, nil
}

// checkURL accepts http and https URLs and returns the name errors give
// the file: the URL without user information, query or fragment, which
// may hold credentials (a presigned URL's signature, say).
func checkURL(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", &Error{Offset: -1, Err: ErrIO, Cause: err}
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", &Error{File: rawURL, Offset: -1, Err: ErrIO, Detail: "not an http:// or https:// URL"}
	}
	return redact(u), nil
}

func redact(u *url.URL) string {
	v := *u
	v.User, v.Fragment, v.RawFragment = nil, "", ""
	if v.RawQuery != "" {
		v.RawQuery = "…"
	}
	return v.String()
}

// IsURL reports whether path is an http:// or https:// URL, which
// [OpenURL] and [OpenCheckpointURL] open, rather than a file path.
func IsURL(path string) bool {
	return strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://")
}

// Size returns the size of the remote file in bytes.
func (r *HTTPReaderAt) Size() int64 { return r.size }

// Close aborts the requests in flight; later reads fail with [ErrClosed].
func (r *HTTPReaderAt) Close() error {
	r.closed.Store(true)
	r.cancel()
	return nil
}

// ReadAt reads len(p) bytes at offset off. Bytes the first requests
// brought are copied from memory; the rest is fetched with range
// requests of at most PartSize bytes, in parallel.
func (r *HTTPReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if r.closed.Load() {
		return 0, &Error{File: r.name, Offset: off, Err: ErrClosed}
	}
	if off < 0 {
		return 0, &Error{File: r.name, Offset: off, Err: ErrIO, Detail: "negative offset"}
	}
	if off >= r.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	eof := int64(len(p)) > r.size-off
	if eof {
		p = p[:r.size-off]
	}
	n := 0
	if off < int64(len(r.head)) {
		n = copy(p, r.head[off:])
	}
	if n < len(p) {
		k, err := r.readParts(p[n:], off+int64(n))
		n += k
		if err != nil {
			return n, err
		}
	}
	if eof {
		return n, io.EOF
	}
	return n, nil
}

// readParts fetches p at off in parts of at most PartSize, a few at a
// time, and returns how many leading bytes of p arrived. The first
// failure cancels the other parts.
func (r *HTTPReaderAt) readParts(p []byte, off int64) (int, error) {
	part := int(r.o.PartSize)
	parts := (len(p) + part - 1) / part
	if parts == 1 {
		if err := r.fetch(r.ctx, p, off); err != nil {
			return 0, r.fail(err, off)
		}
		return len(p), nil
	}
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	done := make([]bool, parts)
	var (
		next     atomic.Int64
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	for range min(parts, r.o.Concurrency) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < parts; i = int(next.Add(1) - 1) {
				lo, hi := i*part, min((i+1)*part, len(p))
				if err := r.fetch(ctx, p[lo:hi], off+int64(lo)); err != nil {
					errOnce.Do(func() { firstErr = r.fail(err, off+int64(lo)); cancel() })
					return
				}
				done[i] = true
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		return len(p), nil
	}
	n := 0
	for i := 0; i < parts && done[i]; i++ {
		n = min((i+1)*part, len(p))
	}
	return n, firstErr
}

// fetch fills dst with the bytes at off, retrying transient failures.
// A retry asks only for the bytes not yet received.
func (r *HTTPReaderAt) fetch(ctx context.Context, dst []byte, off int64) error {
	got := 0
	return r.retry(ctx, func(ctx context.Context) error {
		n, err := r.get(ctx, dst[got:], off+int64(got))
		got += n
		return err
	})
}

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
// retried MaxRetries times, waiting with exponential backoff in between.
func (r *HTTPReaderAt) retry(ctx context.Context, attempt func(context.Context) error) error {
	for i := 0; ; i++ {
		err := attempt(ctx)
		var t *transientError
		if err == nil || !errors.As(err, &t) {
			return err
		}
		if i >= r.o.MaxRetries {
			return fmt.Errorf("giving up after %d attempt%s: %w", i+1, plural(i+1), err)
		}
		wait := r.backoff(i, t.after)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}

// backoff returns the wait before retry i (from 0): MinBackoff doubled i
// times, capped, then jittered down by up to half so that parallel parts
// that failed together do not retry together.
func (r *HTTPReaderAt) backoff(i int, after time.Duration) time.Duration {
	d := r.o.MaxBackoff
	if i < 30 {
		d = min(r.o.MinBackoff<<i, r.o.MaxBackoff)
	}
	d = d/2 + rand.N(d/2+1)
	if after > d {
		d = min(after, r.o.MaxBackoff)
	}
	return d
}

// first sends the first request, for bytes [0, HeadSize), and learns the
// file's size and validators from the response.
func (r *HTTPReaderAt) first(ctx context.Context) error {
	resp, stop, err := r.send(ctx, 0, r.o.HeadSize-1)
	if err != nil {
		return err
	}
	defer stop()
	r.etag, r.modified = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, end, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		switch {
		case ok && total < 0:
			return &Error{Offset: -1, Err: ErrRangeUnsupported, Detail: "the server does not give the file's size"}
		case !ok || start != 0 || end >= r.o.HeadSize || end >= total:
			return transient("asked for bytes 0-%d, the server sent Content-Range %q", r.o.HeadSize-1, resp.Header.Get("Content-Range"))
		}
		r.size = total
		r.head = make([]byte, end+1)
	case http.StatusOK:
		// A server may ignore the range. For a file no longer than what
		// was asked for, the whole body is the answer anyway.
		if resp.ContentLength < 0 || resp.ContentLength > r.o.HeadSize {
			return &Error{Offset: -1, Err: ErrRangeUnsupported,
				Detail: fmt.Sprintf("asked for bytes 0-%d, the server sent the whole file (status 200)", r.o.HeadSize-1)}
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
		return r.bodyError(ctx, err, 0)
	}
	return nil
}

// prefetchHeader makes the second request: the rest of the header when
// the first response did not hold all of it. A length prefix beyond
// maxHeader or the file is left for NewReader to reject.
func (r *HTTPReaderAt) prefetchHeader(maxHeader int64) error {
	if len(r.head) < 8 {
		return nil
	}
	n := binary.LittleEndian.Uint64(r.head)
	have := int64(len(r.head))
	if n > uint64(maxHeader) || int64(n) > r.size-8 || 8+int64(n) <= have {
		return nil
	}
	// Fetched straight into place: the header may be 100 MB.
	head := slices.Grow(r.head, int(8+int64(n)-have))[:8+n]
	if err := r.fetch(r.ctx, head[have:], have); err != nil {
		return err
	}
	r.head = head
	return nil
}

// get makes one request for len(dst) bytes at off and reads the response
// into dst, returning how many bytes arrived.
func (r *HTTPReaderAt) get(ctx context.Context, dst []byte, off int64) (int, error) {
	end := off + int64(len(dst)) - 1
	resp, stop, err := r.send(ctx, off, end)
	if err != nil {
		return 0, err
	}
	defer stop()
	if err := r.check(resp, off, end); err != nil {
		return 0, err
	}
	n, err := io.ReadFull(resp.Body, dst)
	if err != nil {
		return n, r.bodyError(ctx, err, off+int64(n))
	}
	return n, nil
}

// check accepts only a 206 response for exactly the bytes asked for, from
// the same file as the first response.
func (r *HTTPReaderAt) check(resp *http.Response, start, end int64) error {
	if resp.StatusCode == http.StatusOK {
		return &Error{Offset: start, Err: ErrRangeUnsupported,
			Detail: fmt.Sprintf("asked for bytes %d-%d, the server sent the whole file (status 200)", start, end)}
	}
	if resp.StatusCode != http.StatusPartialContent {
		if resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			if _, _, total, ok := parseContentRange(resp.Header.Get("Content-Range")); ok && total != r.size {
				return r.changed(start, "its size went from %d to %d bytes", r.size, total)
			}
		}
		return statusError(resp)
	}
	if etag := resp.Header.Get("ETag"); r.etag != "" && etag != "" && etag != r.etag {
		return r.changed(start, "its ETag went from %s to %s", r.etag, etag)
	}
	if mod := resp.Header.Get("Last-Modified"); r.modified != "" && mod != "" && mod != r.modified {
		return r.changed(start, "its Last-Modified went from %s to %s", r.modified, mod)
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

func (r *HTTPReaderAt) changed(off int64, format string, args ...any) error {
	return &Error{Offset: off, Err: ErrRemoteChanged, Detail: fmt.Sprintf(format, args...)}
}

// errStalled cancels a request that went StallTimeout without data.
var errStalled = errors.New("no data received within the stall timeout")

// send makes one GET request for bytes [start, end]. The returned stop
// function closes the response and releases the request's resources; it
// must be called once the body has been read.
func (r *HTTPReaderAt) send(ctx context.Context, start, end int64) (*http.Response, func(), error) {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	rctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{cancel: cancel, d: r.o.StallTimeout}
	w.start()
	release := func() {
		w.stop()
		cancel(nil)
		<-r.sem
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, r.url, nil)
	if err != nil {
		release()
		return nil, nil, &Error{Offset: -1, Err: ErrIO, Cause: err}
	}
	for k, v := range r.o.Header {
		req.Header[k] = v
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, end))
	// Ranges must count bytes of the file, not of a compressed encoding.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := r.o.Client.Do(req)
	if err != nil {
		release()
		return nil, nil, r.requestError(ctx, rctx, err)
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
}

func (w *watchdog) start() {
	if w.d > 0 {
		w.t = time.AfterFunc(w.d, func() { w.cancel(errStalled) })
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

type watchedBody struct {
	io.ReadCloser
	w *watchdog
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.reset()
	}
	return n, err
}

// requestError classifies a failed request: the caller's cancellation and
// errors that will not go away are final, the rest are retried.
func (r *HTTPReaderAt) requestError(ctx, rctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if context.Cause(rctx) == errStalled {
		return &transientError{err: errStalled}
	}
	// A *url.Error repeats the URL, query and all, which may hold
	// credentials; the File of the final *Error names the file instead.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	if errors.As(err, &dns) && dns.IsNotFound || errors.As(err, &cert) {
		return &Error{Offset: -1, Err: ErrIO, Cause: err}
	}
	return &transientError{err: err}
}

// bodyError classifies an error reading a response body: a body cut short
// or a connection broken is retried.
func (r *HTTPReaderAt) bodyError(ctx context.Context, err error, at int64) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return transient("the response ended early, at byte %d", at)
	}
	return &transientError{err: err}
}

// statusError turns an unexpected status into an error, transient for the
// statuses that say "try again".
func statusError(resp *http.Response) error {
	he := &HTTPError{StatusCode: resp.StatusCode, Status: resp.Status}
	switch c := resp.StatusCode; {
	case c >= 500, c == http.StatusTooManyRequests, c == http.StatusRequestTimeout:
		return &transientError{err: he, after: retryAfter(resp.Header.Get("Retry-After"))}
	}
	return &Error{Offset: -1, Err: ErrIO, Cause: he}
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

// fail turns an error from the request machinery into an *Error naming
// the file and the offset.
func (r *HTTPReaderAt) fail(err error, off int64) error {
	var e *Error
	switch {
	case errors.As(err, &e):
		// Final errors are not wrapped: they come straight from check,
		// first or statusError.
		e.File = r.name
		if e.Offset < 0 {
			e.Offset = off
		}
		return e
	case r.closed.Load():
		return &Error{File: r.name, Offset: off, Err: ErrClosed}
	}
	return &Error{File: r.name, Offset: off, Err: ErrIO, Cause: err}
}

// OpenURL opens the safetensors file at an http:// or https:// URL
// through range requests: [NewHTTPReaderAt] reads the header in one or two
// requests, [NewReader] validates it exactly as for a local file, and
// tensor bytes are fetched when read (with [File.ReadAt], [Tensor.Bytes],
// [Slice.WriteTo]...). opts configure validation as for [Open]; h
// configures the requests and may be nil.
//
// ctx bounds the life of the File's requests: cancelling it makes reads
// in progress fail promptly. [File.Close] waits for reads in progress to
// end (as it does for a mapped file, whose memory they may be using)
// before it ends the File's requests.
//
// Errors name the file by its URL without query string or user
// information, which may hold credentials; [WithName] sets another name.
func OpenURL(ctx context.Context, rawURL string, h *HTTPOptions, opts ...Option) (*File, error) {
	name, err := checkURL(rawURL)
	if err != nil {
		return nil, err
	}
	cfg := newConfig(name, opts)
	r, err := newHTTPReaderAt(ctx, rawURL, h, cfg.maxHeader)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.File = cfg.name
		}
		return nil, err
	}
	src := source{r: r, close: r.Close, chunk: r.o.PartSize * int64(r.o.Concurrency)}
	f, err := newFile(src, r.size, cfg)
	if err != nil {
		r.Close()
		return nil, err
	}
	return f, nil
}
