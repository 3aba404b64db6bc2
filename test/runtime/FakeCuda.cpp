//===- FakeCuda.cpp - A CUDA driver that runs kernels on the CPU ----------===//
//
// Built as libcuda.so.1 in its own directory, so that a test that puts that
// directory on LD_LIBRARY_PATH runs the runtime's CUDA backend (which
// dlopens libcuda.so.1) on a machine without a GPU. It implements the entry
// points the backend resolves with the driver's semantics that the backend
// relies on: "device" memory is host memory, a stream runs its work at once
// and in order, kernel and graph node parameters are copied when they are
// given (so a stale update is seen).
//
// A kernel runs one of two ways, decided by cuModuleGetFunction:
//  - a kernel named like a test kernel (TestKernels.c; the test artifacts'
//    PTX is a stub) runs natively, once per block over [b, b + 1) for a grid
//    of B blocks: the test artifacts use one item per block, so a wrong grid
//    changes the output;
//  - any other kernel of the module runs its PTX in the emulator
//    (PtxEmulator.h), which checks memory accesses (against the live
//    cuMemAlloc allocations) and synchronization. A failed check prints one
//    line "fake-cuda: <kernel>: line N: ..." to stderr and fails the launch
//    with CUDA_ERROR_ILLEGAL_ADDRESS (memory) or CUDA_ERROR_LAUNCH_FAILED.
// cuModuleLoadDataEx parses the whole module; PTX the emulator does not
// implement fails there with CUDA_ERROR_INVALID_PTX and "line N: ..." in the
// error log.
//
// Environment:
//   ATTN_FAKE_CUDA_CC=86     the device's compute capability (default 86)
//   ATTN_FAKE_CUDA_FAIL=cuX  entry point cuX fails with
//                            CUDA_ERROR_OUT_OF_MEMORY
//   ATTN_FAKE_CUDA_STATS=1   print what ran to stderr at exit
//
//===----------------------------------------------------------------------===//

#include "PtxEmulator.h"

#include "attn/kernel_abi.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <memory>
#include <set>
#include <string>
#include <vector>

using attn::ptxemu::Dim3;

