//===- CudaSession.cpp - The plan executor on an NVIDIA GPU ---------------===//

#include "runtime/cuda/CudaSession.h"

#include "attn/kernel_abi.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>

namespace attn::runtime::cuda {

namespace fb = attn::artifact;

/// Device allocations are split into sub-buffers at this alignment (what
/// cuMemAlloc itself guarantees), which the kernels' widened loads rely on.
static constexpr size_t kDeviceAlignment = ATTN_DEVICE_BUFFER_ALIGNMENT;

static size_t alignUp(size_t value) {
  return (value + kDeviceAlignment - 1) / kDeviceAlignment * kDeviceAlignment;
}

/// What every session of one artifact on the GPU shares. Immutable once
/// made; its destructor releases the device resources.
class CudaModel {
public:
  CudaModel(const CudaModel &) = delete;
  CudaModel &operator=(const CudaModel &) = delete;
  ~CudaModel();

  /// The model of `artifact`: the live one if a session still holds it,
  /// else a new one (which loads the module and uploads the weights).
  /// Thread-safe.
  static Status get(const std::shared_ptr<const Artifact> &artifact,
                    std::shared_ptr<CudaModel> &out);

  const CudaDriver &driver() const { return *driver_; }
  CUcontext context() const { return context_; }
  CUfunction function(uint32_t kernel) const { return functions_[kernel]; }
  /// The device address of weight buffer `buffer`'s first element.
  std::byte *weight(uint32_t buffer) const { return weights_[buffer]; }

private:
  explicit CudaModel(std::shared_ptr<const Artifact> artifact)
      : artifact_(std::move(artifact)) {}
  Status load();
  Status loadModule();
  Status uploadWeights();

  std::shared_ptr<const Artifact> artifact_;
  const CudaDriver *driver_ = nullptr;
  CUdevice device_ = 0;
  CUcontext context_ = nullptr;
  CUmodule module_ = nullptr;
  std::vector<CUfunction> functions_;
  CUdeviceptr weightMemory_ = 0;
  /// Per buffer: its device address, for Weight buffers.
  std::vector<std::byte *> weights_;
};

Status CudaModel::get(const std::shared_ptr<const Artifact> &artifact,
                      std::shared_ptr<CudaModel> &out) {
  // Keyed by address: a model holds its artifact, so while an entry is live
  // no other artifact can have that address.
  static std::mutex mutex;
  static std::map<const Artifact *, std::weak_ptr<CudaModel>> models;
  std::lock_guard<std::mutex> lock(mutex);
  for (auto it = models.begin(); it != models.end();)
    it = it->second.expired() ? models.erase(it) : std::next(it);
  // The last session may drop an entry's model between the sweep above and
  // this lookup; then a new model replaces the expired entry.
  if (auto it = models.find(artifact.get()); it != models.end())
    if (std::shared_ptr<CudaModel> live = it->second.lock()) {
      out = std::move(live);
      return Status();
    }
  std::shared_ptr<CudaModel> model(new CudaModel(artifact));
  ATTN_RETURN_IF_ERROR(model->load());
  models[artifact.get()] = model;
  out = std::move(model);
  return Status();
}

Status CudaModel::load() {
  ATTN_RETURN_IF_ERROR(CudaDriver::get(driver_));
  const CudaDriver &d = *driver_;
  int count = 0;
  ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuDeviceGetCount(&count)));
  if (count == 0)
    return makeError(StatusCode::Unsupported, "there is no CUDA device");
  ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuDeviceGet(&device_, 0)));
  // The primary context: the one the CUDA runtime (and PyTorch) use too, so
  // that sharing a process with them costs no second context.
  ATTN_RETURN_IF_ERROR(
      ATTN_CU(d.cuDevicePrimaryCtxRetain(&context_, device_)));
  ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuCtxSetCurrent(context_)));
  ATTN_RETURN_IF_ERROR(loadModule());
  return uploadWeights();
}

