package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/httprange"
)

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
	base := *u
	base.Path, base.RawPath, base.Fragment, base.RawFragment = path.Dir(u.Path), "", "", ""
	return assemble(ctx, name, idx, remoteShards{base: &base}, cfg)
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

// openRemote opens the safetensors file at rawURL.
func openRemote(ctx context.Context, rawURL string, cfg *config) (*loader.File, io.Closer, error) {
	r, err := httprange.Open(ctx, rawURL, cfg.httpOpts...)
	if err != nil {
		return nil, nil, err
	}
	f, err := loader.NewReader(r, r.Size(), cfg.loaderOpts...)
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	return f, r, nil
}

// fetchIndex reads a whole index file, of at most maxIndexSize bytes,
// through an httprange.Reader, which brings retries and change detection
// with it.
func fetchIndex(ctx context.Context, rawURL string, cfg *config) ([]byte, error) {
	r, err := httprange.Open(ctx, rawURL, cfg.httpOpts...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if r.Size() > maxIndexSize {
		return nil, &loader.Error{File: r.Name(), Offset: maxIndexSize, Err: ErrInvalidIndex,
			Detail: fmt.Sprintf("the index is larger than the limit of %d bytes", maxIndexSize)}
	}
	b := make([]byte, r.Size())
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, err
	}
	return b, nil
}

// remoteShards opens the shards of an index from its server.
type remoteShards struct {
	base *url.URL // the index's URL, less its last path element
}

func (s remoteShards) where(name string) string {
	return httprange.Redact(s.base.JoinPath(name).String())
}

func (s remoteShards) open(ctx context.Context, name string, cfg *config) (*loader.File, io.Closer, error) {
	f, r, err := openRemote(ctx, s.base.JoinPath(name).String(), cfg)
	var se *httprange.StatusError
	if errors.As(err, &se) && (se.StatusCode == http.StatusNotFound || se.StatusCode == http.StatusGone) {
		return nil, nil, &loader.Error{File: s.where(name), Err: ErrShardMissing, Cause: se}
	}
	return f, r, err
}
