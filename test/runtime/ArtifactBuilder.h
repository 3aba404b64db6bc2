//===- ArtifactBuilder.h - Artifacts for the runtime's tests ----*- C++ -*-===//
//
// Until the compiler emits artifacts, the runtime's tests build their own: a
// spec that mirrors the schema, written out with the FlatBuffers builder
// exactly as the format describes (FlatBuffer, padding, weight segment), with
// the kernels of TestKernels.c as the CPU shared object. Tests start from the
// tiny bigram model and change one thing to check one rejection.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TEST_RUNTIME_ARTIFACTBUILDER_H
#define ATTN_TEST_RUNTIME_ARTIFACTBUILDER_H

#include "runtime/schema/artifact_generated.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace attn::test {

namespace fb = attn::artifact;

struct BindingSpec {
  uint32_t buffer = 0;
  fb::Affine offset;
  std::vector<fb::Affine> shape;
  std::vector<fb::Affine> strides;
};

struct DispatchSpec {
  uint32_t kernel = 0;
  std::vector<BindingSpec> bindings;
  /// Dispatch.work_axis: the output axis whose indices are the work items.
  uint32_t workAxis = 0;
  /// Dispatch.updates: bindings before the last the kernel also writes.
  std::vector<uint32_t> updates = {};
};

struct ProgramSpec {
  std::string name;
  int64_t staticS = 0;
  uint32_t tokens = 0;
  std::vector<DispatchSpec> dispatches;
  BindingSpec logits;
};

/// An f32 tensor.
struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
  /// Tensor.transposed: the safetensors file (external weights) lists the
  /// tensor with `shape` reversed, holding `data` as it is, which the
  /// runtime transposes into `shape`.
  bool transposed = false;
};

struct BufferSpec {
  std::string name;
  fb::BufferKind kind = fb::BufferKind_Scratch;
  fb::DType dtype = fb::DType_f32;
  std::vector<fb::Affine> shape;
  int32_t tensor = -1;
};

/// PTX for one architecture (CudaModule).
struct CudaModuleSpec {
  std::string arch;
  std::string ptx;
};

/// The CudaKernels table. The lists are written as given, so that a test can
/// make them disagree.
struct CudaSpec {
  std::vector<std::string> kernelNames;
  std::vector<uint32_t> blockSize;
  std::vector<uint32_t> itemsPerBlock;
  std::vector<uint32_t> sharedMemoryBytes;
  std::vector<CudaModuleSpec> modules;
  /// Optional lists: left empty, they are absent from the artifact.
  std::vector<uint32_t> gridY;
  std::vector<uint8_t> readsStep;
  std::vector<uint64_t> workspaceBytes;
};

struct ArtifactSpec {
  uint32_t version = fb::Version_Current;
  std::string modelType;
  int64_t vocabSize = 0;
  int64_t contextLength = 0;
  int64_t stopToken = 0;
  int64_t bosToken = -1;
  fb::TokenizerKind tokenizerKind = fb::TokenizerKind_Words;
  std::vector<std::string> vocab;
  /// BPE merges by rank (ByteLevelBPE only).
  std::vector<std::string> merges;
  std::vector<TensorSpec> tensors;
  /// Put the weights in a safetensors file with this name instead of the
  /// artifact, when not empty.
  std::string externalWeights;
  std::vector<BufferSpec> buffers;
  std::vector<ProgramSpec> programs;
  std::vector<uint8_t> sharedObject;
  std::vector<std::string> kernelNames;
  std::string targetTriple = "x86_64-unknown-linux-gnu";
  std::string cpuFeatures;
  /// The CpuKernels.cpu of the variant.
  std::string cpuName = "x86-64-v3";
  /// Variants written before that one, as (CPU name, target triple), each
  /// with its shared object, kernel names and features: a loader tries them
  /// first.
  std::vector<std::pair<std::string, std::string>> earlierVariants;
  /// Write the CpuKernels table (sharedObject...cpuFeatures).
  bool cpu = true;
  /// Write a CudaKernels table.
  bool cuda = false;
  CudaSpec cudaKernels;
};

struct BuiltArtifact {
  std::vector<uint8_t> artifact;
  /// The external weights file, when the spec asks for one.
  std::vector<uint8_t> safetensors;
};

BuiltArtifact buildArtifact(const ArtifactSpec &spec);

/// Recomputes the seal of `artifact` (runtime/Trailer.h) over the FlatBuffer
/// size it records, as a hostile artifact would after editing the
/// FlatBuffer; does nothing when the file does not end with a seal whose
/// size fits.
void resealArtifact(std::vector<uint8_t> &artifact);

/// The bytes of the test kernels' shared object (TestKernels.c).
std::vector<uint8_t> testKernelsImage();

// The indices of the test kernels in the bigram model's kernel list.
enum TestKernel : uint32_t {
  kEmbedding = 0,
  kMatvec = 1,
  kCopyRows = 2,
  kAddRowSums = 3,
  kAppendRows = 4,
};

/// The bigram model's vocabulary: "<stop>", " ", "a", "b", "c", "d",
/// "hello", "!".
extern const std::vector<std::string> kBigramVocab;

/// The token that follows `token` in the bigram model: hello -> " " -> a ->
/// b -> c -> d -> <stop>, "!" -> "!", and <stop> -> a (a tie with c that
/// greedy decoding resolves to the lower id).
int32_t bigramNext(int32_t token);

/// The logit the bigram model gives `next` after `token`: 10 for the
/// successor, small distinct values otherwise.
float bigramLogit(int32_t token, int32_t next);

/// A tiny real model: one-hot embeddings, then logits = W[last token]
/// (W[i][j] = bigramLogit(i, j)), computed by the test kernels. Buffers:
/// 0 tokens, 1 embed, 2 bigram, 3 x [S, V] (Scratch), 4 logits [1, V].
/// With `history`, buffer 5 is a KVCache [context, V] that keeps every
/// token's one-hot row, and the logits also count the tokens seen so far:
/// logits[j] = W[last][j] + (occurrences of j in the sequence). With
/// `overwrite`, a last dispatch embeds the tokens into x again, from the
/// bigram table: a write after every read of x, which must not run before
/// them (a CUDA graph's write-after-read edge); the logits are unchanged.
/// With `inPlace` (and `history`), the cache rows are written first, as a
/// Dispatch update of a kernel whose output is a copy of them in buffer 6
/// (Scratch): the row sums must wait for the update (a CUDA graph's
/// read-after-write edge through an update).
ArtifactSpec bigramModel(int64_t contextLength = 16, bool history = false,
                         bool overwrite = false, bool inPlace = false);

/// A CudaKernels table for `spec`'s kernels: their names, 128 threads and
/// one item per block, no shared memory, and sm_80 and sm_90 modules whose
/// PTX declares every kernel with the ABI of the schema (and does nothing).
CudaSpec cudaKernelsFor(const ArtifactSpec &spec);

void writeFile(const std::string &path, const std::vector<uint8_t> &bytes);

} // namespace attn::test

#endif // ATTN_TEST_RUNTIME_ARTIFACTBUILDER_H
