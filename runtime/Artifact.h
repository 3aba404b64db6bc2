//===- Artifact.h - A loaded, validated attn artifact -----------*- C++ -*-===//
//
// Loading an artifact maps the file, runs the FlatBuffers verifier before any
// field is read, checks the version, then validates everything a session will
// rely on (indices, tensor placement, that every view stays inside its buffer
// for the steps a program can run, the kernel tables) and decodes the plan. A
// session never checks these again, so a corrupt artifact is an error here,
// not a crash later. Last, the CPU kernels, if any, are loaded and resolved;
// the CUDA kernels (PTX) wait for a CUDA session (cuda/CudaSession.h). Either
// kernel table may be absent, not both.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_ARTIFACT_H
#define ATTN_RUNTIME_ARTIFACT_H

#include "runtime/CpuKernels.h"
#include "runtime/Mapping.h"
#include "runtime/Plan.h"
#include "runtime/Safetensors.h"
#include "runtime/Status.h"
#include "runtime/Tokenizer.h"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace attn::runtime {

/// One CUDA kernel's launch geometry (CudaKernels in the schema).
struct CudaKernelPlan {
  std::string_view name;
  uint32_t blockSize = 0;
  uint32_t itemsPerBlock = 0;
  uint32_t sharedMemoryBytes = 0;
  /// Blocks along y; see CudaKernels.grid_y.
  uint32_t gridY = 1;
  /// Whether the kernel reads its S and T parameters.
  bool readsStep = true;
  /// Device memory each dispatch of the kernel owns; see
  /// CudaKernels.workspace_bytes.
  uint64_t workspaceBytes = 0;
};

/// PTX for one architecture.
struct CudaModulePlan {
  /// "sm_80", and its number, 80 (major * 10 + minor).
  std::string_view arch;
  int computeCapability = 0;
  /// NUL-terminated, as cuModuleLoadDataEx wants it.
  std::string_view ptx;
};

/// An artifact's validated CUDA kernels; kernels[i] is Dispatch.kernel i.
struct CudaPlan {
  std::vector<CudaKernelPlan> kernels;
  std::vector<CudaModulePlan> modules;
};

/// How to open an artifact.
struct OpenOptions {
  /// When not empty, a safetensors file whose tensors replace the external
  /// weights of an artifact compiled with them, bound by name: each tensor
  /// the artifact needs must be there with the artifact's dtype and shape.
  /// The file the artifact records (and its size and hash) is then not
  /// read. Refused for an artifact with embedded weights, which the
  /// compiler may have stored transposed or narrowed.
  std::string weights;
  /// When not empty, the CPU kernel variant to load (its LLVM CPU name, as
  /// attnc --cpu gave it) instead of the first this CPU can run.
  std::string cpuVariant;
};

/// A loaded artifact. Immutable once opened, so any number of threads and
/// sessions may use it at once.
class Artifact {
public:
  Artifact(const Artifact &) = delete;
  Artifact &operator=(const Artifact &) = delete;
  ~Artifact();

  /// Opens, verifies and validates the artifact at `path`, binds its
  /// weights as `options` say and loads its CPU kernels. Every error message
  /// starts with "<path>: ".
  static Status open(const std::string &path, const OpenOptions &options,
                     std::shared_ptr<const Artifact> &out);
  /// open() with the default options: the artifact's own weights.
  static Status open(const std::string &path,
                     std::shared_ptr<const Artifact> &out) {
    return open(path, OpenOptions(), out);
  }

  const std::string &path() const { return path_; }
  std::string_view modelType() const { return modelType_; }
  int64_t vocabSize() const { return vocabSize_; }
  int64_t contextLength() const { return contextLength_; }
  int64_t stopToken() const { return stopToken_; }
  /// -1 when the model has none.
  int64_t bosToken() const { return bosToken_; }

  const std::vector<BufferPlan> &buffers() const { return buffers_; }
  const std::vector<ProgramPlan> &programs() const { return programs_; }
  /// The program called `name`, or null.
  const ProgramPlan *findProgram(std::string_view name) const;
  /// The largest bindingCount and dispatch count over the programs.
  size_t maxBindingCount() const { return maxBindingCount_; }
  size_t maxDispatchCount() const { return maxDispatchCount_; }

  /// The number of kernels (Dispatch.kernel is below it), and their names.
  size_t kernelCount() const { return kernelNames_.size(); }
  std::string_view kernelName(uint32_t index) const {
    return kernelNames_[index];
  }

  /// Whether the artifact has CPU kernels (attnc --target=cuda leaves them
  /// out); kernel() needs them.
  bool hasCpuKernels() const { return kernels_ != nullptr; }
  /// The LLVM CPU name of the CPU kernel variant loaded ("x86-64-v4"), or
  /// empty without CPU kernels.
  std::string_view cpuVariant() const { return cpuVariant_; }
  attn_kernel_fn kernel(uint32_t index) const {
    return kernels_->kernel(index);
  }
  /// The CUDA kernels, or null when the artifact has none.
  const CudaPlan *cuda() const { return cuda_ ? &*cuda_ : nullptr; }

