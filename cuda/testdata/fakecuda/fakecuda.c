// fakecuda.c: a CPU-only stand-in for the CUDA driver (libcuda.so.1) that
// implements just the calls package cuda makes, so its tests can run on a
// machine without a GPU. Build and use it with run.sh in this directory.
//
// "Device memory" is host memory. Each stream is a thread that performs its
// copies later, after a random delay, so a buffer reused before its event
// completes shows up as corrupted data, as on a real GPU. Calls that need a
// context fail with CUDA_ERROR_INVALID_CONTEXT unless the primary context is
// current on the calling thread, which checks the package's thread handling.
// Only the symbols the package calls exist: run without LD_BIND_NOW.
// FAKECUDA_DELAY_US sets the largest random delay before a copy (300 µs).
// FAKECUDA_OOM_ALLOC=N makes every cuMemAlloc of N bytes or more fail with
// CUDA_ERROR_OUT_OF_MEMORY whatever cuMemGetInfo says (memory taken by
// another process between the two), and FAKECUDA_OOM_HOST=N every
// cuMemHostAlloc of N bytes or more; both are read at each call, so that
// a test can set them for a while.
//
// Not a driver model: no real DMA, no implicit synchronisation rules beyond
// the ones noted, and limits (80 GiB of "device" memory) are made up.
#include <cuda.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOTAL_MEM (80ull << 30)
#define CTX_OVERHEAD (512ull << 20)

struct CUctx_st { int refs; };
static struct CUctx_st primary;
static __thread CUcontext current;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER; // guards the tables
static unsigned long long used;                          // device bytes allocated

#define NEED_CTX() do { if (current != &primary || primary.refs <= 0) return CUDA_ERROR_INVALID_CONTEXT; } while (0)

// ---- tables of allocations -------------------------------------------------
struct range { uintptr_t p; size_t n; unsigned flags; int registered; };
static struct range *dev, *host;
static int ndev, nhost, capdev, caphost;

static void add(struct range **t, int *n, int *cap, struct range r) {
	if (*n == *cap) { *cap = *cap ? 2 * *cap : 64; *t = realloc(*t, *cap * sizeof **t); }
	(*t)[(*n)++] = r;
}
static int find(struct range *t, int n, uintptr_t p, size_t len) { // range holding [p, p+len)
	for (int i = 0; i < n; i++)
		if (p >= t[i].p && p - t[i].p <= t[i].n && len <= t[i].n - (p - t[i].p)) return i;
	return -1;
}
static int findstart(struct range *t, int n, uintptr_t p) {
	for (int i = 0; i < n; i++) if (t[i].p == p) return i;
	return -1;
}
static void del(struct range *t, int *n, int i) { t[i] = t[--*n]; }
static int pinned(const void *p, size_t n) {
	pthread_mutex_lock(&mu);
	int ok = find(host, nhost, (uintptr_t)p, n) >= 0;
	pthread_mutex_unlock(&mu);
	return ok;
}

// ---- streams and events ------------------------------------------------------
struct task { struct task *next; char *dst; const char *src; size_t w, h, dp, sp; };
struct CUstream_st {
	pthread_mutex_t mu; pthread_cond_t cv;
	struct task *head, *tail;
	unsigned long long enq, done; int dead;
	pthread_t th; unsigned seed;
};
struct CUevent_st { CUstream s; unsigned long long ticket; };
static int max_delay_us = 300; // FAKECUDA_DELAY_US overrides it; 0 for none