Status CudaModel::loadModule() {
  const CudaDriver &d = *driver_;
  const CudaPlan &cuda = *artifact_->cuda();
  int major = 0, minor = 0;
  ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuDeviceGetAttribute(
      &major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device_)));
  ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuDeviceGetAttribute(
      &minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device_)));
  int capability = major * 10 + minor;
  // The newest PTX the device can run; the driver compiles it for the
  // device, newer ones included.
  const CudaModulePlan *chosen = nullptr;
  std::string archs;
  for (const CudaModulePlan &module : cuda.modules) {
    archs += (archs.empty() ? "" : ", ") + std::string(module.arch);
    if (module.computeCapability <= capability &&
        (!chosen || module.computeCapability > chosen->computeCapability))
      chosen = &module;
  }
  if (!chosen)
    return makeError(StatusCode::Unsupported,
                     "the GPU has compute capability %d.%d; the artifact's "
                     "PTX needs %s",
                     major, minor, archs.c_str());

  // ptxas's complaints, if the PTX does not compile for this device.
  char log[4096] = {};
  int options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {log, reinterpret_cast<void *>(sizeof(log))};
  Status status = ATTN_CU(d.cuModuleLoadDataEx(&module_, chosen->ptx.data(),
                                               2, options, values));
  if (!status.ok()) {
    std::string detail(log, strnlen(log, sizeof(log)));
    std::replace(detail.begin(), detail.end(), '\n', ' ');
    return Status(status.code(),
                  formatString("the %.*s PTX: ", (int)chosen->arch.size(),
                               chosen->arch.data()) +
                      status.message() +
                      (detail.empty() ? "" : "; ptxas: " + detail));
  }

  int sharedLimit = 0;
  ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuDeviceGetAttribute(
      &sharedLimit, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
      device_)));
  for (const CudaKernelPlan &kernel : cuda.kernels) {
    std::string name(kernel.name);
    CUfunction function;
    Status found =
        ATTN_CU(d.cuModuleGetFunction(&function, module_, name.c_str()));
    if (!found.ok())
      return std::move(found).withPrefix("kernel '" + name + "': ");
    if (kernel.sharedMemoryBytes > static_cast<unsigned>(sharedLimit))
      return makeError(StatusCode::Unsupported,
                       "kernel '%s' needs %u bytes of shared memory; the GPU "
                       "has %d per block",
                       name.c_str(), kernel.sharedMemoryBytes, sharedLimit);
    // Above 48 KiB a kernel must opt in to its dynamic shared memory.
    if (kernel.sharedMemoryBytes > kDefaultSharedMemoryLimit)
      ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuFuncSetAttribute(
          function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
          static_cast<int>(kernel.sharedMemoryBytes))));
    functions_.push_back(function);
  }
  return Status();
}

Status CudaModel::uploadWeights() {
  const CudaDriver &d = *driver_;
  const std::vector<BufferPlan> &buffers = artifact_->buffers();
  // Weight buffers that share a tensor share its device copy.
  std::map<const std::byte *, size_t> offsets;
  size_t total = 0;
  for (const BufferPlan &buffer : buffers)
    if (buffer.kind == fb::BufferKind_Weight &&
        offsets.emplace(buffer.weight, total).second)
      total += alignUp(static_cast<size_t>(buffer.elements) *
                       dtypeSize(buffer.dtype));
  weights_.assign(buffers.size(), nullptr);
  if (total == 0)
    return Status();
  ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuMemAlloc(&weightMemory_, total)));
  for (const auto &[host, offset] : offsets) {
    // Sizes from the first buffer on that tensor; all have its size.
    auto buffer = std::find_if(buffers.begin(), buffers.end(),
                               [&, host = host](const BufferPlan &b) {
                                 return b.kind == fb::BufferKind_Weight &&
                                        b.weight == host;
                               });
    size_t bytes = static_cast<size_t>(buffer->elements) *
                   dtypeSize(buffer->dtype);
    ATTN_RETURN_IF_ERROR(
        ATTN_CU(d.cuMemcpyHtoD(weightMemory_ + offset, host, bytes)));
  }
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].kind == fb::BufferKind_Weight)
      weights_[i] = reinterpret_cast<std::byte *>(
          weightMemory_ + offsets[buffers[i].weight]);
  // A copy from pageable memory may return before its DMA ends, and the
  // sessions' streams do not wait for the legacy stream it runs on.
  return ATTN_CU(d.cuCtxSynchronize());
}

CudaModel::~CudaModel() {
  if (!context_)
    return;
  // Nothing can report a failure here; the process goes on without it.
  const CudaDriver &d = *driver_;
  (void)ATTN_CU(d.cuCtxSetCurrent(context_));
  if (weightMemory_)
    (void)ATTN_CU(d.cuMemFree(weightMemory_));
  if (module_)
    (void)ATTN_CU(d.cuModuleUnload(module_));
  (void)ATTN_CU(d.cuDevicePrimaryCtxRelease(device_));
}

