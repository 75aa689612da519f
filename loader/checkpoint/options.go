package checkpoint

import (
	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/httprange"
)

// Option configures [Open], [Save] and [WriteFile]; each uses the options
// that concern it.
type Option func(*config)

type config struct {
	loaderOpts []loader.Option
	httpOpts   []httprange.Option
	lenient    bool
	maxShard   int64
	prefix     string
	metadata   map[string]string

	// rename is os.Rename unless a test makes a chosen rename fail.
	rename func(oldpath, newpath string) error
	// hook, set only by tests, is called before and after every
	// filesystem step of a save (see saver.step), so that the kill
	// harness can stop the process at any of them.
	hook func(point string)

	// Set by WithDownloadFallback and WithDownloadProgress (remote.go).
	downloadDir string
	progress    func(name string, done, total int64)
}

func newConfig(opts []Option) config {
	c := config{maxShard: DefaultMaxShardSize, prefix: "model"}
	for _, o := range opts {
		o(&c)
	}
	if c.lenient {
		c.loaderOpts = append(c.loaderOpts, loader.WithLenient())
	}
	return c
}

// WithLoaderOptions sets the options [Open] opens every file with
// ([loader.WithPread], say).
func WithLoaderOptions(opts ...loader.Option) Option {
	return func(c *config) { c.loaderOpts = append(c.loaderOpts, opts...) }
}

// WithHTTPOptions sets the options [Open] reads a URL's files with
// (credentials with [httprange.WithHeader], say). The files of one
// checkpoint share one client, and so its connections, unless these
// options give one.
func WithHTTPOptions(opts ...httprange.Option) Option {
	return func(c *config) { c.httpOpts = append(c.httpOpts, opts...) }
}

// WithLenient makes [Open] accept what the reference implementation and
// transformers accept and stload by default rejects: in every file, what
// [loader.WithLenient] accepts; in an index, a metadata.total_size that
// disagrees with the shards (transformers never reads it, and some
// published indexes got it wrong) and a tensor listed twice in weight_map
// (the last entry wins).
func WithLenient() Option {
	return func(c *config) { c.lenient = true }
}

// WithMaxShardSize sets the most bytes of tensor data per shard that
// [Save] writes (default [DefaultMaxShardSize]); a tensor larger than
// this gets a shard of its own.
func WithMaxShardSize(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.maxShard = n
		}
	}
}

// WithPrefix sets how [Save] names the files:
// PREFIX-00001-of-00003.safetensors and PREFIX.safetensors.index.json, or
// PREFIX.safetensors alone when one shard holds everything. The default
// (and what "" gives) is "model"; a prefix must be a plain file name
// ([ErrInsecurePath]).
func WithPrefix(prefix string) Option {
	return func(c *config) {
		if prefix != "" {
			c.prefix = prefix
		}
	}
}

// WithMetadata sets the __metadata__ [Save] writes in every shard
// (transformers writes {"format": "pt"}); by default it writes none.
func WithMetadata(m map[string]string) Option {
	return func(c *config) { c.metadata = m }
}
