package loader

// defaultMaxHeaderSize is the reference's cap on the header length: larger
// headers are refused before anything is allocated for them.
const defaultMaxHeaderSize = 100_000_000

// Option configures [Open] and [NewReader].
type Option func(*config)

type config struct {
	maxHeader int64
	lenient   bool
	pread     bool
}

func newConfig(opts []Option) config {
	c := config{maxHeader: defaultMaxHeaderSize}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithMaxHeaderSize sets the largest header length accepted, in bytes
// (default 100,000,000, the reference's limit). Raise it for checkpoints
// with millions of tensors; the header is read into memory whole, and
// opening a file allocates at most 8 times its header's size, so the
// limit bounds what a hostile file can make stload allocate.
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

// WithPread makes [Open] (and [NewReader] given an [*os.File]) read with
// pread instead of mapping the file, as the reference's backend="pread"
// does: better on network file systems and on machines where a mapping
// would double memory residency.
func WithPread() Option {
	return func(c *config) { c.pread = true }
}