bool CudaSession::available() {
  const CudaDriver *driver;
  int count = 0;
  return CudaDriver::get(driver).ok() &&
         ATTN_CU(driver->cuDeviceGetCount(&count)).ok() && count > 0;
}

CudaSession::CudaSession(std::shared_ptr<const Artifact> artifact)
    : Session(std::move(artifact)) {}

Status CudaSession::create(std::shared_ptr<const Artifact> artifact,
                           bool profile, std::unique_ptr<CudaSession> &out) {
  if (!artifact->cuda())
    return artifact->error(StatusCode::Unsupported,
                           "the artifact has no CUDA kernels (compile it "
                           "with attnc --target=cuda or --target=all)");
  std::unique_ptr<CudaSession> session(new CudaSession(artifact));
  const Artifact &model = *artifact;
  Status status = [&] {
    ATTN_RETURN_IF_ERROR(CudaModel::get(artifact, session->model_));
    session->driver_ = &session->model_->driver();
    const CudaDriver &d = *session->driver_;
    ATTN_RETURN_IF_ERROR(
        ATTN_CU(d.cuCtxSetCurrent(session->model_->context())));
    ATTN_RETURN_IF_ERROR(
        ATTN_CU(d.cuStreamCreate(&session->stream_, CU_STREAM_NON_BLOCKING)));

    // One allocation for the KVCache, Scratch and Tokens buffers, zeroed
    // (KV caches must start so; the rest costs nothing more).
    const std::vector<BufferPlan> &buffers = model.buffers();
    std::vector<size_t> offsets(buffers.size(), 0);
    size_t total = 0;
    for (size_t i = 0; i < buffers.size(); ++i)
      if (buffers[i].kind != fb::BufferKind_Weight) {
        offsets[i] = total;
        // The loader checked that this product does not overflow.
        total += alignUp(static_cast<size_t>(buffers[i].elements) *
                         dtypeSize(buffers[i].dtype));
      }
    // Then every dispatch's workspace, its own (a kernel leaves it as its
    // next launch expects it, which another kernel would not).
    const CudaPlan &cuda = *model.cuda();
    std::vector<std::vector<size_t>> workspaceOffsets;
    session->workspacesBegin_ = total;
    for (const ProgramPlan &program : model.programs()) {
      std::vector<size_t> &offsets = workspaceOffsets.emplace_back();
      for (const DispatchPlan &dispatch : program.dispatches) {
        size_t bytes = cuda.kernels[dispatch.kernel].workspaceBytes;
        offsets.push_back(bytes == 0 ? SIZE_MAX : total);
        // The loader bounds each kernel's bytes, so the sum cannot
        // overflow.
        total += alignUp(bytes);
      }
    }
    session->workspacesBytes_ = total - session->workspacesBegin_;
    if (total > 0) {
      ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuMemAlloc(&session->buffers_, total)));
      ATTN_RETURN_IF_ERROR(ATTN_CU(
          d.cuMemsetD8Async(session->buffers_, 0, total, session->stream_)));
    }
    session->bases_.resize(buffers.size());
    for (size_t i = 0; i < buffers.size(); ++i)
      session->bases_[i] =
          buffers[i].kind == fb::BufferKind_Weight
              ? session->model_->weight(static_cast<uint32_t>(i))
              : reinterpret_cast<std::byte *>(session->buffers_ + offsets[i]);

    // Each program's memref array at its own fixed address, so that a
    // graph's arguments stay valid across steps.
    size_t memrefBytes = 0;
    std::vector<size_t> programOffsets;
    for (const ProgramPlan &program : model.programs()) {
      programOffsets.push_back(memrefBytes);
      memrefBytes += alignUp(program.bindingCount * sizeof(attn_memref));
    }
    if (memrefBytes > 0)
      ATTN_RETURN_IF_ERROR(
          ATTN_CU(d.cuMemAlloc(&session->memrefArrays_, memrefBytes)));
    for (size_t offset : programOffsets)
      session->programMemrefs_.push_back(session->memrefArrays_ + offset);

    for (const std::vector<size_t> &offsets : workspaceOffsets) {
      std::vector<CUdeviceptr> &addresses =
          session->programWorkspaces_.emplace_back();
      for (size_t offset : offsets)
        addresses.push_back(offset == SIZE_MAX ? 0
                                               : session->buffers_ + offset);
    }

    session->launches_.resize(model.maxDispatchCount());
    for (Launch &launch : session->launches_)
      for (int p = 0; p < Launch::kParams; ++p)
        launch.params[p] = &launch.values[p];
    ATTN_RETURN_IF_ERROR(session->memrefs_.allocate(
        d, model.maxBindingCount() * sizeof(attn_memref)));
    session->works_.resize(model.maxDispatchCount());
    session->logits_.resize(static_cast<size_t>(model.vocabSize()));
    // Enough for a contiguous [1, vocab] logits view, so that steps do not
    // allocate; a strided view may grow it once.
    ATTN_RETURN_IF_ERROR(session->span_.allocate(
        d, static_cast<size_t>(model.vocabSize()) * sizeof(float)));
    if (profile) {
      session->events_.resize(model.maxDispatchCount() + 1);
      for (CUevent &event : session->events_)
        ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuEventCreate(&event, 0)));
      session->launched_.reserve(model.maxDispatchCount());
    }
    return ATTN_CU(d.cuStreamSynchronize(session->stream_));
  }();
  if (!status.ok())
    return model.annotate(std::move(status));
  out = std::move(session);
  return Status();
}

