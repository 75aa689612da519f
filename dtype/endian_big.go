//go:build armbe || arm64be || m68k || mips || mips64 || mips64p32 || ppc || ppc64 || s390 || s390x || shbe || sparc || sparc64

package dtype

// littleEndian reports whether the machine stores the low byte of a word
// first, as the safetensors format does; the build tags are those of
// encoding/binary's NativeEndian.
const littleEndian = false
