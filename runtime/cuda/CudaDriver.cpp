//===- CudaDriver.cpp - The CUDA driver API, loaded at run time -----------===//

#include "runtime/cuda/CudaDriver.h"

#include <dlfcn.h>

namespace attn::runtime::cuda {

namespace {

/// The driver and how loading it went; filled once.
struct LoadedDriver {
  CudaDriver driver{};
  Status status;
};

/// Loads libcuda.so.1 and resolves every entry point, then calls cuInit.
/// The library stays loaded for the life of the process.
LoadedDriver load() {
  LoadedDriver loaded;
  void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    const char *why = dlerror();
    loaded.status = makeError(StatusCode::Unsupported,
                              "cannot load the CUDA driver (libcuda.so.1): "
                              "%s",
                              why ? why : "unknown error");
    return loaded;
  }
  CudaDriver &d = loaded.driver;
  // Each entry point by the symbol cuda.h maps its name to (see the header).
  const struct {
    void *slot;
    const char *symbol;
  } entries[] = {
      {&d.cuGetErrorName, "cuGetErrorName"},
      {&d.cuGetErrorString, "cuGetErrorString"},
      {&d.cuInit, "cuInit"},
      {&d.cuDeviceGetCount, "cuDeviceGetCount"},
      {&d.cuDeviceGet, "cuDeviceGet"},
      {&d.cuDeviceGetAttribute, "cuDeviceGetAttribute"},
      {&d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"},
      {&d.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"},
      {&d.cuCtxSetCurrent, "cuCtxSetCurrent"},
      {&d.cuCtxSynchronize, "cuCtxSynchronize"},
      {&d.cuModuleLoadDataEx, "cuModuleLoadDataEx"},
      {&d.cuModuleUnload, "cuModuleUnload"},
      {&d.cuModuleGetFunction, "cuModuleGetFunction"},
      {&d.cuFuncSetAttribute, "cuFuncSetAttribute"},
      {&d.cuMemAlloc, "cuMemAlloc_v2"},
      {&d.cuMemFree, "cuMemFree_v2"},
      {&d.cuMemAllocHost, "cuMemAllocHost_v2"},
      {&d.cuMemFreeHost, "cuMemFreeHost"},
      {&d.cuMemcpyHtoD, "cuMemcpyHtoD_v2"},
      {&d.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2"},
      {&d.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2"},
      {&d.cuMemsetD8Async, "cuMemsetD8Async"},
      {&d.cuStreamCreate, "cuStreamCreate"},
      {&d.cuStreamDestroy, "cuStreamDestroy_v2"},
      {&d.cuStreamSynchronize, "cuStreamSynchronize"},
      {&d.cuLaunchKernel, "cuLaunchKernel"},
      {&d.cuGraphCreate, "cuGraphCreate"},
      {&d.cuGraphDestroy, "cuGraphDestroy"},
      // The unversioned graph node entry points take the v1 node parameters
      // (CudaKernelNodeParams).
      {&d.cuGraphAddKernelNode, "cuGraphAddKernelNode"},
      {&d.cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags"},
      {&d.cuGraphExecKernelNodeSetParams, "cuGraphExecKernelNodeSetParams"},
      {&d.cuGraphLaunch, "cuGraphLaunch"},
      {&d.cuGraphExecDestroy, "cuGraphExecDestroy"},
      {&d.cuEventCreate, "cuEventCreate"},
      {&d.cuEventRecord, "cuEventRecord"},
      // CUDA 13's cuda.h maps this name to cuEventElapsedTime_v2, which
      // older drivers lack; the original has the same signature.
      {&d.cuEventElapsedTime, "cuEventElapsedTime"},
      {&d.cuEventDestroy, "cuEventDestroy_v2"},
  };
  for (const auto &entry : entries) {
    void *symbol = dlsym(library, entry.symbol);
    if (!symbol) {
      loaded.status = makeError(StatusCode::Unsupported,
                                "the CUDA driver (libcuda.so.1) lacks %s; it "
                                "is older than CUDA 12",
                                entry.symbol);
      return loaded;
    }
    *static_cast<void **>(entry.slot) = symbol;
  }
  loaded.status = ATTN_CU(d.cuInit(0));
  return loaded;
}

} // namespace

Status CudaDriver::get(const CudaDriver *&out) {
  static const LoadedDriver loaded = load();
  if (!loaded.status.ok())
    return loaded.status;
  out = &loaded.driver;
  return Status();
}

Status checkResult(CUresult result, const char *call, const char *file,
                   int line) {
  if (result == CUDA_SUCCESS)
    return Status();
  const char *name = nullptr, *text = nullptr;
  // The error's name and text come from the driver itself; cuInit's failure
  // comes before get() succeeds, so the table is looked up without it.
  static void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL |
                                                    RTLD_NOLOAD);
  if (library) {
    auto getName = reinterpret_cast<CUresult (*)(CUresult, const char **)>(
        dlsym(library, "cuGetErrorName"));
    auto getString = reinterpret_cast<CUresult (*)(CUresult, const char **)>(
        dlsym(library, "cuGetErrorString"));
    if (getName)
      getName(result, &name);
    if (getString)
      getString(result, &text);
  }
  // CUDA_ERROR_OUT_OF_MEMORY.
  StatusCode code =
      result == 2 ? StatusCode::ResourceExhausted : StatusCode::Unsupported;
  // The entry point's name, without the table it is called through or the
  // arguments.
  // "d.cuMemAlloc(...)" and "driver->cuDeviceGetCount(...)" alike.
  std::string_view shown = call;
  for (size_t at = shown.find("cu"); at != std::string_view::npos;
       at = shown.find("cu", at + 1))
    if (at > 0 && (shown[at - 1] == '.' || shown[at - 1] == '>')) {
      shown.remove_prefix(at);
      break;
    }
  shown = shown.substr(0, shown.find('('));
  std::string where = file;
  // The path relative to the repository, as in the sources.
  if (size_t runtime = where.rfind("runtime/"); runtime != std::string::npos)
    where = where.substr(runtime);
  return makeError(code, "%.*s: %s: %s (%s:%d)", (int)shown.size(),
                   shown.data(),
                   name ? name : formatString("CUresult %d", result).c_str(),
                   text ? text : "unknown error", where.c_str(), line);
}

} // namespace attn::runtime::cuda
