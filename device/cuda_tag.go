//go:build cuda

package device

// cudaTag reports whether the program is built with -tags cuda, which the
// cuda package needs: the advice for a missing GPU backend depends on it.
const cudaTag = true
