/*===- FakeCuda.c - A CUDA driver that runs the test kernels on the CPU ---===*
 *
 * Built as libcuda.so.1 in its own directory, so that a test that puts that
 * directory on LD_LIBRARY_PATH runs the runtime's CUDA backend (which
 * dlopens libcuda.so.1) on a machine without a GPU. It implements the entry
 * points the backend resolves with the driver's semantics that the backend
 * relies on: "device" memory is host memory, a stream runs its work at once
 * and in order, kernel and graph node parameters are copied when they are
 * given (so a stale update is seen), and a launch of a grid of B blocks runs
 * the test kernel of the same name (TestKernels.c) once per block over
 * [b, b + 1): the test artifacts use one item per block, so a wrong grid
 * changes the output.
 *
 * Environment:
 *   ATTN_FAKE_CUDA_CC=86     the device's compute capability (default 86)
 *   ATTN_FAKE_CUDA_FAIL=cuX  entry point cuX fails with
 *                            CUDA_ERROR_OUT_OF_MEMORY
 *   ATTN_FAKE_CUDA_STATS=1   print what ran to stderr at exit
 *
 *===----------------------------------------------------------------------===*/

#include "attn/kernel_abi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
enum {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_INVALID_IMAGE = 200,
  CUDA_ERROR_NOT_FOUND = 500,
};

typedef struct {
  void *func;
  unsigned gridDimX, gridDimY, gridDimZ;
  unsigned blockDimX, blockDimY, blockDimZ;
  unsigned sharedMemBytes;
  void **kernelParams;
  void **extra;
} KernelNodeParams;

/* A launch with its four 8-byte arguments copied. */
typedef struct {
  attn_kernel_fn kernel;
  unsigned grid;
  int64_t args[4];
} Launch;

/* A graph, and an instantiated one: a list of launches in order. */
typedef struct {
  Launch *nodes;
  size_t count;
} Graph;

void attn_test_embedding(const attn_memref *, int64_t, int64_t, int64_t,
                         int64_t);
void attn_test_matvec(const attn_memref *, int64_t, int64_t, int64_t, int64_t);
void attn_test_copy_rows(const attn_memref *, int64_t, int64_t, int64_t,
                         int64_t);
void attn_test_add_row_sums(const attn_memref *, int64_t, int64_t, int64_t,
                            int64_t);

static const struct {
  const char *name;
  attn_kernel_fn kernel;
} kKernels[] = {
    {"attn_test_embedding", attn_test_embedding},
    {"attn_test_matvec", attn_test_matvec},
    {"attn_test_copy_rows", attn_test_copy_rows},
    {"attn_test_add_row_sums", attn_test_add_row_sums},
};

static struct {
  char module[16];
  long directLaunches, graphsInstantiated, graphLaunches, nodeUpdates;
  long allocations;
} stats;

static void printStats(void) __attribute__((destructor));
static void printStats(void) {
  const char *enabled = getenv("ATTN_FAKE_CUDA_STATS");
  if (!enabled || strcmp(enabled, "1") != 0)
    return;
  fprintf(stderr,
          "fake-cuda: module %s, %ld kernel launches, %ld graphs "
          "instantiated, %ld graph launches, %ld node updates, %ld "
          "allocations live\n",
          stats.module[0] ? stats.module : "none", stats.directLaunches,
          stats.graphsInstantiated, stats.graphLaunches, stats.nodeUpdates,
          stats.allocations);
}

/* Whether entry point `name` is to fail. */
static int failing(const char *name) {
  const char *fail = getenv("ATTN_FAKE_CUDA_FAIL");
  return fail && strcmp(fail, name) == 0;
}
#define FAIL_IF_ASKED(name)                                                    \
  if (failing(name))                                                           \
  return CUDA_ERROR_OUT_OF_MEMORY

CUresult cuGetErrorName(CUresult error, const char **name) {
  switch (error) {
  case CUDA_ERROR_OUT_OF_MEMORY:
    *name = "CUDA_ERROR_OUT_OF_MEMORY";
    return CUDA_SUCCESS;
  case CUDA_ERROR_INVALID_IMAGE:
    *name = "CUDA_ERROR_INVALID_IMAGE";
    return CUDA_SUCCESS;
  case CUDA_ERROR_NOT_FOUND:
    *name = "CUDA_ERROR_NOT_FOUND";
    return CUDA_SUCCESS;
  }
  *name = "CUDA_ERROR_INVALID_VALUE";
  return CUDA_SUCCESS;
}