CudaSession::~CudaSession() {
  if (!driver_)
    return;
  // Nothing can report a failure here; the process goes on without it.
  const CudaDriver &d = *driver_;
  (void)ATTN_CU(d.cuCtxSetCurrent(model_->context()));
  if (stream_)
    (void)ATTN_CU(d.cuStreamSynchronize(stream_));
  destroyGraph();
  for (CUevent event : events_)
    if (event)
      (void)ATTN_CU(d.cuEventDestroy(event));
  memrefs_.release(d);
  span_.release(d);
  if (memrefArrays_)
    (void)ATTN_CU(d.cuMemFree(memrefArrays_));
  if (buffers_)
    (void)ATTN_CU(d.cuMemFree(buffers_));
  if (stream_)
    (void)ATTN_CU(d.cuStreamDestroy(stream_));
}

void CudaSession::destroyGraph() {
  const CudaDriver &d = *driver_;
  if (graphExec_)
    (void)ATTN_CU(d.cuGraphExecDestroy(graphExec_));
  if (graph_)
    (void)ATTN_CU(d.cuGraphDestroy(graph_));
  graphExec_ = nullptr;
  graph_ = nullptr;
  graphProgram_ = nullptr;
  nodes_.clear();
}

Status CudaSession::reset() {
  const CudaDriver &d = *driver_;
  const Artifact &model = *artifact_;
  Status status = [&] {
    ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuCtxSetCurrent(model_->context())));
    const std::vector<BufferPlan> &buffers = model.buffers();
    for (size_t i = 0; i < buffers.size(); ++i)
      if (buffers[i].kind == fb::BufferKind_KVCache)
        ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuMemsetD8Async(
            reinterpret_cast<CUdeviceptr>(bases_[i]), 0,
            static_cast<size_t>(buffers[i].elements) *
                dtypeSize(buffers[i].dtype),
            stream_)));
    // Kernels leave their workspaces as the next launch expects them; a
    // step that failed part way may not have.
    if (workspacesBytes_ > 0)
      ATTN_RETURN_IF_ERROR(ATTN_CU(
          d.cuMemsetD8Async(buffers_ + workspacesBegin_, 0, workspacesBytes_,
                            stream_)));
    return ATTN_CU(d.cuStreamSynchronize(stream_));
  }();
  return model.annotate(std::move(status));
}

