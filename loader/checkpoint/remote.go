package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/httprange"
)

// WithDownloadFallback makes [Open] download, into a temporary file in
// dir, a remote file whose server does not support range requests
// (which [httprange.Open] refuses with [httprange.ErrRangeUnsupported]):
// a single file or every such shard of an index, streamed front to back
// by [httprange.Download], with its retries and validator checks, then
// opened (and memory-mapped) as a local file that keeps the URL as its
// name. The download needs the file's size free in dir. The temporary
// file is removed as soon as it is open where the system allows it (on
// Unix, so nothing is left behind even if the process is killed), else
// when the checkpoint is closed. By default such a server is refused.
func WithDownloadFallback(dir string) Option {
	return func(c *config) { c.downloadDir = dir }
}

// WithDownloadProgress sets a function that [WithDownloadFallback]'s
// downloads report their progress to: the name of the file (its URL, as
// [httprange.Redact] shows it), the bytes downloaded so far, and its size
// (-1 when the server does not give it). It is called with 0 before a
// download's first byte, so that a caller can say why it waits, and may
// be called from several goroutines at once, one per shard.
func WithDownloadProgress(f func(name string, done, total int64)) Option {
	return func(c *config) { c.progress = f }
}

// openURL opens a checkpoint served over HTTP (see Open): from the URL
// of an index file, whose shards are fetched from the same directory of
// the server, or of a single safetensors file.
func openURL(ctx context.Context, rawURL string, cfg config) (*Checkpoint, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // ue repeats the URL, credentials and all
		}
		return nil, &loader.Error{File: httprange.Redact(rawURL), Detail: "not a URL", Cause: err}
	}
	client := &http.Client{Transport: sharedTransport()}
	cfg.httpOpts = append([]httprange.Option{httprange.WithClient(client)}, cfg.httpOpts...)
	c, err := openRemoteCheckpoint(ctx, rawURL, u, cfg)
	if err != nil {
		client.CloseIdleConnections()
		return nil, err
	}
	c.closers = append(c.closers, closerFunc(func() error { client.CloseIdleConnections(); return nil }))
	return c, nil
}

// closerFunc makes a function an io.Closer.
type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// openRemoteCheckpoint is openURL once the URL is parsed and the client
// chosen.
func openRemoteCheckpoint(ctx context.Context, rawURL string, u *url.URL, cfg config) (*Checkpoint, error) {
	if !strings.HasSuffix(u.Path, ".json") {
		f, r, err := openRemote(ctx, rawURL, &cfg)
		if err != nil {
			return nil, err
		}
		return single(f, r), nil
	}
	b, err := fetchIndex(ctx, rawURL, &cfg)
	if err != nil {
		return nil, err
	}
	name := httprange.Redact(rawURL)
	idx, perr := parseIndex(b, cfg.lenient)
	if perr != nil {
		perr.File = name
		return nil, perr
	}
	if err := checkRemoteNames(name, idx); err != nil {
		return nil, err
	}
	return assemble(ctx, name, idx, remoteShards{base: dirOf(u)}, cfg)
}

// dirOf returns u less its last path element, fragment included. The
// directory keeps its escaping: in ".../resolve/refs%2Fpr%2F1/x.json"
// the "%2F" are part of one segment, not slashes.
func dirOf(u *url.URL) *url.URL {
	d := *u
	esc := u.EscapedPath()
	d.RawPath = esc[:strings.LastIndex(esc, "/")+1]
	d.Path, _ = url.PathUnescape(d.RawPath) // esc is a valid escaping
	d.Fragment, d.RawFragment = "", ""
	return &d
}

// sharedTransport returns a transport that keeps enough idle connections
// for the parallel requests of the shards a checkpoint opens at once.
func sharedTransport() http.RoundTripper {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultTransport
	}
	t = t.Clone()
	t.MaxIdleConnsPerHost = 4 * shardConcurrency
	return t
}

// openRemote opens the safetensors file at rawURL, downloading it when
// its server does not support ranges and WithDownloadFallback allows it.
func openRemote(ctx context.Context, rawURL string, cfg *config) (*loader.File, io.Closer, error) {
	r, err := httprange.Open(ctx, rawURL, cfg.httpOpts...)
	if errors.Is(err, httprange.ErrRangeUnsupported) && cfg.downloadDir != "" {
		return openDownloaded(ctx, rawURL, cfg)
	}
	if err != nil {
		return nil, nil, err
	}
	f, err := loader.NewReader(r, r.Size(), cfg.loaderOpts...)
	if err != nil {
		r.Close()
		return nil, nil, notSafetensors(err, r.ContentType())
	}
	return f, r, nil
}

