// Package httprange reads a file served over HTTP with range requests, as
// an [io.ReaderAt] with a size: what [loader.NewReader] takes, the way
// archive/zip's NewReader takes any ReaderAt. [Open] learns the file's
// size from one request that also brings its first 64 KiB (and, for a
// safetensors file whose header is longer, a second request brings the
// rest of the header), so that parsing the header needs no more
// requests; other bytes are fetched when read, a long read in parallel
// parts. Transient failures (a 5xx, 408 or 429 status, a broken
// connection, a short body, a stalled response) are retried with
// backoff, and every read has a deadline ([WithTimeout]).
//
// Every request after the first carries the first response's validator
// (If-Range with its ETag or Last-Modified date), and every response's
// validators must be the first's: a file that changes between requests
// fails with [ErrRemoteChanged] rather than mixing the bytes of two
// versions. A server that sends no validator at all cannot be checked so;
// [Reader.Validator] says so, and [WithRequireValidators] refuses it.
//
// [Download] copies a file front to back, for servers that do not
// support ranges, with the same retries and checks.
//
// Errors are [*loader.Error] values that name the file by its URL less
// anything that may hold credentials ([Redact]).
package httprange

import (
	"context"
	"io"
	"net/http"
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
	// ErrNoValidators reports, with [WithRequireValidators], a server that
	// sends neither an ETag nor a Last-Modified date, so that a change of
	// the file between two requests could not be detected.
	ErrNoValidators error = &kinded{"the server sends no validator (ETag or Last-Modified)", "NoValidators"}
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
	// The default deadline of a read (see WithTimeout): timeoutBase, plus
	// the time its bytes take at minThroughput bytes per second.
	timeoutBase   = 2 * time.Minute
	minThroughput = 64 << 10
	autoTimeout   = -1 // config.timeout: the default deadline
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
	timeout                time.Duration // autoTimeout, or a fixed limit (0: none)
	requireValidators      bool
}

func newConfig(opts []Option) config {
	c := config{headSize: defaultHeadSize, partSize: defaultPartSize, concurrency: defaultConcurrency,
		retries: defaultRetries, minBackoff: defaultMinBackoff, maxBackoff: defaultMaxBackoff, stallTimeout: defaultStallTimeout,
		timeout: autoTimeout}
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
// to arrive; [WithTimeout] does.
func WithStallTimeout(d time.Duration) Option {
	return func(c *config) { c.stallTimeout = max(d, 0) }
}

// WithTimeout bounds each read: a ReadAt, the requests of Open, a whole
// [Download]. The time counts retries, the waits between them and the
// wait for a free request slot ([WithConcurrency]); when it is up the
// read fails with an error for which errors.Is(err,
// context.DeadlineExceeded) holds ([loader.Kind] "DeadlineExceeded").
// d ≤ 0 means no limit (the stall timeout still applies).
//
// The default adapts to the size of the read, so that it stops a server
// that drips a byte now and then (which never trips the stall timeout)
// without failing a large read on a slow link: a read of n bytes may
// take 2 minutes plus the time n bytes take at 64 KiB/s (512 kbit/s),
// that is 2 min 1 s for 64 KiB and 4 min 8 s for an 8 MiB part. A
// [Download], whose size may be unknown, fails by default when after
// its first 2 minutes it has averaged less than 64 KiB/s since it began.
// Many reads of one Reader at once on a slow link share its bandwidth
// and its request slots: give them a larger d, or none.
func WithTimeout(d time.Duration) Option {
	return func(c *config) { c.timeout = max(d, 0) }
}

// WithRequireValidators makes [Open] and [Download] fail with
// [ErrNoValidators] for a server that sends neither an ETag nor a
// Last-Modified date with the file: without one, a file replaced between
// two requests would go unnoticed. By default such a server is used, and
// [Reader.Validator] returns "" so that the caller can warn.
func WithRequireValidators() Option {
	return func(c *config) { c.requireValidators = true }
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
	size  int64
	v     validators
	ctype string // Content-Type
	head  []byte // the first bytes of the file, [0, len(head))
}

// Open opens the file at an http:// or https:// URL. It sends one range
// request for the first 64 KiB, which gives the file's size, and, when the
// file starts with the length prefix of a safetensors header longer than
// that, a second one for the rest of the header (up to the reference's
// 100 MB limit): parsing the header then needs no more requests. Other
// bytes are fetched when read; nothing is downloaded in advance.
//
// ctx and [WithTimeout] bound the requests Open makes; later reads are
// bounded by the options' timeouts and by Close, which aborts the
// requests in flight.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Reader, error) {
	name, err := checkURL(rawURL)
	if err != nil {
		return nil, err
	}
	r := &Reader{url: rawURL, name: name, o: newConfig(opts), inFlight: map[*context.CancelFunc]struct{}{}}
	r.sem = make(chan struct{}, r.o.concurrency)
	if err := r.open(ctx); err != nil {
		if r.o.ownClient {
			r.o.client.CloseIdleConnections()
		}
		return nil, err
	}
	return r, nil
}

