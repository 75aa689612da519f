//go:build cuda

package cuda

// The few driver calls gorgonia.org/cu v0.9.6 does not wrap, or wraps in a way
// that costs an allocation per call. All of this package's cgo is here.

/*
#cgo LDFLAGS: -lcuda
#cgo linux CFLAGS: -I/usr/local/cuda/include
#cgo linux LDFLAGS: -L/usr/local/cuda/lib64/stubs
#include <cuda.h>
#include <string.h>

// stl_memcpy2d_htod_async issues a pitched host-to-device copy. gorgonia's
// Memcpy2DAsync builds its CUDA_MEMCPY2D on the Go heap for every call; here
// it lives on the C stack, so the hot path allocates nothing.
static CUresult stl_memcpy2d_htod_async(CUdeviceptr dst, size_t dpitch,
		const void *src, size_t spitch, size_t width, size_t height,
		CUstream stream) {
	CUDA_MEMCPY2D p;
	memset(&p, 0, sizeof p);
	p.srcMemoryType = CU_MEMORYTYPE_HOST;
	p.srcHost = src;
	p.srcPitch = spitch;
	p.dstMemoryType = CU_MEMORYTYPE_DEVICE;
	p.dstDevice = dst;
	p.dstPitch = dpitch;
	p.WidthInBytes = width;
	p.Height = height;
	return cuMemcpy2DAsync(&p, stream);
}

// stl_error_name and stl_error_string return NULL for codes the driver does
// not know.
static const char *stl_error_name(CUresult r) {
	const char *s = NULL;
	if (cuGetErrorName(r, &s) != CUDA_SUCCESS) return NULL;
	return s;
}

static const char *stl_error_string(CUresult r) {
	const char *s = NULL;
	if (cuGetErrorString(r, &s) != CUDA_SUCCESS) return NULL;
	return s;
}
*/
import "C"

import (
	"unsafe"

	"gorgonia.org/cu"
)

// hostAllocFlags are the flags of cuMemHostAlloc (CU_MEMHOSTALLOC_*).
type hostAllocFlags uint

// Flags for accel.allocHostFlags.
const (
	// hostAllocPortable makes the memory pinned for every CUDA context, not
	// only the allocating one. AllocHost always sets it: it costs nothing,
	// and a staging ring may then feed several devices.
	hostAllocPortable hostAllocFlags = C.CU_MEMHOSTALLOC_PORTABLE
	// hostAllocDeviceMap maps the memory into the device address space
	// (implied on 64-bit systems with unified addressing).
	hostAllocDeviceMap hostAllocFlags = C.CU_MEMHOSTALLOC_DEVICEMAP
	// hostAllocWriteCombined allocates write-combined memory: on some
	// systems it crosses PCIe faster, but CPU reads from it are very slow,
	// so only use it for buffers the CPU writes and never reads.
	hostAllocWriteCombined hostAllocFlags = C.CU_MEMHOSTALLOC_WRITECOMBINED
)

// hostRegisterFlags are the flags of cuMemHostRegister (CU_MEMHOSTREGISTER_*).
type hostRegisterFlags uint

// Flags for accel.registerHost.
const (
	// hostRegisterPortable makes the range pinned for every CUDA context.
	hostRegisterPortable hostRegisterFlags = C.CU_MEMHOSTREGISTER_PORTABLE
	// hostRegisterDeviceMap maps the range into the device address space.
	hostRegisterDeviceMap hostRegisterFlags = C.CU_MEMHOSTREGISTER_DEVICEMAP
	// hostRegisterReadOnly registers memory the device only reads. It is
	// required for a read-only (PROT_READ) mmap of a file, and needs
	// attrReadOnlyHostRegisterSupported; otherwise the driver reports
	// resNotSupported.
	hostRegisterReadOnly hostRegisterFlags = C.CU_MEMHOSTREGISTER_READ_ONLY
)

