//===- CudaDriver.h - The CUDA driver API, loaded at run time ---*- C++ -*-===//
//
// The runtime must build and run where no CUDA is installed, so it never
// includes cuda.h nor links libcuda: it dlopens libcuda.so.1 on first use and
// resolves the few entry points it calls into one table. The types and
// constants below are the driver API's own (cuda.h, CUDA 12), declared here
// with the same layout.
//
// Entry points are resolved by their versioned symbol names (cuMemAlloc_v2,
// ...): cuda.h maps the plain names to these with macros, and the plain
// symbols libcuda still exports are the old ABIs (32-bit sizes and the
// like).
//
// Every driver call goes through ATTN_CU, which turns a CUresult into a
// Status that names the call, the driver's error name and text, and the
// file and line of the call.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_CUDA_CUDADRIVER_H
#define ATTN_RUNTIME_CUDA_CUDADRIVER_H

#include "runtime/Status.h"

#include <cstddef>

namespace attn::runtime::cuda {

// The driver API's types (cuda.h).
using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUgraph = struct CUgraph_st *;
using CUgraphNode = struct CUgraphNode_st *;
using CUgraphExec = struct CUgraphExec_st *;
using CUevent = struct CUevent_st *;

constexpr CUresult CUDA_SUCCESS = 0;
// CUdevice_attribute values.
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;
// CUfunction_attribute.
constexpr int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
// CUjit_option values.
constexpr int CU_JIT_ERROR_LOG_BUFFER = 5;
constexpr int CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;
// cuStreamCreate flags.
constexpr unsigned CU_STREAM_NON_BLOCKING = 1;
/// Dynamic shared memory above this needs the function attribute.
constexpr unsigned kDefaultSharedMemoryLimit = 48 * 1024;

/// CUDA_KERNEL_NODE_PARAMS (the v1 layout, which the unversioned graph node
/// entry points take).
struct CudaKernelNodeParams {
  CUfunction func;
  unsigned gridDimX, gridDimY, gridDimZ;
  unsigned blockDimX, blockDimY, blockDimZ;
  unsigned sharedMemBytes;
  void **kernelParams;
  void **extra;
};

/// The driver's entry points that the runtime uses.
struct CudaDriver {
  CUresult (*cuGetErrorName)(CUresult, const char **);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuCtxSynchronize)();
  CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned, int *,
                                 void **);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemAllocHost)(void **, size_t);
  CUresult (*cuMemFreeHost)(void *);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
  CUresult (*cuMemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, unsigned, CUstream,
                             void **, void **);
  CUresult (*cuGraphCreate)(CUgraph *, unsigned);
  CUresult (*cuGraphDestroy)(CUgraph);
  CUresult (*cuGraphAddKernelNode)(CUgraphNode *, CUgraph,
                                   const CUgraphNode *, size_t,
                                   const CudaKernelNodeParams *);
  CUresult (*cuGraphInstantiateWithFlags)(CUgraphExec *, CUgraph,
                                          unsigned long long);
  CUresult (*cuGraphExecKernelNodeSetParams)(CUgraphExec, CUgraphNode,
                                             const CudaKernelNodeParams *);
  CUresult (*cuGraphLaunch)(CUgraphExec, CUstream);
  CUresult (*cuGraphExecDestroy)(CUgraphExec);
  CUresult (*cuEventCreate)(CUevent *, unsigned);
  CUresult (*cuEventRecord)(CUevent, CUstream);
  CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent);
  CUresult (*cuEventDestroy)(CUevent);

  /// The driver, loaded and initialized (cuInit) once per process; the
  /// same error every time when that failed (no libcuda.so.1, a missing
  /// entry point, cuInit failing for want of a GPU).
  static Status get(const CudaDriver *&out);
};

/// The Status of `result`, returned by the driver for the call spelled
/// `call` at `file`:`line`: OK for CUDA_SUCCESS, else Unsupported or
/// ResourceExhausted (out of memory) with "<entry point>: <NAME>: <text>
/// (<file>:<line>)".
Status checkResult(CUresult result, const char *call, const char *file,
                   int line);

} // namespace attn::runtime::cuda

/// Calls the driver entry point `call` (e.g. `driver.cuInit(0)`) and yields
/// its Status. Every driver call goes through this macro.
#define ATTN_CU(call)                                                          \
  ::attn::runtime::cuda::checkResult((call), #call, __FILE__, __LINE__)

#endif // ATTN_RUNTIME_CUDA_CUDADRIVER_H