// open makes Open's requests: the first, and the rest of the header.
func (r *Reader) open(ctx context.Context) error {
	first, cancel := r.o.deadline(ctx, r.o.headSize)
	err := r.o.retry(first, r.first)
	cancel()
	if err != nil {
		return r.fail(err, 0)
	}
	if r.o.requireValidators && r.v.none() {
		return &loader.Error{File: r.name, Err: ErrNoValidators,
			Detail: "a change of the file between two requests could not be detected"}
	}
	if err := r.prefetchHeader(ctx); err != nil {
		return r.fail(err, int64(len(r.head)))
	}
	return nil
}

// Name returns the URL less anything that may hold credentials (see
// [Redact]): the name errors give the file.
func (r *Reader) Name() string { return r.name }

// Validator returns the ETag the server sent with the file, or its
// Last-Modified date when it sent no ETag: what every later response
// must match. It returns "" when the server sent neither; then a change
// of the file between two requests cannot be detected, and a read could
// mix bytes of two versions (see [WithRequireValidators]).
func (r *Reader) Validator() string { return r.v.String() }

// ContentType returns the Content-Type the server sent with the file, or
// "": a safetensors file that fails to parse and was sent as text/html is
// a web page, say.
func (r *Reader) ContentType() string { return r.ctype }

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

// begin starts a read: it returns the context of its requests, derived
// from the caller's ctx and cancelled by Close too, and the function that
// ends the read.
func (r *Reader) begin(ctx context.Context) (context.Context, func(), error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, nil, errClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	r.inFlight[&cancel] = struct{}{}
	return ctx, func() {
		r.mu.Lock()
		delete(r.inFlight, &cancel)
		r.mu.Unlock()
		cancel()
	}, nil
}

func (r *Reader) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// ReadAt reads len(p) bytes at offset off. Bytes the first requests
// brought are copied from memory; the rest is fetched with range
// requests of at most the part size, in parallel.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	return r.ReadAtContext(context.Background(), p, off)
}

// ReadAtContext is ReadAt whose requests are abandoned when ctx is done;
// the error then wraps ctx's. A [loader.File] over the Reader uses it for
// [loader.File.ReadAtContext], which device loads call with their context.
func (r *Reader) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
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
		k, err := r.readParts(ctx, p[n:], off+int64(n))
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
func (r *Reader) readParts(ctx context.Context, p []byte, off int64) (int, error) {
	ctx, end, err := r.begin(ctx)
	if err != nil {
		return 0, r.fail(err, off)
	}
	defer end()
	ctx, cancel := r.o.deadline(ctx, int64(len(p)))
	defer cancel()
	part := int(r.o.partSize)
	parts := (len(p) + part - 1) / part
	if parts == 1 {
		if err := r.fetch(ctx, p, off); err != nil {
			return 0, r.fail(err, off)
		}
		return len(p), nil
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
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
					errOnce.Do(func() { firstErr = r.fail(err, off+int64(lo)); stop() })
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
	return r.o.retry(ctx, func(ctx context.Context) error {
		n, err := r.get(ctx, dst[got:], off+int64(got))
		got += n
		return err
	})
}
