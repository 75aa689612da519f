// Package device places the tensors of safetensors files on devices: on
// the CPU, or on accelerators such as NVIDIA GPUs through a registered
// [Backend] (the cuda package registers "cuda" in builds with -tags cuda;
// without it only the CPU is available, and asking for a GPU fails with
// [ErrNoBackend] saying to rebuild with -tags cuda).
//
// # Devices
//
// Users name devices as "cpu", "cuda" (cuda:0), "cuda:N" or a bare index
// "N" ([ParseDevice]); "auto" means every visible GPU, else the CPU
// ([Auto], [OnAuto]).
//
// # Placement
//
// A load first computes a [Plan], then carries it out. Each tensor is
// placed by the first rule that matches its name ([Map]: a device;
// [Shard]: split along a dimension across devices), else on the load's
// target ([To]): one device, or several balanced by free memory with the
// tensors of a layer kept together ([OnAuto] documents the layer rule).
// Patterns are path.Match globs over the whole name. Shards follow
// torch.tensor_split for uneven sizes; each device receives only its part,
// straight from the file's bytes, never the whole tensor.
//
// Per file and device there is one allocation: tensors are packed into it
// in file order at their element size's alignment (or [WithAlign]), so
// runs of consecutive tensors are contiguous there as in the file, and the
// plan coalesces their copies into one [Piece]. Tensors are views
// (offset, length) into the allocation.
//
// # Pipeline
//
// Copies to accelerators go through a small ring of pinned staging
// buffers (by default 32 of 8 MiB; [WithChunks], [WithChunkSize]),
// allocated on first need from the backend's portable pinned memory and
// shared by all devices, so pinned host memory is bounded by the ring
// whatever the model size and device count. A feeder goroutine allocates
// each file's device memory and cuts the plan into chunks of at most one
// buffer (several small tensors per chunk, large tensors over several
// chunks, a strided split as bands of whole rows). R reader goroutines
// ([WithReaders], default min(16, GOMAXPROCS)) fill buffers from the file
// with [loader.File.ReadAt] (a copy from the mapping, or pread for files
// opened with [loader.WithPread]), converting dtypes on the way when asked
// ([WithDType]). The reader then enqueues the chunk's copies on one of the
// device's streams ([WithStreams], default 2, taken in turn): a contiguous
// copy per run, or a 2-D copy (rows of the shard's width, source pitch the
// full row) for a split of an inner dimension, one per device the chunk
// feeds; it records one Event per device and hands the buffer to a reaper
// goroutine, which waits for all of the chunk's events before the buffer
// is reused. Nothing is synchronised or allocated per tensor, and, once
// the pipeline is warm, nothing is allocated per chunk either. CPU
// placement reads straight into host memory, or, for an unconverted
// tensor of a memory-mapped file, is a zero-copy view of the mapping. A
// load holds a lease on every file's mapping ([loader.File.Mapping]) while
// it reads, and a [Set] holds one on the files it has views of until
// [Set.Close], so closing a file meanwhile never unmaps bytes in use.
//
// [WithRegister] skips staging: windows of the file's mapping are
// page-locked in place ([Registrar]) while their copies run, so each byte
// crosses host memory once instead of three times. Measured on an H200 it
// is slower today (about 10 GB/s against 31), because page-locking runs at
// about 11 GB/s and does not scale with threads; it stays an option for
// hosts whose memory bandwidth, not page-locking, is the limit.
//
// A context cancels a load: readers stop, copies in flight are waited
// for, everything allocated is freed, and the error wraps ctx.Err().
// Progress ([WithProgress]) is an atomic byte counter sampled on a ticker.
//
// # Results
//
// A [Set] holds the loaded tensors by name (and shard), their device
// memory until [Set.Close], per-device [Stats], and [Set.Verify], which
// reads every tensor back and compares it with the file. CPU tensors are
// available as gorgonia tensors without copying ([Tensor.Dense]).
package device