namespace {

using CUresult = int;
enum : CUresult {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_INVALID_IMAGE = 200,
  CUDA_ERROR_INVALID_PTX = 218,
  CUDA_ERROR_NOT_FOUND = 500,
  CUDA_ERROR_ILLEGAL_ADDRESS = 700,
  CUDA_ERROR_LAUNCH_FAILED = 719,
};

/// CUDA_KERNEL_NODE_PARAMS (v1).
struct KernelNodeParams {
  void *func;
  unsigned gridDimX, gridDimY, gridDimZ;
  unsigned blockDimX, blockDimY, blockDimZ;
  unsigned sharedMemBytes;
  void **kernelParams;
  void **extra;
};

extern "C" {
void attn_test_embedding(const attn_memref *, int64_t, int64_t, int64_t,
                         int64_t);
void attn_test_matvec(const attn_memref *, int64_t, int64_t, int64_t, int64_t);
void attn_test_copy_rows(const attn_memref *, int64_t, int64_t, int64_t,
                         int64_t);
void attn_test_append_rows(const attn_memref *, int64_t, int64_t, int64_t,
                           int64_t);
void attn_test_add_row_sums(const attn_memref *, int64_t, int64_t, int64_t,
                            int64_t);
}

const struct {
  const char *name;
  attn_kernel_fn kernel;
} kKernels[] = {
    {"attn_test_embedding", attn_test_embedding},
    {"attn_test_matvec", attn_test_matvec},
    {"attn_test_copy_rows", attn_test_copy_rows},
    {"attn_test_add_row_sums", attn_test_add_row_sums},
    {"attn_test_append_rows", attn_test_append_rows},
};

/// A CUfunction: a native test kernel, or a PTX kernel to emulate.
struct Function {
  const attn::ptxemu::Kernel *kernel; // its parameters, and its code
  attn_kernel_fn native;              // or null: emulate
  unsigned maxDynamicShared = 48 * 1024;
};

/// A CUmodule: the parsed PTX and the functions handed out.
struct Module {
  std::unique_ptr<attn::ptxemu::Module> ptx;
  std::list<Function> functions; // stable addresses
};

/// A launch with its parameters copied.
struct Launch {
  Function *function = nullptr;
  Dim3 grid, block;
  unsigned sharedMemBytes = 0;
  std::vector<uint8_t> params;
};

/// A graph, and an instantiated one: a list of launches in order.
/// A graph, and an instantiated one: its nodes in the order they were
/// added, and each node's dependencies (indices of earlier nodes).
struct Graph {
  std::vector<Launch> nodes;
  std::vector<std::vector<size_t>> deps;
};

/// Never destroyed: printStats runs at exit, in an order relative to static
/// destructors that nothing fixes.
attn::ptxemu::Allocations &allocations = *new attn::ptxemu::Allocations;
/// Page-locked host allocations (cuMemAllocHost): not device memory, so
/// kernels may not touch them; counted with the device's as live.
std::set<void *> &pinned = *new std::set<void *>;

struct {
  char module[16];
  long directLaunches, graphsInstantiated, graphLaunches, nodeUpdates;
  /// Of the last graph instantiated.
  size_t graphNodes, graphEdges;
  unsigned long long instructions;
} stats;

__attribute__((destructor)) void printStats() {
  const char *enabled = getenv("ATTN_FAKE_CUDA_STATS");
  if (!enabled || strcmp(enabled, "1") != 0)
    return;
  fprintf(stderr,
          "fake-cuda: module %s, %ld kernel launches, %ld graphs "
          "instantiated, %ld graph launches, %ld node updates, %zu "
          "allocations live, %llu instructions emulated\n",
          stats.module[0] ? stats.module : "none", stats.directLaunches,
          stats.graphsInstantiated, stats.graphLaunches, stats.nodeUpdates,
          allocations.size() + pinned.size(), stats.instructions);
  if (stats.graphsInstantiated)
    fprintf(stderr, "fake-cuda: the last graph had %zu nodes and %zu edges\n",
            stats.graphNodes, stats.graphEdges);
}

/// Whether entry point `name` is to fail.
bool failing(const char *name) {
  const char *fail = getenv("ATTN_FAKE_CUDA_FAIL");
  return fail && strcmp(fail, name) == 0;
}
#define FAIL_IF_ASKED(name)                                                    \
  if (failing(name))                                                           \
  return CUDA_ERROR_OUT_OF_MEMORY

/// Copies what a launch of `params` would run.
Launch capture(const KernelNodeParams &params) {
  Launch launch;
  launch.function = static_cast<Function *>(params.func);
  launch.grid = {params.gridDimX, params.gridDimY, params.gridDimZ};
  launch.block = {params.blockDimX, params.blockDimY, params.blockDimZ};
  launch.sharedMemBytes = params.sharedMemBytes;
  const attn::ptxemu::ParamLayout &layout =
      attn::ptxemu::paramLayout(*launch.function->kernel);
  launch.params.assign(layout.bytes, 0);
  for (size_t i = 0; i < layout.offsets.size(); ++i)
    memcpy(launch.params.data() + layout.offsets[i], params.kernelParams[i],
           layout.sizes[i]);
  return launch;
}

CUresult run(const Launch &launch) {
  const Function &function = *launch.function;
  if (function.native) {
    // The test kernels take the kernel ABI's five 8-byte parameters (and
    // no workspace).
    int64_t args[5];
    if (launch.grid.x == 0 || launch.grid.y != 1 || launch.grid.z != 1 ||
        launch.block.y != 1 || launch.block.z != 1 ||
        launch.params.size() != sizeof(args))
      return CUDA_ERROR_INVALID_VALUE;
    memcpy(args, launch.params.data(), sizeof(args));
    const auto *bindings =
        reinterpret_cast<const attn_memref *>(static_cast<uintptr_t>(args[0]));
    for (unsigned b = 0; b < launch.grid.x; ++b)
      function.native(bindings, args[1], args[2], b, b + 1);
    return CUDA_SUCCESS;
  }
  if (launch.sharedMemBytes > function.maxDynamicShared)
    return CUDA_ERROR_INVALID_VALUE;
  attn::ptxemu::LaunchConfig config;
  config.grid = launch.grid;
  config.block = launch.block;
  config.dynamicSharedBytes = launch.sharedMemBytes;
  config.params = launch.params.data();
  std::string message;
  uint64_t instructions = 0;
  attn::ptxemu::LaunchStatus status = attn::ptxemu::launch(
      *function.kernel, config, allocations, message, instructions);
  stats.instructions += instructions;
  if (status == attn::ptxemu::LaunchStatus::Ok)
    return CUDA_SUCCESS;
  fprintf(stderr, "fake-cuda: %s\n", message.c_str());
  switch (status) {
  case attn::ptxemu::LaunchStatus::InvalidValue:
    return CUDA_ERROR_INVALID_VALUE;
  case attn::ptxemu::LaunchStatus::IllegalAddress:
    return CUDA_ERROR_ILLEGAL_ADDRESS;
  default:
    return CUDA_ERROR_LAUNCH_FAILED;
  }
}

int context;
int streamObject;

/// Writes `text` to the CU_JIT_ERROR_LOG_BUFFER option, if given, as ptxas
/// would write its log.
void writeErrorLog(unsigned count, const int *options, void **values,
                   const std::string &text) {
  size_t size = 0;
  char *buffer = nullptr;
  for (unsigned i = 0; i < count; ++i) {
    if (options[i] == 5 /* CU_JIT_ERROR_LOG_BUFFER */)
      buffer = static_cast<char *>(values[i]);
    if (options[i] == 6 /* CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES */)
      size = reinterpret_cast<uintptr_t>(values[i]);
  }
  if (buffer && size)
    snprintf(buffer, size, "%s", text.c_str());
}

} // namespace

