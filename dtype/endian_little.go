//go:build 386 || amd64 || arm || arm64 || loong64 || mips64le || mips64p32le || mipsle || ppc64le || riscv || riscv64 || wasm

package dtype

// littleEndian reports whether the machine stores the low byte of a word
// first, as the safetensors format does; the build tags are those of
// encoding/binary's NativeEndian.
const littleEndian = true