// notSafetensors adds to an error that says a file's header is malformed
// what the server said the file is, when that is a type a safetensors
// file cannot be: a web page, an image, JSON. The hint comes only once
// the bytes failed to parse: a valid file served with a wrong type (some
// servers call every unknown file text/plain) still opens. The error
// keeps its kind.
func notSafetensors(err error, contentType string) error {
	media, _, perr := mime.ParseMediaType(contentType)
	var e *loader.Error
	if perr != nil || !documentType(media) || !errors.As(err, &e) || !headerError(e.Err) {
		return err
	}
	// The loader says "not a safetensors file (looks like HTML); …" of
	// bytes it recognises: the server's word goes beside its own.
	const hint = "not a safetensors file ("
	note := "the server sent " + media
	switch i := strings.Index(e.Detail, hint); {
	case i >= 0:
		i += len(hint)
		e.Detail = e.Detail[:i] + note + "; " + e.Detail[i:]
	case e.Detail == "":
		e.Detail = hint + note + ")"
	default:
		e.Detail = hint + note + "): " + e.Detail
	}
	return e
}

// documentType reports whether a media type is one that no safetensors
// file is served as.
func documentType(media string) bool {
	top, sub, _ := strings.Cut(media, "/")
	switch top {
	case "text", "image", "audio", "video", "font", "multipart":
		return true
	case "application":
		return strings.HasSuffix(sub, "+json") || strings.HasSuffix(sub, "+xml") ||
			slices.Contains([]string{"json", "xml", "xhtml+xml", "javascript", "pdf", "zip", "gzip", "x-tar"}, sub)
	}
	return false
}

// headerError reports whether a sentinel says the header could not be
// read as a safetensors header at all.
func headerError(err error) bool {
	for _, h := range []error{loader.ErrHeaderTooSmall, loader.ErrHeaderTooLarge, loader.ErrInvalidHeaderLength,
		loader.ErrInvalidHeader, loader.ErrInvalidHeaderDeserialization} {
		if err == h {
			return true
		}
	}
	return false
}

// openDownloaded downloads the file at rawURL into a temporary file in
// the download directory and opens it (see WithDownloadFallback).
func openDownloaded(ctx context.Context, rawURL string, cfg *config) (*loader.File, io.Closer, error) {
	name := httprange.Redact(rawURL)
	tmp, err := os.CreateTemp(cfg.downloadDir, ".stload-download-*.safetensors")
	if err != nil {
		return nil, nil, &loader.Error{File: name, Detail: "the server does not support range requests, and the file cannot be downloaded", Cause: err}
	}
	// Unlinked at once where the system allows it: nothing is left
	// behind, whatever happens to the process.
	unlinked := os.Remove(tmp.Name()) == nil
	remove := func() {
		if !unlinked {
			os.Remove(tmp.Name())
		}
	}
	var progress func(done, total int64)
	if cfg.progress != nil {
		progress = func(done, total int64) { cfg.progress(name, done, total) }
	}
	n, err := httprange.Download(ctx, rawURL, tmp, progress, cfg.httpOpts...)
	if err == nil {
		tmp, err = renameFile(tmp, name)
	}
	if err != nil {
		tmp.Close()
		remove()
		return nil, nil, err
	}
	f, err := loader.NewReader(tmp, n, cfg.loaderOpts...)
	if err != nil {
		tmp.Close()
		remove()
		return nil, nil, err
	}
	return f, closerFunc(func() error { err := tmp.Close(); remove(); return err }), nil
}

// fetchIndex reads a whole index file, of at most maxIndexSize bytes,
// through an httprange.Reader, which brings retries and change detection
// with it, or with httprange.Download from a server without range
// support.
func fetchIndex(ctx context.Context, rawURL string, cfg *config) ([]byte, error) {
	r, err := httprange.Open(ctx, rawURL, cfg.httpOpts...)
	if errors.Is(err, httprange.ErrRangeUnsupported) {
		return downloadIndex(ctx, rawURL, cfg)
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if r.Size() > maxIndexSize {
		return nil, indexTooLarge(r.Name())
	}
	b := make([]byte, r.Size())
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, err
	}
	return b, nil
}

func indexTooLarge(name string) error {
	return &loader.Error{File: name, Offset: maxIndexSize, Err: ErrInvalidIndex,
		Detail: fmt.Sprintf("the index is larger than the limit of %d bytes", maxIndexSize)}
}