// attribute is a device attribute (CUdevice_attribute) for
// accel.attribute. Any CU_DEVICE_ATTRIBUTE_* value may be converted;
// these are the ones relevant to loading.
type attribute int

// Device attributes relevant to host-to-device loading.
const (
	attrMaxPitch                          attribute = C.CU_DEVICE_ATTRIBUTE_MAX_PITCH // largest pitch of a 2-D copy
	attrIntegrated                        attribute = C.CU_DEVICE_ATTRIBUTE_INTEGRATED
	attrPCIBusID                          attribute = C.CU_DEVICE_ATTRIBUTE_PCI_BUS_ID
	attrPCIDeviceID                       attribute = C.CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID
	attrPCIDomainID                       attribute = C.CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID
	attrAsyncEngineCount                  attribute = C.CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT // copy engines
	attrUnifiedAddressing                 attribute = C.CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING
	attrHostRegisterSupported             attribute = C.CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED
	attrReadOnlyHostRegisterSupported     attribute = C.CU_DEVICE_ATTRIBUTE_READ_ONLY_HOST_REGISTER_SUPPORTED
	attrPageableMemoryAccessUsesHostPages attribute = C.CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES
	attrGPUDirectRDMASupported            attribute = C.CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_SUPPORTED
)

// check converts a CUresult into nil or a cuResult.
func check(r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	return cuResult(r)
}

// memHostAlloc is cuMemHostAlloc. It needs a current context.
func memHostAlloc(n int, flags hostAllocFlags) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	err := check(C.cuMemHostAlloc(&p, C.size_t(n), C.uint(flags)))
	return p, err
}

// memFreeHost is cuMemFreeHost.
func memFreeHost(p unsafe.Pointer) error {
	return check(C.cuMemFreeHost(p))
}

// memHostRegister is cuMemHostRegister (cuMemHostRegister_v2). It needs a
// current context.
func memHostRegister(p unsafe.Pointer, n int, flags hostRegisterFlags) error {
	return check(C.cuMemHostRegister(p, C.size_t(n), C.uint(flags)))
}

// memHostUnregister is cuMemHostUnregister.
func memHostUnregister(p unsafe.Pointer) error {
	return check(C.cuMemHostUnregister(p))
}

// memHostGetFlags is cuMemHostGetFlags. It fails with resInvalidValue for
// memory that is not page-locked by CUDA, which makes it a pinnedness test.
func memHostGetFlags(p unsafe.Pointer) (uint, error) {
	var f C.uint
	err := check(C.cuMemHostGetFlags(&f, p))
	return uint(f), err
}

// rawStream returns the CUstream handle inside a gorgonia stream. cu.Stream.C
// is exported but returns gorgonia's own cgo type, which another package
// can only convert through unsafe.Pointer.
func rawStream(s cu.Stream) C.CUstream {
	return C.CUstream(unsafe.Pointer(s.C()))
}

// memcpy2DHtoDAsync issues a pitched copy of height rows of width bytes
// from host src (rows spitch apart) to device dst (rows dpitch apart).
func memcpy2DHtoDAsync(dst cu.DevicePtr, dpitch int64, src unsafe.Pointer, spitch, width, height int64, s cu.Stream) error {
	return check(C.stl_memcpy2d_htod_async(C.CUdeviceptr(dst), C.size_t(dpitch),
		src, C.size_t(spitch), C.size_t(width), C.size_t(height), rawStream(s)))
}

// driverErrorName asks the driver for the name of r; "" if it has none.
func driverErrorName(r cuResult) string {
	if s := C.stl_error_name(C.CUresult(r)); s != nil {
		return C.GoString(s)
	}
	return ""
}

// driverErrorString asks the driver to describe r; "" if it cannot.
func driverErrorString(r cuResult) string {
	if s := C.stl_error_string(C.CUresult(r)); s != nil {
		return C.GoString(s)
	}
	return ""
}