CUresult cuGetErrorString(CUresult error, const char **text) {
  *text = error == CUDA_ERROR_OUT_OF_MEMORY ? "out of memory"
          : error == CUDA_ERROR_NOT_FOUND   ? "named symbol not found"
          : error == CUDA_ERROR_INVALID_IMAGE
              ? "device kernel image is invalid"
              : "invalid argument";
  return CUDA_SUCCESS;
}

CUresult cuInit(unsigned flags) { return flags ? CUDA_ERROR_INVALID_VALUE : 0; }
CUresult cuDeviceGetCount(int *count) {
  *count = 1;
  return CUDA_SUCCESS;
}
CUresult cuDeviceGet(int *device, int ordinal) {
  *device = ordinal;
  return ordinal == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
CUresult cuDeviceGetAttribute(int *value, int attribute, int device) {
  const char *cc = getenv("ATTN_FAKE_CUDA_CC");
  int capability = cc ? atoi(cc) : 86;
  (void)device;
  switch (attribute) {
  case 75: /* COMPUTE_CAPABILITY_MAJOR */
    *value = capability / 10;
    return CUDA_SUCCESS;
  case 76: /* COMPUTE_CAPABILITY_MINOR */
    *value = capability % 10;
    return CUDA_SUCCESS;
  case 97: /* MAX_SHARED_MEMORY_PER_BLOCK_OPTIN */
    *value = 99 * 1024;
    return CUDA_SUCCESS;
  }
  return CUDA_ERROR_INVALID_VALUE;
}

static int context;
CUresult cuDevicePrimaryCtxRetain(void **ctx, int device) {
  (void)device;
  *ctx = &context;
  return CUDA_SUCCESS;
}
CUresult cuDevicePrimaryCtxRelease_v2(int device) {
  (void)device;
  return CUDA_SUCCESS;
}
CUresult cuCtxSetCurrent(void *ctx) {
  return ctx == &context ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
CUresult cuCtxSynchronize(void) { return CUDA_SUCCESS; }

/* A module is its PTX text. */
CUresult cuModuleLoadDataEx(void **module, const void *image, unsigned count,
                            int *options, void **values) {
  FAIL_IF_ASKED("cuModuleLoadDataEx");
  const char *ptx = (const char *)image;
  const char *target = strstr(ptx, ".target ");
  if (strncmp(ptx, ".version", 8) != 0 || !target) {
    /* The error log, as ptxas would write one. */
    for (unsigned i = 0; i < count; ++i)
      if (options[i] == 5 /* CU_JIT_ERROR_LOG_BUFFER */)
        snprintf((char *)values[i], 64, "ptxas fatal   : not PTX\nline 2");
    return CUDA_ERROR_INVALID_IMAGE;
  }
  sscanf(target + 8, "%15s", stats.module);
  *module = (void *)ptx;
  return CUDA_SUCCESS;
}
CUresult cuModuleUnload(void *module) {
  return module ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
CUresult cuModuleGetFunction(void **function, void *module, const char *name) {
  char entry[256];
  snprintf(entry, sizeof(entry), ".entry %s(", name);
  if (!strstr((const char *)module, entry))
    return CUDA_ERROR_NOT_FOUND;
  for (size_t i = 0; i < sizeof(kKernels) / sizeof(kKernels[0]); ++i)
    if (strcmp(kKernels[i].name, name) == 0) {
      *function = (void *)kKernels[i].kernel;
      return CUDA_SUCCESS;
    }
  return CUDA_ERROR_NOT_FOUND;
}
CUresult cuFuncSetAttribute(void *function, int attribute, int value) {
  (void)function;
  return attribute == 8 && value <= 99 * 1024 ? CUDA_SUCCESS
                                              : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuMemAlloc_v2(unsigned long long *pointer, size_t size) {
  FAIL_IF_ASKED("cuMemAlloc");
  void *memory = aligned_alloc(256, (size + 255) / 256 * 256);
  if (!memory)
    return CUDA_ERROR_OUT_OF_MEMORY;
  /* Garbage, as device memory is, so that a missing memset shows. */
  memset(memory, 0xa5, size);
  *pointer = (unsigned long long)(uintptr_t)memory;
  ++stats.allocations;
  return CUDA_SUCCESS;
}
CUresult cuMemFree_v2(unsigned long long pointer) {
  free((void *)(uintptr_t)pointer);
  --stats.allocations;
  return CUDA_SUCCESS;
}
CUresult cuMemcpyHtoD_v2(unsigned long long dst, const void *src,
                         size_t size) {
  memcpy((void *)(uintptr_t)dst, src, size);
  return CUDA_SUCCESS;
}
CUresult cuMemcpyHtoDAsync_v2(unsigned long long dst, const void *src,
                              size_t size, void *stream) {
  (void)stream;
  return cuMemcpyHtoD_v2(dst, src, size);
}
CUresult cuMemcpyDtoHAsync_v2(void *dst, unsigned long long src, size_t size,
                              void *stream) {
  (void)stream;
  memcpy(dst, (const void *)(uintptr_t)src, size);
  return CUDA_SUCCESS;
}
CUresult cuMemsetD8Async(unsigned long long dst, unsigned char value,
                         size_t size, void *stream) {
  (void)stream;
  memset((void *)(uintptr_t)dst, value, size);
  return CUDA_SUCCESS;
}

static int streamObject;
CUresult cuStreamCreate(void **stream, unsigned flags) {
  (void)flags;
  *stream = &streamObject;
  return CUDA_SUCCESS;
}
CUresult cuStreamDestroy_v2(void *stream) {
  return stream == &streamObject ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
CUresult cuStreamSynchronize(void *stream) {
  return stream == &streamObject ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* Copies what a launch of `params` would run. */
static Launch capture(const KernelNodeParams *params) {
  Launch launch;
  launch.kernel = (attn_kernel_fn)params->func;
  launch.grid = params->gridDimX;
  for (int i = 0; i < 4; ++i)
    launch.args[i] = *(const int64_t *)params->kernelParams[i];
  return launch;
}

static CUresult run(const Launch *launch) {
  if (launch->grid == 0)
    return CUDA_ERROR_INVALID_VALUE;
  const attn_memref *bindings =
      (const attn_memref *)(uintptr_t)launch->args[0];
  for (unsigned b = 0; b < launch->grid; ++b)
    launch->kernel(bindings, launch->args[1], launch->args[2], b, b + 1);
  return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(void *function, unsigned gridX, unsigned gridY,
                        unsigned gridZ, unsigned blockX, unsigned blockY,
                        unsigned blockZ, unsigned sharedMemory, void *stream,
                        void **params, void **extra) {
  (void)blockX, (void)sharedMemory, (void)stream;
  if (gridY != 1 || gridZ != 1 || blockY != 1 || blockZ != 1 || extra)
    return CUDA_ERROR_INVALID_VALUE;
  KernelNodeParams node = {function, gridX, 1, 1, blockX, 1, 1, 0, params, 0};
  Launch launch = capture(&node);
  ++stats.directLaunches;
  return run(&launch);
}

CUresult cuGraphCreate(Graph **graph, unsigned flags) {
  (void)flags;
  *graph = calloc(1, sizeof(Graph));
  return *graph ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}
CUresult cuGraphDestroy(Graph *graph) {
  free(graph->nodes);
  free(graph);
  return CUDA_SUCCESS;
}
/* A node handle is its index + 1. */
CUresult cuGraphAddKernelNode(void **node, Graph *graph, void *const *deps,
                              size_t count, const KernelNodeParams *params) {
  /* The backend chains each node after the one before. */
  if (count != (graph->count ? 1u : 0u) ||
      (count && deps[0] != (void *)(uintptr_t)graph->count))
    return CUDA_ERROR_INVALID_VALUE;
  graph->nodes = realloc(graph->nodes, (graph->count + 1) * sizeof(Launch));
  graph->nodes[graph->count++] = capture(params);
  *node = (void *)(uintptr_t)graph->count;
  return CUDA_SUCCESS;
}
CUresult cuGraphInstantiateWithFlags(Graph **exec, Graph *graph,
                                     unsigned long long flags) {
  (void)flags;
  *exec = calloc(1, sizeof(Graph));
  (*exec)->nodes = malloc((graph->count + 1) * sizeof(Launch));
  memcpy((*exec)->nodes, graph->nodes, graph->count * sizeof(Launch));
  (*exec)->count = graph->count;
  ++stats.graphsInstantiated;
  return CUDA_SUCCESS;
}
CUresult cuGraphExecKernelNodeSetParams(Graph *exec, void *node,
                                        const KernelNodeParams *params) {
  size_t index = (size_t)(uintptr_t)node - 1;
  if (index >= exec->count)
    return CUDA_ERROR_INVALID_VALUE;
  exec->nodes[index] = capture(params);
  ++stats.nodeUpdates;
  return CUDA_SUCCESS;
}
CUresult cuGraphLaunch(Graph *exec, void *stream) {
  (void)stream;
  ++stats.graphLaunches;
  for (size_t i = 0; i < exec->count; ++i) {
    CUresult result = run(&exec->nodes[i]);
    if (result != CUDA_SUCCESS)
      return result;
  }
  return CUDA_SUCCESS;
}
CUresult cuGraphExecDestroy(Graph *exec) { return cuGraphDestroy(exec); }
