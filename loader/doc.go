// Package loader reads, validates and writes safetensors files.
//
// A safetensors file is an 8-byte little-endian header length N, N bytes
// of UTF-8 JSON describing each tensor (element type, shape, byte range)
// plus an optional "__metadata__" map of strings, then the tensors' bytes.
// [Open] maps a file read-only and hands out tensor bytes without copying;
// [NewReader] parses the same format through an [io.ReaderAt] for file
// systems where mapping is slow or unavailable. Both run the reference
// implementation's eleven validation checks in the reference's order, so a
// malformed file fails with the same kind of error (see [Kind]), wrapped
// in an [*Error] that names the file, tensor and byte offset.
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
// [Save], [SaveFile] and the streaming [Writer] produce the reference
// writer's exact bytes for the same tensors, with metadata keys sorted.
// [File.Slice] implements get_slice: it returns the contiguous byte ranges
// a selection covers, which is what a device loader copies.
package loader