// The driver's entry points. The prototypes spell the handle types as
// void *; see CMakeLists.txt on -fsanitize=function.
extern "C" {

CUresult cuGetErrorName(CUresult error, const char **name) {
  switch (error) {
  case CUDA_ERROR_OUT_OF_MEMORY:
    *name = "CUDA_ERROR_OUT_OF_MEMORY";
    return CUDA_SUCCESS;
  case CUDA_ERROR_INVALID_IMAGE:
    *name = "CUDA_ERROR_INVALID_IMAGE";
    return CUDA_SUCCESS;
  case CUDA_ERROR_INVALID_PTX:
    *name = "CUDA_ERROR_INVALID_PTX";
    return CUDA_SUCCESS;
  case CUDA_ERROR_NOT_FOUND:
    *name = "CUDA_ERROR_NOT_FOUND";
    return CUDA_SUCCESS;
  case CUDA_ERROR_ILLEGAL_ADDRESS:
    *name = "CUDA_ERROR_ILLEGAL_ADDRESS";
    return CUDA_SUCCESS;
  case CUDA_ERROR_LAUNCH_FAILED:
    *name = "CUDA_ERROR_LAUNCH_FAILED";
    return CUDA_SUCCESS;
  }
  *name = "CUDA_ERROR_INVALID_VALUE";
  return CUDA_SUCCESS;
}

CUresult cuGetErrorString(CUresult error, const char **text) {
  switch (error) {
  case CUDA_ERROR_OUT_OF_MEMORY:
    *text = "out of memory";
    break;
  case CUDA_ERROR_NOT_FOUND:
    *text = "named symbol not found";
    break;
  case CUDA_ERROR_INVALID_IMAGE:
    *text = "device kernel image is invalid";
    break;
  case CUDA_ERROR_INVALID_PTX:
    *text = "a PTX JIT compilation failed";
    break;
  case CUDA_ERROR_ILLEGAL_ADDRESS:
    *text = "an illegal memory access was encountered";
    break;
  case CUDA_ERROR_LAUNCH_FAILED:
    *text = "unspecified launch failure";
    break;
  default:
    *text = "invalid argument";
  }
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
  case 75: // COMPUTE_CAPABILITY_MAJOR
    *value = capability / 10;
    return CUDA_SUCCESS;
  case 76: // COMPUTE_CAPABILITY_MINOR
    *value = capability % 10;
    return CUDA_SUCCESS;
  case 97: // MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
    *value = 99 * 1024;
    return CUDA_SUCCESS;
  }
  return CUDA_ERROR_INVALID_VALUE;
}

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