// downloadIndex downloads an index into memory, stopping at
// maxIndexSize bytes.
func downloadIndex(ctx context.Context, rawURL string, cfg *config) ([]byte, error) {
	var b bytes.Buffer
	w := &limitedWriter{w: &b, n: maxIndexSize}
	_, err := httprange.Download(ctx, rawURL, w, nil, cfg.httpOpts...)
	if errors.Is(err, errIndexTooLarge) {
		return nil, indexTooLarge(httprange.Redact(rawURL))
	}
	return b.Bytes(), err
}

var errIndexTooLarge = errors.New("index too large")

// limitedWriter fails a write past n bytes.
type limitedWriter struct {
	w io.Writer
	n int64
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		return 0, errIndexTooLarge
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}

// remoteShards opens the shards of an index from its server.
type remoteShards struct {
	base *url.URL // the index's URL, less its last path element
}

// url returns the URL of a shard. A name is a file name, as it is for a
// local checkpoint, not part of a URL: it is escaped, so that "%41" or
// "?" in it mean themselves (as huggingface_hub quotes file names).
func (s remoteShards) url(name string) string {
	segs := strings.Split(name, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return s.base.JoinPath(segs...).String()
}

func (s remoteShards) where(name string) string {
	return httprange.Redact(s.url(name))
}

func (s remoteShards) open(ctx context.Context, name string, cfg *config) (*loader.File, io.Closer, error) {
	if err := remoteName(name); err != "" {
		return nil, nil, &loader.Error{File: s.where(name), Err: ErrInsecurePath, Detail: err}
	}
	f, r, err := openRemote(ctx, s.url(name), cfg)
	var se *httprange.StatusError
	if errors.As(err, &se) && (se.StatusCode == http.StatusNotFound || se.StatusCode == http.StatusGone) {
		return nil, nil, &loader.Error{File: s.where(name), Err: ErrShardMissing, Cause: se}
	}
	return f, r, err
}

// checkRemoteNames checks every shard name of a remote index before any
// is requested (see remoteName), in tensor-name order.
func checkRemoteNames(indexName string, idx *index) error {
	for _, tensor := range slices.Sorted(maps.Keys(idx.weightMap)) {
		name := idx.weightMap[tensor]
		if why := remoteName(name); why != "" && name != "" { // "" is shardNames' to report
			return &loader.Error{File: indexName, Tensor: tensor, Err: ErrInsecurePath,
				Detail: fmt.Sprintf("weight_map names %q, %s", name, why)}
		}
	}
	return nil
}

// remoteName checks a shard name of a remote index, and says what is
// wrong with it, or "". The name is escaped before it is requested (see
// remoteShards.url), but servers differ in what they do with a path:
// many decode it (some twice, or until nothing is left to decode), some
// read a backslash as a slash, drop ";params" from a segment, or fold
// look-alike Unicode characters into '.', '/' and '\'. So the name must
// stay inside the index's directory read in every such way: decoded as
// often as it decodes, no encoded '/' or '\', no segment that is ".." or
// "." once its ";params" go, nothing that reads as a URL scheme or a
// drive ("http:", "C:").
func remoteName(name string) string {
	for range 8 {
		switch {
		case strings.ContainsFunc(name, foldsToSyntax):
			return "which holds a character some servers read as a separator, a drive or a scheme"
		case !localRemote(name):
			return "which is not a path inside the index's directory"
		}
		decoded, err := url.PathUnescape(name)
		if err != nil || decoded == name {
			return ""
		}
		if strings.Count(decoded, "/") != strings.Count(name, "/") {
			return "which holds an encoded '/'"
		}
		name = decoded
	}
	return "which is encoded too many times over"
}

// foldsToSyntax reports whether r means something in a path, or turns
// into such a character when a server folds Unicode compatibility forms
// (NFKC) or maps look-alikes: '\', NUL, ':', the fullwidth forms of
// ASCII and the small forms (which fold to ASCII: '．' to '.', '％' to
// '%', '：' to ':'), the one-dot leader, and the slashes and backslashes
// of mathematics.
// No shard name needs any of them.
func foldsToSyntax(r rune) bool {
	switch {
	case r == '\\', r == 0, r == ':':
		return true
	case r >= 0xff01 && r <= 0xff5e, r >= 0xfe50 && r <= 0xfe6f:
		return true
	}
	return strings.ContainsRune("\u2024\u2044\u2215\u2216\u29f5\u29f8\u29f9", r)
}

// localRemote reports whether a name stays inside its directory with
// every segment's ";params" dropped.
func localRemote(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") {
		return false
	}
	for seg := range strings.SplitSeq(name, "/") {
		seg, _, _ = strings.Cut(seg, ";")
		if seg == ".." {
			return false
		}
	}
	return true
}