  /// Evaluates `program` at (S, T), checking every view against its buffer:
  /// fills `memrefs` (program.bindingCount entries, the dispatches' bindings
  /// in order), `works` (one per dispatch) and `logits`. A memref's data is
  /// bases[buffer] plus its offset, or null when `bases` is null (to check a
  /// program without a session). Fails on a view outside its buffer, a
  /// negative work size, or logits that are not vocabSize() elements.
  Status evaluateProgram(const ProgramPlan &program, int64_t S, int64_t T,
                         std::byte *const *bases, attn_memref *memrefs,
                         int64_t *works, attn_memref &logits) const;

  /// "buffer 'name'", or "buffer #index" when it has no name.
  std::string describeBuffer(uint32_t index) const;

  /// Appends the tokens of `text` to `tokens`.
  Status tokenize(std::string_view text, std::vector<int32_t> &tokens) const;
  /// The text of `token`; the view lives as long as the artifact.
  Status tokenText(int32_t token, std::string_view &text) const;

  /// An error about this artifact: its message starts with "<path>: ".
  Status error(StatusCode code, const char *format, ...) const
      __attribute__((format(printf, 3, 4)));
  /// `status` with "<path>: " in front of its message.
  Status annotate(Status status) const;

private:
  Artifact() = default;

  // The steps of open(), in order. Their messages do not name the file;
  // open() adds it.
  Status verify();
  Status readConfig();
  Status readTokenizer();
  Status mapWeights();
  Status readTensors();
  Status readBuffers();
  Status readKernelTables();
  Status readPrograms();
  /// Checks the bindings `dispatch` writes (its output and its updates):
  /// distinct, and each a Scratch or KVCache buffer. `where` names it.
  Status checkWrites(const DispatchPlan &dispatch,
                     const std::string &where) const;
  Status readView(const artifact::Binding *binding, const std::string &where,
                  ViewPlan &view) const;
  Status loadKernels();

  /// "program 'decode', dispatch 3 (kernel 'matmul')", or "program 'decode',
  /// logits" when `dispatch` is the program's dispatch count.
  std::string describeDispatch(const ProgramPlan &program,
                               size_t dispatch) const;

  std::string path_;
  Mapping file_;
  /// Bytes of the FlatBuffer at the start of file_: what its seal covers.
  size_t flatbufferSize_ = 0;
  const artifact::Artifact *root_ = nullptr;

  std::string_view modelType_;
  int64_t vocabSize_ = 0;
  int64_t contextLength_ = 0;
  int64_t stopToken_ = 0;
  int64_t bosToken_ = -1;

  /// The external safetensors file, when the weights are external.
  Mapping externalWeights_;
  /// OpenOptions::weights, and the file once mapped.
  std::string weightsPath_;
  std::unique_ptr<SafetensorsFile> boundWeights_;
  /// The bytes tensor offsets are relative to: the embedded segment or the
  /// external file's data section.
  const std::byte *weights_ = nullptr;
  size_t weightsSize_ = 0;
  struct TensorPlan {
    const std::byte *data;
    int64_t elements;
  };
  std::vector<TensorPlan> tensors_;
  struct FreeDeleter {
    void operator()(std::byte *p) const { std::free(p); }
  };
  /// Memory the runtime owns (64-byte aligned) for the external tensors it
  /// transposes when it binds them.
  std::vector<std::unique_ptr<std::byte[], FreeDeleter>> transposedWeights_;
  /// A copy of the [rows, cols] matrix at `data` transposed, owned by the
  /// artifact; the error names `label`.
  Status transposeWeight(const std::string &label, const std::byte *data,
                         int64_t rows, int64_t cols, size_t elementSize,
                         const std::byte *&out);

  std::unique_ptr<Tokenizer> tokenizer_;
  /// Why there is no tokenizer (a kind this runtime cannot run yet); using
  /// it reports this, while the model itself still runs on token ids.
  Status tokenizerError_;

  std::vector<BufferPlan> buffers_;
  std::vector<ProgramPlan> programs_;
  size_t maxBindingCount_ = 0;
  size_t maxDispatchCount_ = 0;
  /// The names Dispatch.kernel indexes: the CPU table's, or the CUDA one's
  /// when there is no CPU table (both agree when both are present).
  std::vector<std::string_view> kernelNames_;
  /// Null without CPU kernels.
  std::unique_ptr<KernelLibrary> kernels_;
  std::string_view cpuVariant_;
  /// OpenOptions::cpuVariant.
  std::string requestedCpuVariant_;
  std::optional<CudaPlan> cuda_;
};

} // namespace attn::runtime

#endif // ATTN_RUNTIME_ARTIFACT_H
