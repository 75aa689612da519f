// Package httprange reads a file served over HTTP with range requests, as
// an [io.ReaderAt] with a size: what [loader.NewReader] takes, the way
// archive/zip's NewReader takes any ReaderAt. [Open] learns the file's
// size from one request that also brings its first 64 KiB (and, for a
// safetensors file whose header is longer, a second request brings the
// rest of the header), so that parsing the header needs no more
// requests; other bytes are fetched when read, a long read in parallel
// parts. Transient failures (a 5xx, 408 or 429 status, a broken
// connection, a short body, a stalled response) are retried with
// backoff; a file that changes between requests fails with
// [ErrRemoteChanged] rather than mixing the bytes of two versions.
//
// Errors are [*loader.Error] values that name the file by its URL less
// any user information, query or fragment ([Redact]), which may hold
// credentials.
package httprange

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

	"github.com/stload/stload/loader"
)

// kinded is the type of the package's sentinel errors: a message, and the
// name [loader.Kind] reports for it.
type kinded struct{ msg, kind string }

func (e *kinded) Error() string { return e.msg }
func (e *kinded) Kind() string  { return e.kind }

// Sentinel errors, wrapped in [*loader.Error] values.
var (
	// ErrRangeUnsupported reports a server that answers a range request
	// with the whole file (status 200) or without the file's size, so that
	// reading one tensor would mean downloading everything.
	ErrRangeUnsupported error = &kinded{"server does not support range requests", "RangeUnsupported"}
	// ErrRemoteChanged reports a remote file whose ETag, Last-Modified or
	// length differs from one response to the next: bytes read before and
	// after the change would not belong to the same file.
	ErrRemoteChanged error = &kinded{"remote file changed while being read", "RemoteChanged"}
)

// Defaults of the options.
const (
	defaultHeadSize     = 64 << 10
	defaultPartSize     = 8 << 20
	defaultConcurrency  = 8
	defaultRetries      = 5
	defaultMinBackoff   = 100 * time.Millisecond
	defaultMaxBackoff   = 5 * time.Second
	defaultStallTimeout = 30 * time.Second
	// maxPrefetch bounds the header Open fetches with its second request:
	// the safetensors reference's limit on the header length.
	maxPrefetch = 100_000_000
)

// Option configures [Open].
type Option func(*config)

type config struct {
	client                 *http.Client
	ownClient              bool // client was made for this reader
	header                 http.Header
	headSize, partSize     int64
	concurrency, retries   int
	minBackoff, maxBackoff time.Duration
	stallTimeout           time.Duration
}

func newConfig(opts []Option) config {
	c := config{headSize: defaultHeadSize, partSize: defaultPartSize, concurrency: defaultConcurrency,
		retries: defaultRetries, minBackoff: defaultMinBackoff, maxBackoff: defaultMaxBackoff, stallTimeout: defaultStallTimeout}
	for _, o := range opts {
		o(&c)
	}
	if c.client == nil {
		c.client, c.ownClient = newClient(c.concurrency), true
	}
	c.headSize = max(c.headSize, 8) // the length prefix must come first
	c.maxBackoff = max(c.maxBackoff, c.minBackoff)
	return c
}

// newClient returns a client whose transport keeps enough idle
// connections per host for concurrency parallel requests of several
// files (http.DefaultClient keeps two).
func newClient(concurrency int) *http.Client {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultClient
	}
	t = t.Clone()
	t.MaxIdleConnsPerHost = 4 * concurrency
	return &http.Client{Transport: t}
}

// WithClient sets the client that sends the requests: to add
// authentication, proxies or a timeout, or to share connections between
// readers of one server. The default is a new client per reader whose
// transport keeps enough idle connections for the parallel requests.
func WithClient(c *http.Client) Option {
	return func(cfg *config) {
		if c != nil {
			cfg.client = c
		}
	}
}

// WithHeader adds h to every request: an Authorization header, say.
func WithHeader(h http.Header) Option {
	return func(c *config) { c.header = h.Clone() }
}

// WithPartSize sets the longest range one request asks for (default
// 8 MiB): a longer read is split into parts fetched in parallel.
func WithPartSize(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.partSize = n
		}
	}
}

// WithConcurrency bounds the requests in flight for one reader, across all
// its concurrent reads (default 8).
func WithConcurrency(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.concurrency = n
		}
	}
}