static void *stream_main(void *arg) {
	CUstream s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->head && !s->dead) pthread_cond_wait(&s->cv, &s->mu);
		if (!s->head) break;
		struct task *t = s->head;
		pthread_mutex_unlock(&s->mu);
		if (max_delay_us > 0) usleep(rand_r(&s->seed) % max_delay_us); // the "DMA" starts later
		for (size_t r = 0; r < t->h; r++) memcpy(t->dst + r * t->dp, t->src + r * t->sp, t->w);
		pthread_mutex_lock(&s->mu);
		s->head = t->next;
		if (!s->head) s->tail = NULL;
		s->done++;
		free(t);
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static void wait_ticket(CUstream s, unsigned long long ticket) {
	pthread_mutex_lock(&s->mu);
	while (s->done < ticket) pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

static CUresult enqueue(CUstream s, void *dst, const void *src, size_t w, size_t h, size_t dp, size_t sp) {
	if (!s) return CUDA_ERROR_INVALID_HANDLE; // the package never uses the NULL stream
	if (!pinned(src, h ? (h - 1) * sp + w : 0)) {
		// Pageable source: the driver stages it before returning.
		pthread_mutex_lock(&s->mu);
		unsigned long long t = s->enq;
		pthread_mutex_unlock(&s->mu);
		wait_ticket(s, t);
		for (size_t r = 0; r < h; r++) memcpy((char *)dst + r * dp, (const char *)src + r * sp, w);
		return CUDA_SUCCESS;
	}
	struct task *t = calloc(1, sizeof *t);
	*t = (struct task){NULL, dst, src, w, h, dp, sp};
	pthread_mutex_lock(&s->mu);
	if (s->dead) { pthread_mutex_unlock(&s->mu); free(t); return CUDA_ERROR_INVALID_HANDLE; }
	if (s->tail) s->tail->next = t; else s->head = t;
	s->tail = t;
	s->enq++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return CUDA_SUCCESS;
}

// ---- the API -----------------------------------------------------------------
CUresult cuInit(unsigned int flags) {
	const char *d = getenv("FAKECUDA_DELAY_US");
	if (d) max_delay_us = atoi(d);
	return flags ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
}
CUresult cuDriverGetVersion(int *v) { *v = 12080; return CUDA_SUCCESS; }
CUresult cuDeviceGetCount(int *n) { *n = 1; return CUDA_SUCCESS; }
CUresult cuDeviceGet(CUdevice *d, int ordinal) {
	if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
	*d = 0;
	return CUDA_SUCCESS;
}
CUresult cuDeviceGetName(char *name, int len, CUdevice d) {
	if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
	strncpy(name, "Fake CUDA Device", len);
	return CUDA_SUCCESS;
}
CUresult cuDeviceGetAttribute(int *v, CUdevice_attribute a, CUdevice d) {
	if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
	switch (a) {
	case CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT: *v = 2; break;
	case CU_DEVICE_ATTRIBUTE_MAX_PITCH: *v = 2147483647; break;
	default: *v = 1;
	}
	return CUDA_SUCCESS;
}
CUresult cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d) {
	if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
	pthread_mutex_lock(&mu);
	primary.refs++;
	pthread_mutex_unlock(&mu);
	*c = &primary;
	return CUDA_SUCCESS;
}
CUresult cuDevicePrimaryCtxRelease(CUdevice d) {
	if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
	pthread_mutex_lock(&mu);
	CUresult r = primary.refs > 0 ? (primary.refs--, CUDA_SUCCESS) : CUDA_ERROR_INVALID_CONTEXT;
	pthread_mutex_unlock(&mu);
	return r;
}
CUresult cuCtxSetCurrent(CUcontext c) {
	if (c && c != &primary) return CUDA_ERROR_INVALID_CONTEXT;
	current = c;
	return CUDA_SUCCESS;
}
CUresult cuCtxGetCurrent(CUcontext *c) { *c = current; return CUDA_SUCCESS; }
// The context stack, one deep: the benchmark harness pushes the primary
// context on a locked thread and pops it when done.
static __thread CUcontext pushed;
CUresult cuCtxPushCurrent(CUcontext c) {
	if (c != &primary) return CUDA_ERROR_INVALID_CONTEXT;
	pushed = current;
	current = c;
	return CUDA_SUCCESS;
}
CUresult cuCtxPopCurrent(CUcontext *c) {
	if (!current) return CUDA_ERROR_INVALID_CONTEXT;
	if (c) *c = current;
	current = pushed;
	pushed = NULL;
	return CUDA_SUCCESS;
}

CUresult cuMemGetInfo(size_t *free, size_t *total) {
	NEED_CTX();
	pthread_mutex_lock(&mu);
	*total = TOTAL_MEM;
	*free = TOTAL_MEM - CTX_OVERHEAD - used;
	pthread_mutex_unlock(&mu);
	return CUDA_SUCCESS;
}
// oom reports whether the environment variable name asks allocations of
// n bytes to fail as out of memory.
static int oom(const char *name, size_t n) {
	const char *v = getenv(name);
	return v && *v && n >= strtoull(v, NULL, 10);
}