Status CudaSession::step(const ProgramPlan &program, const int32_t *tokens,
                         int64_t S, int64_t T, const float *&logits) {
  const CudaDriver &d = *driver_;
  const Artifact &model = *artifact_;
  const CudaPlan &cuda = *model.cuda();
  size_t index = programIndex(program);
  Status status = [&] {
    attn_memref logitsView;
    ATTN_RETURN_IF_ERROR(model.evaluateProgram(program, S, T, bases_.data(),
                                               memrefs(), works_.data(),
                                               logitsView));
    // Every dispatch's arguments and grid.
    CUdeviceptr bindings = programMemrefs_[index];
    for (size_t i = 0; i < program.dispatches.size(); ++i) {
      const DispatchPlan &dispatch = program.dispatches[i];
      const CudaKernelPlan &kernel = cuda.kernels[dispatch.kernel];
      int64_t blocks = works_[i] / kernel.itemsPerBlock +
                       (works_[i] % kernel.itemsPerBlock != 0);
      if (blocks > INT_MAX)
        return makeError(StatusCode::InvalidArtifact,
                         "kernel '%.*s': %lld work items need %lld blocks, "
                         "more than a grid holds",
                         (int)kernel.name.size(), kernel.name.data(),
                         (long long)works_[i], (long long)blocks);
      Launch &launch = launches_[i];
      launch.values[0] = static_cast<int64_t>(bindings);
      launch.values[1] = kernel.readsStep ? S : 0;
      launch.values[2] = kernel.readsStep ? T : 0;
      launch.values[3] = works_[i];
      launch.values[4] = static_cast<int64_t>(programWorkspaces_[index][i]);
      launch.node = {model_->function(dispatch.kernel),
                     static_cast<unsigned>(blocks),
                     kernel.gridY,
                     1,
                     kernel.blockSize,
                     1,
                     1,
                     kernel.sharedMemoryBytes,
                     launch.params,
                     nullptr};
      bindings += dispatch.bindings.size() * sizeof(attn_memref);
    }

    ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuCtxSetCurrent(model_->context())));
    ATTN_RETURN_IF_ERROR(ATTN_CU(
        d.cuMemcpyHtoDAsync(reinterpret_cast<CUdeviceptr>(
                                bases_[program.tokens]),
                            tokens, S * sizeof(int32_t), stream_)));
    if (program.bindingCount > 0)
      ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuMemcpyHtoDAsync(
          programMemrefs_[index], memrefs_.data(),
          program.bindingCount * sizeof(attn_memref), stream_)));
    // A graph hides where one kernel ends and the next begins.
    bool graph = program.staticS != 0 && events_.empty();
    ATTN_RETURN_IF_ERROR(graph ? launchGraph(program)
                               : launchDirect(program));
    ATTN_RETURN_IF_ERROR(copyLogits(program, logitsView));
    return events_.empty() ? Status() : recordKernelTimes(program);
  }();
  if (!status.ok()) {
    // Work queued before the failure may still read the pinned memref
    // array, which the next step rewrites; its own error is this one's.
    (void)ATTN_CU(d.cuStreamSynchronize(stream_));
    return model.annotate(std::move(status));
  }
  logits = logits_.data();
  return Status();
}

Status CudaSession::launchDirect(const ProgramPlan &program) {
  const CudaDriver &d = *driver_;
  bool profiling = !events_.empty();
  launched_.clear();
  for (size_t i = 0; i < program.dispatches.size(); ++i) {
    const CudaKernelNodeParams &node = launches_[i].node;
    // A grid cannot be empty; an empty dispatch has nothing to do.
    if (node.gridDimX == 0)
      continue;
    if (profiling)
      ATTN_RETURN_IF_ERROR(
          ATTN_CU(d.cuEventRecord(events_[launched_.size()], stream_)));
    ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuLaunchKernel(
        node.func, node.gridDimX, node.gridDimY, 1, node.blockDimX, 1, 1,
        node.sharedMemBytes, stream_, node.kernelParams, nullptr)));
    // Reserved when profiling only: other steps must not allocate.
    if (profiling)
      launched_.push_back(static_cast<uint32_t>(i));
  }
  if (profiling)
    return ATTN_CU(d.cuEventRecord(events_[launched_.size()], stream_));
  return Status();
}

Status CudaSession::recordKernelTimes(const ProgramPlan &program) {
  const CudaDriver &d = *driver_;
  for (size_t i = 0; i < launched_.size(); ++i) {
    float ms = 0;
    ATTN_RETURN_IF_ERROR(
        ATTN_CU(d.cuEventElapsedTime(&ms, events_[i], events_[i + 1])));
    profile_->addKernel(programIndex(program),
                        program.dispatches[launched_[i]].kernel, ms * 1e-3);
  }
  return Status();
}