// WithRetries sets how many times a request that failed transiently (a
// 5xx, 408 or 429 status, a broken connection, a short body, a stall) is
// tried again (default 5; 0 never). The wait before a retry doubles from
// 100 ms with each retry of a request, with jitter, up to 5 s; a
// Retry-After header can lengthen it up to 5 s.
func WithRetries(n int) Option {
	return func(c *config) { c.retries = max(n, 0) }
}

// WithStallTimeout fails (and retries) a request when no byte of the
// response arrives for d (default 30 s; 0 or less means never). Unlike
// http.Client.Timeout it does not limit how long a large part may take
// to arrive.
func WithStallTimeout(d time.Duration) Option {
	return func(c *config) { c.stallTimeout = max(d, 0) }
}

// StatusError is the cause of an error for an HTTP response that cannot
// be used, such as 404 Not Found or 403 Forbidden.
type StatusError struct {
	StatusCode int    // 404, say
	Status     string // as the server gave it, "404 Not Found"
}

// Error returns "HTTP " and the status, as in "HTTP 404 Not Found".
func (e *StatusError) Error() string { return "HTTP " + e.Status }

// Reader reads a file served over HTTP with range requests. It implements
// [io.ReaderAt]; [loader.NewReader] validates and reads a safetensors file
// through it as through any other. Its methods are safe for concurrent
// use: concurrent reads are sent as concurrent requests.
type Reader struct {
	url  string
	name string // the URL without credentials or query, for errors
	o    config
	sem  chan struct{} // one token per request in flight

	mu       sync.Mutex
	closed   bool
	inFlight map[*context.CancelFunc]struct{} // the reads Close cancels

	// Set by the first response and constant after.
	size           int64
	etag, modified string
	head           []byte // the first bytes of the file, [0, len(head))
}

// Open opens the file at an http:// or https:// URL. It sends one range
// request for the first 64 KiB, which gives the file's size, and, when the
// file starts with the length prefix of a safetensors header longer than
// that, a second one for the rest of the header (up to the reference's
// 100 MB limit): parsing the header then needs no more requests. Other
// bytes are fetched when read; nothing is downloaded in advance.
//
// ctx bounds the requests Open makes; later reads are bounded by the
// options' timeouts and by Close, which aborts the requests in flight.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Reader, error) {
	name, err := checkURL(rawURL)
	if err != nil {
		return nil, err
	}
	r := &Reader{url: rawURL, name: name, o: newConfig(opts), inFlight: map[*context.CancelFunc]struct{}{}}
	r.sem = make(chan struct{}, r.o.concurrency)
	if err := r.retry(ctx, r.first); err != nil {
		return nil, r.fail(err, 0)
	}
	if err := r.prefetchHeader(ctx); err != nil {
		return nil, r.fail(err, int64(len(r.head)))
	}
	return r, nil
}

// checkURL accepts http and https URLs and returns the name errors give
// the file (see Redact).
func checkURL(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", &loader.Error{Detail: "not a URL", Cause: err}
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", &loader.Error{File: redact(u), Detail: "not an http:// or https:// URL"}
	}
	return redact(u), nil
}

// Redact returns rawURL without its user information and fragment, and
// with a query shown as "?…": what errors print, since those parts may
// hold credentials (a presigned URL's signature, say).
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(an unparsable URL)"
	}
	return redact(u)
}

func redact(u *url.URL) string {
	v := *u
	v.User, v.Fragment, v.RawFragment = nil, "", ""
	if v.RawQuery != "" {
		v.RawQuery = "…"
	}
	return v.String()
}

// IsURL reports whether path is an http:// or https:// URL, which [Open]
// opens, rather than a file path.
func IsURL(path string) bool {
	return strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://")
}

// Name returns the URL without user information, query or fragment (see
// [Redact]): the name errors give the file.
func (r *Reader) Name() string { return r.name }

// Size returns the size of the remote file in bytes.
func (r *Reader) Size() int64 { return r.size }

// Close aborts the requests in flight, and closes the idle connections of
// the client the reader made for itself (not those of a client given
// with [WithClient]); later reads fail with [fs.ErrClosed].
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for cancel := range r.inFlight {
		(*cancel)()
	}
	clear(r.inFlight)
	if r.o.ownClient {
		r.o.client.CloseIdleConnections()
	}
	return nil
}

// begin starts a read: it returns the context of its requests, which
// Close cancels, and the function that ends the read.
func (r *Reader) begin() (context.Context, func(), error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, nil, errClosed
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.inFlight[&cancel] = struct{}{}
	return ctx, func() {
		r.mu.Lock()
		delete(r.inFlight, &cancel)
		r.mu.Unlock()
		cancel()
	}, nil
}

