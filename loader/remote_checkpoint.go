package loader

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
)

// OpenCheckpointURL opens a checkpoint served over HTTP, as
// [OpenCheckpoint] does from a disk: from the URL of an index file (a
// path ending in ".json"), whose shards are fetched from the same
// directory of the server (keeping the index URL's query), or from the
// URL of a single safetensors file. Every shard is opened with [OpenURL],
// h and opts, and the index is checked against the shards' headers with
// the same rules and errors, a shard the server answers with 404 or 410
// being [ErrShardMissing]. A server cannot list a directory, so a
// directory URL is not accepted.
//
// ctx bounds the life of the checkpoint's readers, as for
// [NewHTTPReaderAt].
func OpenCheckpointURL(ctx context.Context, rawURL string, h *HTTPOptions, opts ...Option) (*Checkpoint, error) {
	name, err := checkURL(rawURL)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(rawURL) // checked by checkURL
	if !strings.HasSuffix(u.Path, ".json") {
		f, err := OpenURL(ctx, rawURL, h, opts...)
		if err != nil {
			return nil, err
		}
		return single(f), nil
	}
	cfg := newConfig(name, opts)
	b, err := fetchIndex(ctx, rawURL, h, cfg.maxHeader)
	if err != nil {
		return nil, err
	}
	idx, perr := parseIndex(b, cfg.lenient)
	if perr != nil {
		perr.File = name
		return nil, perr
	}
	base := *u
	base.Path, base.RawPath, base.Fragment, base.RawFragment = path.Dir(u.Path), "", "", ""
	return assemble(name, idx, &remoteShards{ctx: ctx, base: &base, h: h}, opts, cfg.lenient)
}

// fetchIndex reads a whole index file, of at most limit bytes, through
// an HTTPReaderAt, which brings retries and change detection with it.
func fetchIndex(ctx context.Context, rawURL string, h *HTTPOptions, limit int64) ([]byte, error) {
	// The index's first bytes are JSON, which read as a length prefix
	// give a number far beyond any limit, so nothing is prefetched.
	r, err := newHTTPReaderAt(ctx, rawURL, h, 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if r.size > limit {
		return nil, &Error{File: r.name, Offset: limit, Err: ErrInvalidIndex,
			Detail: fmt.Sprintf("the index is larger than the limit of %d bytes (see WithMaxHeaderSize)", limit)}
	}
	b := make([]byte, r.size)
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, err
	}
	return b, nil
}

// remoteShards opens the shards of an index from its server.
type remoteShards struct {
	ctx  context.Context
	base *url.URL // the index's URL, less its last path element
	h    *HTTPOptions
}

func (s *remoteShards) url(name string) string { return s.base.JoinPath(name).String() }

func (s *remoteShards) where(name string) string {
	u := s.base.JoinPath(name)
	return redact(u)
}

func (s *remoteShards) open(name string, opts []Option) (*File, error) {
	where := s.where(name)
	f, err := OpenURL(s.ctx, s.url(name), s.h, append(slices.Clone(opts), WithName(where))...)
	var e *Error
	var he *HTTPError
	if errors.As(err, &e) && errors.As(err, &he) &&
		(he.StatusCode == http.StatusNotFound || he.StatusCode == http.StatusGone) {
		return nil, &Error{File: where, Offset: -1, Err: ErrShardMissing, Cause: he}
	}
	return f, err
}
