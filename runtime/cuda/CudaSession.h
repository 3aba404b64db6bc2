//===- CudaSession.h - The plan executor on an NVIDIA GPU -------*- C++ -*-===//
//
// The same plan as on the CPU, run with the CUDA driver API:
//
//  - CudaModel: what every session of one artifact on the GPU shares, made
//    once and kept while a session uses it: the device's primary context,
//    the PTX module for the newest architecture the device runs (loaded with
//    cuModuleLoadDataEx), the kernels, and the weights, uploaded once.
//  - CudaSession: one sequence: a stream, device memory for its KVCache,
//    Scratch and Tokens buffers and every dispatch's workspace (one
//    allocation, made and zeroed when the session starts) and for every
//    program's attn_memref array. A step evaluates
//    the bindings at (S, T) on the host exactly as the CPU session does (with
//    device addresses), uploads the token ids and the memref array (one copy
//    each, the array from pinned host memory), launches every dispatch on
//    the stream (kernel ABI: see CudaKernels in the schema), and copies the
//    logits back (into pinned memory).
//  - The decode program (static S) runs as a CUDA graph: built once with one
//    kernel node per dispatch, each depending on the earlier ones that
//    wrote what it reads or read what it writes, and instantiated. The memref array lives at a fixed device address and is
//    re-uploaded before each launch, so a node's `bindings` argument never
//    changes; what does (T, the work size and with it the grid) is patched
//    into the instantiated graph with cuGraphExecKernelNodeSetParams before
//    each replay, as llama.cpp does, for the nodes whose arguments changed.
//    Kernels that do not read S and T (CudaKernels.reads_step) get 0 for
//    them, so in a decode step only the few that do (attention's causal
//    offset, positions) are patched. A step whose set of empty dispatches
//    (work 0, not launched) differs from the graph's rebuilds it.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_CUDA_CUDASESSION_H
#define ATTN_RUNTIME_CUDA_CUDASESSION_H

#include "runtime/Session.h"
#include "runtime/cuda/CudaDriver.h"

#include <memory>
#include <vector>

namespace attn::runtime::cuda {

class CudaModel;

/// Page-locked host memory (cuMemAllocHost): the device copies to and from
/// it directly, without the driver's staging copy through a pinned buffer,
/// and an upload from it returns at once. Released by its owner with
/// release(), which needs the driver.
class PinnedBuffer {
public:
  /// Replaces the buffer by one of `bytes` bytes (contents undefined).
  Status allocate(const CudaDriver &driver, size_t bytes);
  /// Frees the buffer (nothing when there is none).
  void release(const CudaDriver &driver);
  /// The buffer, or null; and its size in bytes.
  void *data() const { return data_; }
  size_t size() const { return bytes_; }

private:
  void *data_ = nullptr;
  size_t bytes_ = 0;
};

class CudaSession final : public Session {
public:
  ~CudaSession() override;

  /// Whether CUDA can be used: the driver loads and initializes and sees at
  /// least one device.
  static bool available();

  /// Creates a session on device 0: fails for an artifact without CUDA
  /// kernels, without a usable driver or GPU, or when the device lacks
  /// memory. The first session of an artifact loads its module and uploads
  /// its weights; later ones share them while any is alive.
  static Status create(std::shared_ptr<const Artifact> artifact,
                       bool profile, std::unique_ptr<CudaSession> &out);

  Device device() const override { return Device::Cuda; }
  Status reset() override;

private:
  explicit CudaSession(std::shared_ptr<const Artifact> artifact);

  Status step(const ProgramPlan &program, const int32_t *tokens, int64_t S,
              int64_t T, const float *&logits) override;
  /// Launches `program`'s dispatches one by one on the stream; when
  /// profiling, between events.
  Status launchDirect(const ProgramPlan &program);
  /// Adds the time between the events of the last launchDirect to the
  /// profile (after the stream has reached them).
  Status recordKernelTimes(const ProgramPlan &program);
  /// Replays (building first, if need be) the graph of `program`.
  Status launchGraph(const ProgramPlan &program);
  Status buildGraph(const ProgramPlan &program);
  void destroyGraph();
  attn_memref *memrefs() { return static_cast<attn_memref *>(memrefs_.data()); }
  /// Copies the view `logits` (device addresses) back and gathers it.
  Status copyLogits(const ProgramPlan &program, const attn_memref &logits);

  std::shared_ptr<CudaModel> model_;
  const CudaDriver *driver_ = nullptr;
  CUstream stream_ = nullptr;
  /// The session's buffers, and every program's memref array.
  CUdeviceptr buffers_ = 0;
  /// Where in buffers_ the dispatches' workspaces lie.
  size_t workspacesBegin_ = 0, workspacesBytes_ = 0;
  CUdeviceptr memrefArrays_ = 0;
  /// Per buffer: its device address (weights: the model's).
  std::vector<std::byte *> bases_;
  /// Per program (in Artifact::programs() order): its memref array's
  /// device address, and each dispatch's workspace (0: none).
  std::vector<CUdeviceptr> programMemrefs_;
  std::vector<std::vector<CUdeviceptr>> programWorkspaces_;

  /// One dispatch's kernel arguments and launch geometry. kernelParams
  /// points into `values`, so the vector is never resized after create.
  struct Launch {
    static constexpr int kParams = 5;
    /// bindings, S, T, work, workspace.
    int64_t values[kParams];
    void *params[kParams];
    CudaKernelNodeParams node;
    /// The arguments and grid of the dispatch's node in the instantiated
    /// graph, so that a replay patches only the nodes that change.
    int64_t graphValues[kParams];
    unsigned graphGridX;

    /// Whether the graph's node already runs this launch.
    bool matchesGraph() const;
    /// Records this launch as what the graph's node runs.
    void markInGraph();
  };
  std::vector<Launch> launches_;

  // Filled at each step; sized for the largest program.
  /// The attn_memref arrays' host side, uploaded every step (pinned).
  PinnedBuffer memrefs_;
  std::vector<int64_t> works_;
  /// Host copy of the device elements the logits view spans (pinned).
  PinnedBuffer span_;
  std::vector<float> logits_;

  /// The graph of `graphProgram_`, with a node per launched dispatch.
  const ProgramPlan *graphProgram_ = nullptr;
  CUgraph graph_ = nullptr;
  CUgraphExec graphExec_ = nullptr;
  /// Per dispatch: its node, or null when it was empty (not launched).
  std::vector<CUgraphNode> nodes_;

  /// When profiling: an event before each launched dispatch and one after
  /// the last (maxDispatchCount + 1), and the dispatch each launch ran.
  std::vector<CUevent> events_;
  std::vector<uint32_t> launched_;
};

} // namespace attn::runtime::cuda

#endif // ATTN_RUNTIME_CUDA_CUDASESSION_H
