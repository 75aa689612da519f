// Package cuda is the NVIDIA GPU backend of stload: it registers a
// [github.com/stload/stload/device.Backend] named "cuda" that allocates device
// memory and page-locked (pinned) host memory and copies host buffers to the
// GPU asynchronously through the CUDA driver API.
//
// Everything except this file is built only with the build tag cuda
// (go build -tags cuda), because the package uses cgo and links libcuda.so.1,
// which only a machine with the NVIDIA driver has. Untagged builds contain
// just this package comment and stay cgo-free. Importing the package for its
// side effect registers the backend:
//
//	import _ "github.com/stload/stload/cuda"
//
// The driver is initialised by gorgonia.org/cu in its init function, which
// exits the process when no driver or no GPU is present: start cuda-tagged
// binaries only on GPU hosts.
//
// # Threads and contexts
//
// CUDA driver calls act on the context current on the calling OS thread. Each
// opened device retains the device's primary context (the one the CUDA runtime
// and PyTorch share) and runs one goroutine locked to its OS thread with that
// context current. That goroutine issues the stream work (copies and event
// records) in the order the callers enqueue it, and never blocks on the GPU:
// Copy and Record only hand it a small request and return. Calls that can
// take long (allocation, freeing, waiting for events, synchronous reads) run
// on the caller's goroutine instead, locked to its thread for the duration of
// the call, with the context pushed as the thread's current context and popped
// again afterwards, so a slow cuMemAlloc or cuEventSynchronize never holds up
// the copies of others.
//
// # Errors
//
// Errors name the driver call and the CUresult by name and number, and
// reach callers inside a *device.Error that names the device and the step
// once, for example "device cuda:0: model.safetensors: alloc: 96 GiB for
// 291 tensors: cuMemAlloc 96.0 GiB: CUDA_ERROR_OUT_OF_MEMORY (2): out of
// memory". Running out of device or
// pinned host memory satisfies errors.Is(err, device.ErrOutOfMemory). A
// failed asynchronous copy poisons its stream: the error is returned by
// the next copy, event record, event wait or sync of that stream.
//
// The package exports nothing: the device package is its API. Its tests
// run without a GPU against testdata/fakecuda, a CPU stand-in for
// libcuda.so.1.
package cuda