CUresult cuMemAlloc(CUdeviceptr *p, size_t n) {
	NEED_CTX();
	if (n == 0) return CUDA_ERROR_INVALID_VALUE;
	if (oom("FAKECUDA_OOM_ALLOC", n)) return CUDA_ERROR_OUT_OF_MEMORY;
	pthread_mutex_lock(&mu);
	if (used + CTX_OVERHEAD + n > TOTAL_MEM) { pthread_mutex_unlock(&mu); return CUDA_ERROR_OUT_OF_MEMORY; }
	void *q = NULL;
	if (posix_memalign(&q, 512, n)) { pthread_mutex_unlock(&mu); return CUDA_ERROR_OUT_OF_MEMORY; }
	used += n;
	add(&dev, &ndev, &capdev, (struct range){(uintptr_t)q, n, 0, 0});
	pthread_mutex_unlock(&mu);
	*p = (CUdeviceptr)q;
	return CUDA_SUCCESS;
}
CUresult cuMemFree(CUdeviceptr p) {
	NEED_CTX();
	pthread_mutex_lock(&mu);
	int i = findstart(dev, ndev, p);
	if (i < 0) { pthread_mutex_unlock(&mu); return CUDA_ERROR_INVALID_VALUE; }
	used -= dev[i].n;
	del(dev, &ndev, i);
	pthread_mutex_unlock(&mu);
	free((void *)p);
	return CUDA_SUCCESS;
}
static int devrange(uintptr_t p, size_t n) {
	pthread_mutex_lock(&mu);
	int ok = find(dev, ndev, p, n) >= 0;
	pthread_mutex_unlock(&mu);
	return ok;
}
CUresult cuMemcpyDtoH(void *dst, CUdeviceptr src, size_t n) {
	NEED_CTX();
	if (!devrange(src, n)) return CUDA_ERROR_INVALID_VALUE;
	memcpy(dst, (void *)src, n);
	return CUDA_SUCCESS;
}
CUresult cuMemcpyHtoDAsync(CUdeviceptr dst, const void *src, size_t n, CUstream s) {
	NEED_CTX();
	if (!devrange(dst, n)) return CUDA_ERROR_INVALID_VALUE;
	return enqueue(s, (void *)dst, src, n, 1, 0, 0);
}
CUresult cuMemcpy2DAsync(const CUDA_MEMCPY2D *c, CUstream s) {
	NEED_CTX();
	if (c->srcMemoryType != CU_MEMORYTYPE_HOST || c->dstMemoryType != CU_MEMORYTYPE_DEVICE ||
	    c->srcXInBytes || c->srcY || c->dstXInBytes || c->dstY ||
	    c->WidthInBytes > c->srcPitch || c->WidthInBytes > c->dstPitch)
		return CUDA_ERROR_INVALID_VALUE;
	if (c->Height == 0 || c->WidthInBytes == 0) return CUDA_SUCCESS;
	if (!devrange(c->dstDevice, (c->Height - 1) * c->dstPitch + c->WidthInBytes)) return CUDA_ERROR_INVALID_VALUE;
	return enqueue(s, (void *)c->dstDevice, c->srcHost, c->WidthInBytes, c->Height, c->dstPitch, c->srcPitch);
}

