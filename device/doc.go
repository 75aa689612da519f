// Package device places the tensors of safetensors files on devices: on
// the CPU, or on accelerators such as NVIDIA GPUs through a registered
// [Backend].
//
//	set, err := device.Load(ctx, device.Files(f), device.On(device.GPU(0)))
//
// [Load] takes a [Source]: files opened with package loader ([Files]), or
// a *checkpoint.Checkpoint of package loader/checkpoint, which opens a
// file, a sharded checkpoint or a URL alike. [Only] and [Select] load a
// subset of the tensors.
//
// # GPUs
//
// GPUs come from the cuda package, which a program imports for its side
// effect (it registers the "cuda" backend) and which is built only with
// the build tag cuda:
//
//	import _ "github.com/stload/stload/cuda"
//
//	go build -tags cuda ./...
//
// Without the import, or without the tag, asking for a GPU fails with
// [ErrNoBackend], whose message says which of the two is missing. Tests
// and examples run without a GPU on the simulated backend of package
// device/devicetest; package device/dense turns CPU tensors into gorgonia
// tensors.
//
// # Devices
//
// Users name devices as "cpu", "cuda" (cuda:0), "cuda:N" or a bare index
// "N" ([ParseDevice]); "auto" means every visible GPU, else the CPU
// ([ParseDevices], [OnAuto]).
//
// # Placement
//
// A load first computes a [Plan], then carries it out ([Placer]). Each
// tensor is placed by the first rule that matches its name ([Map]: a
// device; [Shard]: split along a dimension across devices; [Replicate]: a
// whole copy on each of several devices), else on the load's target
// ([On]): one device, or several balanced by free memory with the tensors
// of a layer kept together ([OnAuto] documents the layer rule). Patterns
// are path.Match globs over the whole name. Shards follow
// torch.tensor_split for uneven sizes; each device receives only its part,
// straight from the file's bytes, never the whole tensor.
//
// Per file and device there is one allocation: tensors are packed into it
// in file order at their element size's alignment (or [WithAlign]), so
// runs of consecutive tensors are contiguous there as in the file, and the
// plan coalesces their copies into one. Tensors are views (offset,
// length) into the allocation.
//
// # Pipeline
//
// Copies to accelerators go through a small ring of pinned staging
// buffers (by default 32 of 8 MiB; [WithChunks], [WithChunkSize]) of the
// backend's portable pinned memory, shared by all devices, so pinned host
// memory is bounded by the ring whatever the model size and device count.
// A background goroutine pins the first buffer as the load starts and one
// more whenever a reader waits for one, so the first chunk flows after one
// buffer's pinning ([Tuning] selects other designs). A feeder goroutine
// allocates each file's device memory and cuts the plan into chunks of at
// most one buffer (several small tensors per chunk, large tensors over
// several chunks, a strided split as bands of whole rows). R reader
// goroutines ([WithReaders]; by default GOMAXPROCS−2, between 2 and 16,
// when staging, which leaves CPUs to the goroutines that issue and retire
// copies; min(16, GOMAXPROCS) for the CPU) fill buffers from the file with
// [loader.File.ReadAt] (a copy from the mapping, or pread for files opened
// with [loader.WithPread]), converting dtypes on the way when asked
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
// crosses host memory once instead of three times. Page-locking is slow
// and does not scale with threads, so on the hosts measured so far
// (bench/RESULTS.md) it loads slower than staging; it stays an option for
// hosts whose memory bandwidth, not page-locking, is the limit.
//
// # Cold files
//
// A file whose pages are not all in the page cache (64 sampled with
// mincore) is cold: each run of a chunk that is contiguous in the file and
// mostly uncached is read with O_DIRECT straight into the staging buffer,
// split into 2 MiB requests read in parallel, so bytes cross host memory
// twice (storage to buffer, buffer to device) instead of three times, and
// the page cache is not filled with a model about to live on the device.
// Chunks give each such run whole pages of the buffer of its own. Cached
// runs, converted tensors and CPU placements keep the page cache path; a
// file system that refuses O_DIRECT falls back to it whole.
// Tuning.NoDirectIO turns it off.
//
// # Faults
//
// A file truncated by another process after it was mapped raises SIGBUS
// when its lost pages are read. The readers, the conversions and
// [Set.Verify] turn that into an error naming the file and tensor (kind
// "IoError"), as package loader does for its own reads; the program goes
// on. CPU tensors that are views of such a file are not protected: touched
// by the caller, they fault (load with [WithCopy] to avoid views). A
// backend's out-of-memory error, from a device or pinned allocation, is
// [ErrOutOfMemory]. A load that fails returns no [Set] and frees
// everything it allocated.
//
// # Instruments
//
// [WithTimeline] records per reader, stream and chunk when each waited,
// read, issued copies and saw them complete; [Timeline] writes it as JSON,
// summarises where the time went with a verdict, and draws it as an SVG
// Gantt chart.
//
// # Several GPUs
//
// [Replicate] places whole copies of a tensor on several devices; its
// bytes are read from the file once and each staged chunk is copied to
// every device from the same buffer, as the parts of a 2-D split are. On a
// multi-socket node the design to build next is one ring per NUMA node,
// with readers bound to that node's CPUs feeding the GPUs attached to it,
// and replicas copied once over the host link, then peer to peer over
// NVLink (cuMemcpyPeerAsync) rather than once per GPU over PCIe; see
// bench/RESULTS.md.
//
// A context cancels a load: readers stop, copies in flight are waited
// for, everything allocated is freed, and the error wraps ctx.Err().
// Progress ([WithProgress]) is an atomic byte counter sampled on a ticker.
//
// # Results
//
// A [Set] holds the loaded tensors by name (and shard), their device
// memory until [Set.Close], per-device [Stats], and [Set.Verify], which
// reads every tensor back and compares it with the file.
//
// # Memory
//
// A plan and the Set it becomes hold 48 bytes per tensor placed (and per
// shard): numbers that point into the files' tables for names, shapes and
// sources ([loader.File.TensorAt]). Names are never copied. A map from
// name to position (about 45 bytes a tensor, keys shared with the files)
// is made only when needed: for a load of several files, to refuse a name
// two of them give, and otherwise on the first lookup by name. The copy work, a few pieces per file since
// consecutive tensors coalesce, goes with the Plan after the load. So a
// load adds about half its files' headers' size to the open files: on a
// header of 99 MB and 1.19 million tensors, stload load peaks at 3.2× the
// header's size in resident memory (load --verify 4.2×), validate at 2.4×.
// The Set makes a [Tensor] (about 230 bytes) only when asked for one.
package device