CUresult cuModuleLoadDataEx(void **module, const void *image, unsigned count,
                            int *options, void **values) {
  FAIL_IF_ASKED("cuModuleLoadDataEx");
  const char *ptx = static_cast<const char *>(image);
  // PTX starts with .version, after any comments (LLVM writes a banner).
  const char *start = ptx;
  for (;;) {
    start += strspn(start, " \t\r\n");
    if (strncmp(start, "//", 2) != 0)
      break;
    start += strcspn(start, "\n");
  }
  const char *target = strstr(ptx, ".target ");
  if (strncmp(start, ".version", 8) != 0 || !target) {
    writeErrorLog(count, options, values, "ptxas fatal   : not PTX\nline 2");
    return CUDA_ERROR_INVALID_IMAGE;
  }
  std::string error;
  auto parsed = attn::ptxemu::Module::parse(ptx, error);
  if (!parsed) {
    writeErrorLog(count, options, values, "ptxas fatal   : " + error);
    return CUDA_ERROR_INVALID_PTX;
  }
  sscanf(target + 8, "%15s", stats.module);
  auto *loaded = new Module;
  loaded->ptx = std::move(parsed);
  *module = loaded;
  return CUDA_SUCCESS;
}
CUresult cuModuleUnload(void *module) {
  if (!module)
    return CUDA_ERROR_INVALID_VALUE;
  delete static_cast<Module *>(module);
  return CUDA_SUCCESS;
}
CUresult cuModuleGetFunction(void **function, void *module, const char *name) {
  auto *loaded = static_cast<Module *>(module);
  const attn::ptxemu::Kernel *kernel = loaded->ptx->kernel(name);
  if (!kernel)
    return CUDA_ERROR_NOT_FOUND;
  attn_kernel_fn native = nullptr;
  for (const auto &k : kKernels)
    if (strcmp(k.name, name) == 0)
      native = k.kernel;
  loaded->functions.push_back({kernel, native});
  *function = &loaded->functions.back();
  return CUDA_SUCCESS;
}
CUresult cuFuncSetAttribute(void *function, int attribute, int value) {
  if (attribute != 8 || value < 0 || value > 99 * 1024)
    return CUDA_ERROR_INVALID_VALUE;
  static_cast<Function *>(function)->maxDynamicShared =
      static_cast<unsigned>(value);
  return CUDA_SUCCESS;
}

CUresult cuMemAlloc_v2(unsigned long long *pointer, size_t size) {
  FAIL_IF_ASKED("cuMemAlloc");
  void *memory = aligned_alloc(256, (size + 255) / 256 * 256);
  if (!memory)
    return CUDA_ERROR_OUT_OF_MEMORY;
  // Garbage, as device memory is, so that a missing memset shows.
  memset(memory, 0xa5, size);
  *pointer = reinterpret_cast<uintptr_t>(memory);
  allocations.add(*pointer, size);
  return CUDA_SUCCESS;
}
CUresult cuMemFree_v2(unsigned long long pointer) {
  if (!allocations.remove(pointer))
    return CUDA_ERROR_INVALID_VALUE;
  free(reinterpret_cast<void *>(static_cast<uintptr_t>(pointer)));
  return CUDA_SUCCESS;
}
CUresult cuMemAllocHost_v2(void **pointer, size_t size) {
  FAIL_IF_ASKED("cuMemAllocHost");
  *pointer = malloc(size);
  if (!*pointer)
    return CUDA_ERROR_OUT_OF_MEMORY;
  pinned.insert(*pointer);
  return CUDA_SUCCESS;
}
CUresult cuMemFreeHost(void *pointer) {
  if (!pinned.erase(pointer))
    return CUDA_ERROR_INVALID_VALUE;
  free(pointer);
  return CUDA_SUCCESS;
}
CUresult cuMemcpyHtoD_v2(unsigned long long dst, const void *src, size_t size) {
  memcpy(reinterpret_cast<void *>(static_cast<uintptr_t>(dst)), src, size);
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
  memcpy(dst, reinterpret_cast<const void *>(static_cast<uintptr_t>(src)),
         size);
  return CUDA_SUCCESS;
}
CUresult cuMemsetD8Async(unsigned long long dst, unsigned char value,
                         size_t size, void *stream) {
  (void)stream;
  memset(reinterpret_cast<void *>(static_cast<uintptr_t>(dst)), value, size);
  return CUDA_SUCCESS;
}

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

CUresult cuLaunchKernel(void *function, unsigned gridX, unsigned gridY,
                        unsigned gridZ, unsigned blockX, unsigned blockY,
                        unsigned blockZ, unsigned sharedMemory, void *stream,
                        void **params, void **extra) {
  (void)stream;
  if (extra || !function)
    return CUDA_ERROR_INVALID_VALUE;
  KernelNodeParams node = {function, gridX,  gridY,        gridZ,  blockX,
                           blockY,   blockZ, sharedMemory, params, nullptr};
  ++stats.directLaunches;
  return run(capture(node));
}