// errClosed stands for a read of a closed Reader until fail names it.
var errClosed = errors.New("closed")

func (r *Reader) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// ReadAt reads len(p) bytes at offset off. Bytes the first requests
// brought are copied from memory; the rest is fetched with range
// requests of at most the part size, in parallel.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if r.isClosed() {
		return 0, r.fail(errClosed, off)
	}
	if off < 0 {
		return 0, &loader.Error{File: r.name, Offset: off, Detail: "negative offset"}
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

// readParts fetches p at off in parts of at most the part size, a few at
// a time, and returns how many leading bytes of p arrived. The first
// failure cancels the other parts.
func (r *Reader) readParts(p []byte, off int64) (int, error) {
	ctx, end, err := r.begin()
	if err != nil {
		return 0, r.fail(err, off)
	}
	defer end()
	part := int(r.o.partSize)
	parts := (len(p) + part - 1) / part
	if parts == 1 {
		if err := r.fetch(ctx, p, off); err != nil {
			return 0, r.fail(err, off)
		}
		return len(p), nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make([]bool, parts)
	var (
		next     atomic.Int64
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	for range min(parts, r.o.concurrency) {
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
func (r *Reader) fetch(ctx context.Context, dst []byte, off int64) error {
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
func (r *Reader) retry(ctx context.Context, attempt func(context.Context) error) error {
	for i := 0; ; i++ {
		err := attempt(ctx)
		var t *transientError
		if err == nil || !errors.As(err, &t) {
			return err
		}
		if i >= r.o.retries {
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
func (r *Reader) backoff(i int, after time.Duration) time.Duration {
	d := r.o.maxBackoff
	if i < 30 {
		d = min(r.o.minBackoff<<i, r.o.maxBackoff)
	}
	d = d/2 + rand.N(d/2+1)
	if after > d {
		d = min(after, r.o.maxBackoff)
	}
	return d
}

// first sends the first request, for bytes [0, HeadSize), and learns the
// file's size and validators from the response.
func (r *Reader) first(ctx context.Context) error {
	resp, stop, err := r.send(ctx, 0, r.o.headSize-1)
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
			return &loader.Error{Err: ErrRangeUnsupported, Detail: "the server does not give the file's size"}
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
				Detail: fmt.Sprintf("asked for bytes 0-%d, the server sent the whole file (status 200)", r.o.headSize-1)}
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
func (r *Reader) check(resp *http.Response, start, end int64) error {
	if resp.StatusCode == http.StatusOK {
		return &loader.Error{Offset: start, Err: ErrRangeUnsupported,
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

func (r *Reader) changed(off int64, format string, args ...any) error {
	return &loader.Error{Offset: off, Err: ErrRemoteChanged, Detail: fmt.Sprintf(format, args...)}
}

// errStalled cancels a request that went StallTimeout without data.
var errStalled = errors.New("no data received within the stall timeout")

// send makes one GET request for bytes [start, end]. The returned stop
// function closes the response and releases the request's resources; it
// must be called once the body has been read.
func (r *Reader) send(ctx context.Context, start, end int64) (*http.Response, func(), error) {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	rctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{cancel: cancel, d: r.o.stallTimeout}
	w.start()
	release := func() {
		w.stop()
		cancel(nil)
		<-r.sem
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, r.url, nil)
	if err != nil {
		release()
		return nil, nil, &loader.Error{Cause: err}
	}
	for k, v := range r.o.header {
		req.Header[k] = v
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, end))
	// Ranges must count bytes of the file, not of a compressed encoding.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := r.o.client.Do(req)
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
func (r *Reader) requestError(ctx, rctx context.Context, err error) error {
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
		return &loader.Error{Cause: err}
	}
	return &transientError{err: err}
}

// bodyError classifies an error reading a response body: a body cut short
// or a connection broken is retried.
func (r *Reader) bodyError(ctx context.Context, err error, at int64) error {
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

// fail turns an error from the request machinery into an *Error naming
// the file and the offset.
func (r *Reader) fail(err error, off int64) error {
	var e *loader.Error
	switch {
	case errors.As(err, &e):
		// Final errors are not wrapped: they come straight from check,
		// first or statusError.
		e.File = r.name
		if e.Offset == 0 {
			e.Offset = off
		}
		return e
	case err == errClosed || r.isClosed():
		return &loader.Error{File: r.name, Offset: off, Err: fs.ErrClosed}
	}
	return &loader.Error{File: r.name, Offset: off, Cause: err}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