CUresult cuMemHostAlloc(void **p, size_t n, unsigned int flags) {
	NEED_CTX();
	if (n == 0) return CUDA_ERROR_INVALID_VALUE;
	if (oom("FAKECUDA_OOM_HOST", n)) return CUDA_ERROR_OUT_OF_MEMORY;
	if (posix_memalign(p, 4096, n)) return CUDA_ERROR_OUT_OF_MEMORY;
	pthread_mutex_lock(&mu);
	add(&host, &nhost, &caphost, (struct range){(uintptr_t)*p, n, flags, 0});
	pthread_mutex_unlock(&mu);
	return CUDA_SUCCESS;
}
CUresult cuMemFreeHost(void *p) {
	NEED_CTX();
	pthread_mutex_lock(&mu);
	int i = findstart(host, nhost, (uintptr_t)p);
	if (i < 0 || host[i].registered) { pthread_mutex_unlock(&mu); return CUDA_ERROR_INVALID_VALUE; }
	del(host, &nhost, i);
	pthread_mutex_unlock(&mu);
	free(p);
	return CUDA_SUCCESS;
}
CUresult cuMemHostRegister(void *p, size_t n, unsigned int flags) {
	NEED_CTX();
	if (n == 0) return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < nhost; i++)
		if ((uintptr_t)p < host[i].p + host[i].n && host[i].p < (uintptr_t)p + n) {
			pthread_mutex_unlock(&mu);
			return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
		}
	add(&host, &nhost, &caphost, (struct range){(uintptr_t)p, n, flags, 1});
	pthread_mutex_unlock(&mu);
	return CUDA_SUCCESS;
}
CUresult cuMemHostUnregister(void *p) {
	NEED_CTX();
	pthread_mutex_lock(&mu);
	int i = findstart(host, nhost, (uintptr_t)p);
	if (i < 0 || !host[i].registered) { pthread_mutex_unlock(&mu); return CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED; }
	del(host, &nhost, i);
	pthread_mutex_unlock(&mu);
	return CUDA_SUCCESS;
}
CUresult cuMemHostGetFlags(unsigned int *flags, void *p) {
	NEED_CTX();
	pthread_mutex_lock(&mu);
	int i = find(host, nhost, (uintptr_t)p, 1);
	if (i >= 0) *flags = host[i].flags;
	pthread_mutex_unlock(&mu);
	return i >= 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuStreamCreate(CUstream *ps, unsigned int flags) {
	NEED_CTX();
	if (flags != CU_STREAM_NON_BLOCKING) return CUDA_ERROR_INVALID_VALUE; // what the package asks for
	CUstream s = calloc(1, sizeof *s);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->seed = (unsigned)(uintptr_t)s;
	pthread_create(&s->th, NULL, stream_main, s);
	pthread_detach(s->th);
	*ps = s;
	return CUDA_SUCCESS;
}
CUresult cuStreamSynchronize(CUstream s) {
	NEED_CTX();
	if (!s) return CUDA_ERROR_INVALID_HANDLE;
	pthread_mutex_lock(&s->mu);
	unsigned long long t = s->enq;
	pthread_mutex_unlock(&s->mu);
	wait_ticket(s, t);
	return CUDA_SUCCESS;
}
// cuStreamDestroy returns at once; queued work still completes. The struct is
// never freed, since events may still refer to it.
CUresult cuStreamDestroy(CUstream s) {
	NEED_CTX();
	if (!s) return CUDA_ERROR_INVALID_HANDLE;
	pthread_mutex_lock(&s->mu);
	CUresult r = s->dead ? CUDA_ERROR_INVALID_HANDLE : CUDA_SUCCESS;
	s->dead = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return r;
}

CUresult cuEventCreate(CUevent *pe, unsigned int flags) {
	NEED_CTX();
	(void)flags;
	*pe = calloc(1, sizeof **pe);
	return CUDA_SUCCESS;
}
CUresult cuEventRecord(CUevent e, CUstream s) {
	NEED_CTX();
	if (!e || !s) return CUDA_ERROR_INVALID_HANDLE;
	pthread_mutex_lock(&s->mu);
	CUresult r = s->dead ? CUDA_ERROR_INVALID_HANDLE : CUDA_SUCCESS;
	if (r == CUDA_SUCCESS) { e->s = s; e->ticket = s->enq; }
	pthread_mutex_unlock(&s->mu);
	return r;
}
CUresult cuEventSynchronize(CUevent e) {
	NEED_CTX();
	if (!e) return CUDA_ERROR_INVALID_HANDLE;
	if (e->s) wait_ticket(e->s, e->ticket);
	return CUDA_SUCCESS;
}
CUresult cuEventQuery(CUevent e) {
	NEED_CTX();
	if (!e) return CUDA_ERROR_INVALID_HANDLE;
	if (!e->s) return CUDA_SUCCESS;
	pthread_mutex_lock(&e->s->mu);
	CUresult r = e->s->done >= e->ticket ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
	pthread_mutex_unlock(&e->s->mu);
	return r;
}
CUresult cuEventDestroy(CUevent e) {
	NEED_CTX();
	if (!e) return CUDA_ERROR_INVALID_HANDLE;
	free(e);
	return CUDA_SUCCESS;
}

static const struct { CUresult r; const char *name, *desc; } errs[] = {
	{CUDA_SUCCESS, "CUDA_SUCCESS", "no error"},
	{CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
	{CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
	{CUDA_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
	{CUDA_ERROR_INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
	{CUDA_ERROR_INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
	{CUDA_ERROR_NOT_SUPPORTED, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
	{CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED, "CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED", "part or all of the requested memory range is already mapped"},
	{CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED, "CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED", "pointer does not correspond to a registered memory region"},
};
CUresult cuGetErrorName(CUresult r, const char **s) {
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
		if (errs[i].r == r) { *s = errs[i].name; return CUDA_SUCCESS; }
	*s = NULL;
	return CUDA_ERROR_INVALID_VALUE;
}
CUresult cuGetErrorString(CUresult r, const char **s) {
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
		if (errs[i].r == r) { *s = errs[i].desc; return CUDA_SUCCESS; }
	*s = NULL;
	return CUDA_ERROR_INVALID_VALUE;
}
