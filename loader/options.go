package loader

// Option configures [Open] and [NewReader].
type Option func(*config)

type config struct {
	name      string
	maxHeader int64
	lenient   bool
	pread     bool
}

func newConfig(name string, opts []Option) config {
	c := config{name: name, maxHeader: DefaultMaxHeaderSize}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithMaxHeaderSize sets the largest header length accepted, in bytes
// (default [DefaultMaxHeaderSize], the reference's limit). Raise it for
// checkpoints with millions of tensors; the header is read into memory
// whole, so the limit bounds what a hostile file can make stload allocate.
func WithMaxHeaderSize(n int64) Option {
	return func(c *config) { c.maxHeader = max(n, 0) }
}

// WithLenient accepts what the reference implementation accepts and stload
// by default rejects: duplicate tensor names or metadata keys (the last
// one wins, as in the reference) and tensor entries written as positional
// arrays.
func WithLenient() Option {
	return func(c *config) { c.lenient = true }
}

// WithPread makes [Open] read with pread instead of mapping the file, as
// the reference's backend="pread" does: better on network file systems and
// on machines where a mapping would double memory residency.
func WithPread() Option {
	return func(c *config) { c.pread = true }
}

// WithName sets the name that errors report for a file opened with
// [NewReader] (Open uses the path).
func WithName(name string) Option {
	return func(c *config) { c.name = name }
}