CUresult cuGraphCreate(void **graph, unsigned flags) {
  (void)flags;
  *graph = new Graph;
  return CUDA_SUCCESS;
}
CUresult cuGraphDestroy(void *graph) {
  delete static_cast<Graph *>(graph);
  return CUDA_SUCCESS;
}
// A node handle is its index + 1.
CUresult cuGraphAddKernelNode(void **node, void *graphHandle, void *const *deps,
                              size_t count, const KernelNodeParams *params) {
  auto *graph = static_cast<Graph *>(graphHandle);
  std::vector<size_t> indices;
  for (size_t i = 0; i < count; ++i) {
    size_t index = reinterpret_cast<uintptr_t>(deps[i]) - 1;
    // Dependencies are nodes of this graph, each named once.
    if (index >= graph->nodes.size() ||
        std::find(indices.begin(), indices.end(), index) != indices.end())
      return CUDA_ERROR_INVALID_VALUE;
    indices.push_back(index);
  }
  graph->nodes.push_back(capture(*params));
  graph->deps.push_back(std::move(indices));
  *node = reinterpret_cast<void *>(graph->nodes.size());
  return CUDA_SUCCESS;
}
CUresult cuGraphInstantiateWithFlags(void **exec, void *graphHandle,
                                     unsigned long long flags) {
  (void)flags;
  auto *graph = static_cast<Graph *>(graphHandle);
  *exec = new Graph(*graph);
  ++stats.graphsInstantiated;
  stats.graphNodes = graph->nodes.size();
  stats.graphEdges = 0;
  for (const std::vector<size_t> &deps : graph->deps)
    stats.graphEdges += deps.size();
  return CUDA_SUCCESS;
}
CUresult cuGraphExecKernelNodeSetParams(void *execHandle, void *node,
                                        const KernelNodeParams *params) {
  auto *exec = static_cast<Graph *>(execHandle);
  size_t index = reinterpret_cast<uintptr_t>(node) - 1;
  if (index >= exec->nodes.size())
    return CUDA_ERROR_INVALID_VALUE;
  exec->nodes[index] = capture(*params);
  ++stats.nodeUpdates;
  return CUDA_SUCCESS;
}
/* Runs the nodes in a topological order that, among the nodes whose
 * dependencies have run, always picks the one added last: a GPU may run
 * independent nodes in any order, so a missing edge shows as a consumer
 * running before its producer. */
CUresult cuGraphLaunch(void *execHandle, void *stream) {
  (void)stream;
  ++stats.graphLaunches;
  const Graph &graph = *static_cast<Graph *>(execHandle);
  size_t count = graph.nodes.size();
  std::vector<size_t> waiting(count);
  std::vector<std::vector<size_t>> dependents(count);
  for (size_t i = 0; i < count; ++i) {
    waiting[i] = graph.deps[i].size();
    for (size_t dep : graph.deps[i])
      dependents[dep].push_back(i);
  }
  std::set<size_t> ready;
  for (size_t i = 0; i < count; ++i)
    if (waiting[i] == 0)
      ready.insert(i);
  while (!ready.empty()) {
    size_t i = *ready.rbegin();
    ready.erase(i);
    CUresult result = run(graph.nodes[i]);
    if (result != CUDA_SUCCESS)
      return result;
    for (size_t next : dependents[i])
      if (--waiting[next] == 0)
        ready.insert(next);
  }
  return CUDA_SUCCESS;
}
CUresult cuGraphExecDestroy(void *exec) { return cuGraphDestroy(exec); }

/* An event is the host time at which it was recorded: the stream has run
 * everything before it by then. */
struct Event {
  std::chrono::steady_clock::time_point recorded;
  bool done = false;
};
CUresult cuEventCreate(Event **event, unsigned flags) {
  (void)flags;
  *event = new Event;
  return CUDA_SUCCESS;
}
CUresult cuEventRecord(Event *event, void *stream) {
  (void)stream;
  event->recorded = std::chrono::steady_clock::now();
  event->done = true;
  return CUDA_SUCCESS;
}
CUresult cuEventElapsedTime(float *milliseconds, Event *start, Event *end) {
  if (!start->done || !end->done)
    return CUDA_ERROR_INVALID_VALUE;
  *milliseconds = std::chrono::duration<float, std::milli>(end->recorded -
                                                           start->recorded)
                      .count();
  return CUDA_SUCCESS;
}
CUresult cuEventDestroy_v2(Event *event) {
  delete event;
  return CUDA_SUCCESS;
}

} // extern "C"
