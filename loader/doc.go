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
// [Kind] is the one table of error kinds of stload's packages and its
// command: every sentinel of loader, loader/httprange, loader/checkpoint,
// device and dtype carries its kind name.
package loader
