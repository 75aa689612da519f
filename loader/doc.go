// Package loader reads, validates and writes safetensors files: the
// format, and nothing else. Reading over HTTP is loader/httprange's job,
// sharded checkpoints (index.json) loader/checkpoint's.
//
// A safetensors file is an 8-byte little-endian header length N, N bytes
// of UTF-8 JSON describing each tensor (element type, shape, byte range)
// plus an optional "__metadata__" map of strings, then the tensors' bytes.
// [Open] maps a file read-only and hands out tensor bytes without copying;
// [NewReader] parses the same format through any [io.ReaderAt] with a
// size (an [*os.File], which it maps too, or an httprange.Reader, say),
// the way archive/zip's NewReader does. Both run the reference
// implementation's eleven validation checks in the reference's order, so a
// malformed file fails with the same kind of error (see [Kind]), an
// [*Error] that names the file, tensor and byte offset.
//
// stload is deliberately stricter than the reference in two ways: a name
// given twice in the header (two tensors, or two metadata keys) is
// rejected with [ErrDuplicateKey], and a tensor entry must be a JSON
// object ([ErrEntryNotObject]). These checks run after the reference's, so
// every file the reference rejects is rejected for the same reason;
// [WithLenient] turns them off. Everything else the reference accepts is
// accepted: whitespace around the JSON, unknown fields in an entry,
// "__metadata__": null, tensors that are not aligned.
//
// [Tensor.Slice] implements get_slice: its [Slice.Runs] are the
// contiguous byte ranges of the file a selection covers, generated as
// they are used, which is what a device loader copies. [File.Mapping]
// lends the mapping itself, with a lease that keeps it mapped past Close.
//
// [SaveFile] and the streaming [Writer] ([NewWriter] to any io.Writer,
// [CreateFile] for an atomic write to a file) produce the reference
// writer's exact bytes for the same tensors, with metadata keys sorted.
//
// # Memory
//
// Opening a file reads its header into memory, parses it, and keeps the
// tensors (about 90 bytes each) with their names and the metadata, copied
// out of the header into one string; the header itself is dropped. A File
// holds about 1.3× its header's size for a checkpoint's header (the names
// being a quarter of it), and opening it allocates at most 8× the
// header's size for any header, however it is crafted (many tiny entries,
// long shapes, many metadata keys). The header is read with pread even
// from a mapped file, so that its pages do not stay in the process's
// resident memory. It is at most 100 MB unless [WithMaxHeaderSize] says
// otherwise. Tensor bytes are never read at Open.
//
// [File.Len] and [File.TensorAt] let a program that keeps something for
// each of millions of tensors refer to them by position instead of by a
// copied [Tensor] or a map keyed by name, as package device does: stload
// load of a file peaks at about 3× its header's size, convert at 6–7×
// (see the README).
//
// # Files that change
//
// A mapped file that another process truncates no longer backs the memory
// past its new end, and reading there faults. [File.ReadAt],
// [Slice.Bytes] and [Slice.WriteTo] (even when the fault happens inside
// the writer's Write) turn such a fault into an I/O error naming the file
// and the offset; so does Open while it reads the header. The views that
// [Tensor.Bytes] and [File.Mapping] return are read by the caller, where
// no such guard can be set: reading them after a truncation crashes the
// program. Read files that may change while open through those methods, or
// open them with [WithPread].
//
// Open opens only regular files and fails at once on anything else: a
// named pipe (which would block), a device, a directory (open sharded
// checkpoints with loader/checkpoint's Open).
//
// # Errors
//
// [Kind] is the one table of error kinds of stload's packages and its
// command: every sentinel of loader, loader/httprange, loader/checkpoint,
// device and dtype carries its kind name.
package loader