Status CudaSession::buildGraph(const ProgramPlan &program) {
  const CudaDriver &d = *driver_;
  destroyGraph();
  ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuGraphCreate(&graph_, 0)));
  nodes_.assign(program.dispatches.size(), nullptr);
  // Edges from the buffers each dispatch reads and writes (its last binding
  // and its updates): a node waits for the last writer of every buffer it
  // touches and, to write one, for the readers since that write. Dispatches
  // that share nothing may then run side by side instead of one after the
  // other.
  size_t buffers = artifact_->buffers().size();
  std::vector<CUgraphNode> lastWriter(buffers, nullptr);
  std::vector<std::vector<CUgraphNode>> readers(buffers);
  std::vector<CUgraphNode> deps;
  auto need = [&](CUgraphNode node) {
    if (node && std::find(deps.begin(), deps.end(), node) == deps.end())
      deps.push_back(node);
  };
  for (size_t i = 0; i < program.dispatches.size(); ++i) {
    if (launches_[i].node.gridDimX == 0)
      continue;
    const DispatchPlan &dispatch = program.dispatches[i];
    const std::vector<ViewPlan> &bindings = dispatch.bindings;
    deps.clear();
    for (size_t b = 0; b < bindings.size(); ++b) {
      uint32_t buffer = bindings[b].buffer;
      need(lastWriter[buffer]);
      if (dispatch.writes(b))
        for (CUgraphNode reader : readers[buffer])
          need(reader);
    }
    ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuGraphAddKernelNode(
        &nodes_[i], graph_, deps.empty() ? nullptr : deps.data(), deps.size(),
        &launches_[i].node)));
    for (size_t b = 0; b < bindings.size(); ++b)
      if (!dispatch.writes(b))
        readers[bindings[b].buffer].push_back(nodes_[i]);
    for (size_t b = 0; b < bindings.size(); ++b)
      if (dispatch.writes(b)) {
        lastWriter[bindings[b].buffer] = nodes_[i];
        readers[bindings[b].buffer].clear();
      }
    launches_[i].markInGraph();
  }
  ATTN_RETURN_IF_ERROR(
      ATTN_CU(d.cuGraphInstantiateWithFlags(&graphExec_, graph_, 0)));
  graphProgram_ = &program;
  return Status();
}

Status PinnedBuffer::allocate(const CudaDriver &driver, size_t bytes) {
  release(driver);
  if (bytes == 0)
    return Status();
  ATTN_RETURN_IF_ERROR(ATTN_CU(driver.cuMemAllocHost(&data_, bytes)));
  bytes_ = bytes;
  return Status();
}

void PinnedBuffer::release(const CudaDriver &driver) {
  if (data_)
    (void)ATTN_CU(driver.cuMemFreeHost(data_));
  data_ = nullptr;
  bytes_ = 0;
}

bool CudaSession::Launch::matchesGraph() const {
  return node.gridDimX == graphGridX &&
         std::equal(values, values + kParams, graphValues);
}

void CudaSession::Launch::markInGraph() {
  graphGridX = node.gridDimX;
  std::copy(values, values + kParams, graphValues);
}

Status CudaSession::launchGraph(const ProgramPlan &program) {
  const CudaDriver &d = *driver_;
  bool same = graphProgram_ == &program;
  for (size_t i = 0; same && i < program.dispatches.size(); ++i)
    same = (nodes_[i] != nullptr) == (launches_[i].node.gridDimX != 0);
  if (!same) {
    // Built with this step's arguments: nothing to patch.
    Status status = buildGraph(program);
    if (!status.ok()) {
      destroyGraph();
      return status;
    }
  } else {
    for (size_t i = 0; i < program.dispatches.size(); ++i) {
      Launch &launch = launches_[i];
      if (!nodes_[i] || launch.matchesGraph())
        continue;
      ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuGraphExecKernelNodeSetParams(
          graphExec_, nodes_[i], &launch.node)));
      launch.markInGraph();
    }
  }
  return ATTN_CU(d.cuGraphLaunch(graphExec_, stream_));
}

Status CudaSession::copyLogits(const ProgramPlan &program,
                               const attn_memref &view) {
  const CudaDriver &d = *driver_;
  // The elements the view spans (evaluateProgram checked that they lie in
  // the buffer), copied in one piece, then gathered on the host.
  int64_t low = 0, high = 0;
  for (uint32_t dim = 0; dim < program.logits.rank; ++dim) {
    int64_t extent = (view.sizes[dim] - 1) * view.strides[dim];
    (extent < 0 ? low : high) += extent;
  }
  size_t count = static_cast<size_t>(high - low + 1);
  if (span_.size() < count * sizeof(float))
    ATTN_RETURN_IF_ERROR(span_.allocate(d, count * sizeof(float)));
  CUdeviceptr first = reinterpret_cast<CUdeviceptr>(view.data) +
                      static_cast<CUdeviceptr>(low * int64_t(sizeof(float)));
  auto *span = static_cast<float *>(span_.data());
  ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuMemcpyDtoHAsync(
      span, first, count * sizeof(float), stream_)));
  // A kernel fault of this step surfaces at the copy above or here.
  ATTN_RETURN_IF_ERROR(ATTN_CU(d.cuStreamSynchronize(stream_)));
  attn_memref host = view;
  host.data = span - low;
  gatherF32(host, program.logits.rank, logits_.data());
  return Status();
}

} // namespace attn::runtime::cuda
