//===- ArtifactBuilder.cpp - Artifacts for the runtime's tests ------------===//

#include "test/runtime/ArtifactBuilder.h"

#include <algorithm>

#include "runtime/Artifact.h"
#include "runtime/Hash.h"
#include "runtime/Trailer.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace attn::test {

static constexpr size_t kAlignment = 64;

static size_t alignTo(size_t value, size_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

std::vector<uint8_t> testKernelsImage() {
  std::ifstream file(ATTN_TEST_KERNELS_PATH, std::ios::binary);
  if (!file)
    throw std::runtime_error("cannot read " ATTN_TEST_KERNELS_PATH);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(file), {});
}

void writeFile(const std::string &path, const std::vector<uint8_t> &bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(reinterpret_cast<const char *>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  if (!file)
    throw std::runtime_error("cannot write " + path);
}

/// The weights as one blob with each tensor's offset in it: 64-byte aligned
/// for the embedded segment, packed for safetensors.
static std::vector<uint8_t> layOutTensors(const ArtifactSpec &spec,
                                          size_t alignment,
                                          std::vector<size_t> &offsets) {
  std::vector<uint8_t> blob;
  for (const TensorSpec &tensor : spec.tensors) {
    blob.resize(alignTo(blob.size(), alignment));
    offsets.push_back(blob.size());
    const auto *bytes = reinterpret_cast<const uint8_t *>(tensor.data.data());
    blob.insert(blob.end(), bytes, bytes + tensor.data.size() * sizeof(float));
  }
  return blob;
}

/// A safetensors file holding `data`: the header lists every tensor, padded
/// with spaces to 8 bytes as the format asks.
static std::vector<uint8_t> makeSafetensors(const ArtifactSpec &spec,
                                            const std::vector<uint8_t> &data,
                                            const std::vector<size_t> &offsets) {
  std::string header = "{";
  for (size_t i = 0; i < spec.tensors.size(); ++i) {
    const TensorSpec &tensor = spec.tensors[i];
    std::vector<int64_t> dims = tensor.shape;
    if (tensor.transposed)
      std::reverse(dims.begin(), dims.end());
    std::string shape;
    for (int64_t dim : dims)
      shape += (shape.empty() ? "" : ",") + std::to_string(dim);
    header += (i ? "," : "") + ("\"" + tensor.name + "\":{\"dtype\":\"F32\"," +
                                "\"shape\":[" + shape + "],\"data_offsets\":[" +
                                std::to_string(offsets[i]) + "," +
                                std::to_string(offsets[i] +
                                               tensor.data.size() * 4) +
                                "]}");
  }
  header += "}";
  header.resize(alignTo(header.size(), 8), ' ');
  std::vector<uint8_t> file(8);
  for (size_t i = 0; i < 8; ++i)
    file[i] = static_cast<uint8_t>(uint64_t(header.size()) >> (8 * i));
  file.insert(file.end(), header.begin(), header.end());
  file.insert(file.end(), data.begin(), data.end());
  return file;
}

static flatbuffers::Offset<fb::Binding>
buildBinding(flatbuffers::FlatBufferBuilder &builder,
             const BindingSpec &binding) {
  return fb::CreateBindingDirect(builder, binding.buffer, &binding.offset,
                                 &binding.shape, &binding.strides);
}

/// The FlatBuffer of `spec`, with the weight segment at `segmentOffset`.
static std::vector<uint8_t>
buildFlatBuffer(const ArtifactSpec &spec, const std::vector<size_t> &offsets,
                uint64_t segmentOffset, const std::vector<uint8_t> &weights) {
  flatbuffers::FlatBufferBuilder builder;
  auto config = fb::CreateModelConfigDirect(
      builder, spec.modelType.c_str(), spec.vocabSize, spec.contextLength,
      /*d_model=*/spec.vocabSize, /*n_layers=*/1, /*n_heads=*/1,
      spec.stopToken, spec.bosToken, "{}");
  std::vector<flatbuffers::Offset<flatbuffers::String>> vocab;
  for (const std::string &token : spec.vocab)
    vocab.push_back(builder.CreateString(token));
  std::vector<flatbuffers::Offset<flatbuffers::String>> merges;
  for (const std::string &merge : spec.merges)
    merges.push_back(builder.CreateString(merge));
  auto tokenizer =
      fb::CreateTokenizerDirect(builder, spec.tokenizerKind, &vocab, &merges);

  std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
  for (size_t i = 0; i < spec.tensors.size(); ++i) {
    const TensorSpec &tensor = spec.tensors[i];
    tensors.push_back(fb::CreateTensorDirect(
        builder, tensor.name.c_str(), fb::DType_f32, &tensor.shape, offsets[i],
        tensor.data.size() * sizeof(float), tensor.transposed,
        spec.externalWeights.empty()
            ? runtime::contentHash(weights.data() + offsets[i],
                                   tensor.data.size() * sizeof(float))
            : 0));
  }
  flatbuffers::Offset<fb::Weights> weightsTable;
  if (spec.externalWeights.empty())
    weightsTable = fb::CreateWeightsDirect(builder, fb::WeightsLocation_Embedded,
                                           segmentOffset, weights.size());
  else
    weightsTable = fb::CreateWeightsDirect(
        builder, fb::WeightsLocation_External, 0, 0,
        spec.externalWeights.c_str(), weights.size(),
        runtime::contentHash(weights.data(), weights.size()));

  std::vector<flatbuffers::Offset<fb::Buffer>> buffers;
  for (const BufferSpec &buffer : spec.buffers)
    buffers.push_back(fb::CreateBufferDirect(builder, buffer.name.c_str(),
                                             buffer.kind, buffer.dtype,
                                             &buffer.shape, buffer.tensor));

  std::vector<flatbuffers::Offset<fb::Program>> programs;
  for (const ProgramSpec &program : spec.programs) {
    std::vector<flatbuffers::Offset<fb::Dispatch>> dispatches;
    for (const DispatchSpec &dispatch : program.dispatches) {
      std::vector<flatbuffers::Offset<fb::Binding>> bindings;
      for (const BindingSpec &binding : dispatch.bindings)
        bindings.push_back(buildBinding(builder, binding));
      dispatches.push_back(fb::CreateDispatchDirect(
          builder, dispatch.kernel, &bindings, dispatch.workAxis,
          dispatch.updates.empty() ? nullptr : &dispatch.updates));
    }
    auto logits = buildBinding(builder, program.logits);
    programs.push_back(fb::CreateProgramDirect(builder, program.name.c_str(),
                                               program.staticS, program.tokens,
                                               &dispatches, logits));
  }

  std::vector<flatbuffers::Offset<flatbuffers::String>> kernelNames;
  for (const std::string &name : spec.kernelNames)
    kernelNames.push_back(builder.CreateString(name));
  std::vector<flatbuffers::Offset<fb::CpuKernels>> cpu;
  auto addVariant = [&](const std::string &name, const std::string &triple) {
    cpu.push_back(fb::CreateCpuKernelsDirect(
        builder, name.c_str(), &spec.sharedObject, &kernelNames,
        triple.c_str(), spec.cpuFeatures.c_str()));
  };
  if (spec.cpu) {
    for (const auto &[name, triple] : spec.earlierVariants)
      addVariant(name, triple);
    addVariant(spec.cpuName, spec.targetTriple);
  }
  flatbuffers::Offset<fb::CudaKernels> cuda;
  if (spec.cuda) {
    const CudaSpec &c = spec.cudaKernels;
    std::vector<flatbuffers::Offset<flatbuffers::String>> cudaNames;
    for (const std::string &name : c.kernelNames)
      cudaNames.push_back(builder.CreateString(name));
    std::vector<flatbuffers::Offset<fb::CudaModule>> modules;
    for (const CudaModuleSpec &module : c.modules)
      modules.push_back(fb::CreateCudaModuleDirect(builder, module.arch.c_str(),
                                                   module.ptx.c_str()));
    cuda = fb::CreateCudaKernelsDirect(
        builder, &cudaNames, &c.blockSize, &c.itemsPerBlock,
        &c.sharedMemoryBytes, &modules, c.gridY.empty() ? nullptr : &c.gridY,
        c.readsStep.empty() ? nullptr : &c.readsStep,
        c.workspaceBytes.empty() ? nullptr : &c.workspaceBytes);
  }

  auto root = fb::CreateArtifactDirect(builder, spec.version, config, tokenizer,
                                       &tensors, weightsTable, &buffers,
                                       &programs, spec.cpu ? &cpu : nullptr,
                                       cuda);
  fb::FinishArtifactBuffer(builder, root);
  return std::vector<uint8_t>(builder.GetBufferPointer(),
                              builder.GetBufferPointer() + builder.GetSize());
}

/// Appends the seal of the first `flatBufferSize` bytes of `artifact`.
static void appendSeal(std::vector<uint8_t> &artifact, size_t flatBufferSize) {
  runtime::ArtifactTrailer trailer =
      runtime::sealFlatBuffer(artifact.data(), flatBufferSize);
  const auto *bytes = reinterpret_cast<const uint8_t *>(&trailer);
  artifact.insert(artifact.end(), bytes, bytes + sizeof(trailer));
}

BuiltArtifact buildArtifact(const ArtifactSpec &spec) {
  bool external = !spec.externalWeights.empty();
  std::vector<size_t> offsets;
  std::vector<uint8_t> weights =
      layOutTensors(spec, external ? 1 : kAlignment, offsets);
  BuiltArtifact built;
  if (external) {
    built.safetensors = makeSafetensors(spec, weights, offsets);
    // The artifact's size and hash cover the whole file.
    built.artifact =
        buildFlatBuffer(spec, offsets, 0, built.safetensors);
    appendSeal(built.artifact, built.artifact.size());
    return built;
  }
  // The segment starts at the first 64-byte boundary after the FlatBuffer,
  // whose size does not depend on the offset's value once it is non-zero.
  uint64_t segmentOffset = kAlignment;
  std::vector<uint8_t> flatBuffer;
  for (;;) {
    flatBuffer = buildFlatBuffer(spec, offsets, segmentOffset, weights);
    uint64_t needed = alignTo(flatBuffer.size(), kAlignment);
    if (needed == segmentOffset)
      break;
    segmentOffset = needed;
  }
  size_t flatBufferSize = flatBuffer.size();
  built.artifact = std::move(flatBuffer);
  built.artifact.resize(segmentOffset);
  built.artifact.insert(built.artifact.end(), weights.begin(), weights.end());
  appendSeal(built.artifact, flatBufferSize);
  return built;
}

void resealArtifact(std::vector<uint8_t> &artifact) {
  runtime::ArtifactTrailer trailer;
  if (!runtime::readArtifactTrailer(artifact.data(), artifact.size(), trailer))
    return;
  trailer = runtime::sealFlatBuffer(artifact.data(), trailer.flatbufferSize);
  std::memcpy(artifact.data() + artifact.size() - sizeof(trailer), &trailer,
              sizeof(trailer));
}

CudaSpec cudaKernelsFor(const ArtifactSpec &spec) {
  CudaSpec cuda;
  cuda.kernelNames = spec.kernelNames;
  size_t count = spec.kernelNames.size();
  cuda.blockSize.assign(count, 128);
  cuda.itemsPerBlock.assign(count, 1);
  cuda.sharedMemoryBytes.assign(count, 0);
  for (const char *arch : {"sm_80", "sm_90"}) {
    std::string ptx = std::string(".version 7.8\n.target ") + arch +
                      "\n.address_size 64\n";
    for (const std::string &name : spec.kernelNames)
      ptx += ".visible .entry " + name +
             "(.param .u64 bindings, .param .u64 S, .param .u64 T, "
             ".param .u64 work, .param .u64 workspace)\n{\n  ret;\n}\n";
    cuda.modules.push_back({arch, ptx});
  }
  return cuda;
}

const std::vector<std::string> kBigramVocab = {"<stop>", " ", "a", "b",
                                               "c",      "d", "hello", "!"};

int32_t bigramNext(int32_t token) {
  static const int32_t next[] = {/*<stop>*/ 2, /*" "*/ 2, /*a*/ 3, /*b*/ 4,
                                 /*c*/ 5, /*d*/ 0, /*hello*/ 1, /*!*/ 7};
  return next[token];
}

float bigramLogit(int32_t token, int32_t next) {
  if (next == bigramNext(token) || (token == 0 && next == 4))
    return 10;
  return -static_cast<float>(next) / 8;
}

ArtifactSpec bigramModel(int64_t contextLength, bool history,
                         bool overwrite, bool inPlace) {
  const int64_t V = static_cast<int64_t>(kBigramVocab.size());
  ArtifactSpec spec;
  spec.modelType = "bigram";
  spec.vocabSize = V;
  spec.contextLength = contextLength;
  spec.stopToken = 0;
  spec.vocab = kBigramVocab;

  TensorSpec embed{"embed", {V, V}, std::vector<float>(V * V, 0.0f)};
  TensorSpec bigram{"bigram", {V, V}, {}};
  for (int32_t i = 0; i < V; ++i) {
    embed.data[i * V + i] = 1;
    for (int32_t j = 0; j < V; ++j)
      bigram.data.push_back(bigramLogit(i, j));
  }
  spec.tensors = {embed, bigram};

  fb::Affine s(1, 0, 0), t(0, 1, 0), v(0, 0, V), one(0, 0, 1), zero;
  spec.buffers = {
      {"tokens", fb::BufferKind_Tokens, fb::DType_i32, {s}},
      {"embed", fb::BufferKind_Weight, fb::DType_f32, {v, v}, 0},
      {"bigram", fb::BufferKind_Weight, fb::DType_f32, {v, v}, 1},
      {"x", fb::BufferKind_Scratch, fb::DType_f32, {s, v}},
      {"logits", fb::BufferKind_Scratch, fb::DType_f32, {one, v}},
  };
  BindingSpec tokens{0, zero, {s}, {one}};
  BindingSpec x{3, zero, {s, v}, {v, one}};
  // The last row of x: offset (S - 1) * V.
  BindingSpec lastRow{3, fb::Affine(V, 0, -V), {one, v}, {v, one}};
  BindingSpec logits{4, zero, {one, v}, {v, one}};
  std::vector<DispatchSpec> dispatches = {
      {kEmbedding, {tokens, {1, zero, {v, v}, {v, one}}, x}, 0},
      {kMatvec, {lastRow, {2, zero, {v, v}, {v, one}}, logits}, 1},
  };
  if (history) {
    spec.buffers.push_back({"history",
                            fb::BufferKind_KVCache,
                            fb::DType_f32,
                            {fb::Affine(0, 0, contextLength), v}});
    // Rows [T, T + S) of the cache get this step's rows of x, then the
    // logits add the column sums of rows [0, S + T).
    BindingSpec newRows{5, fb::Affine(0, V, 0), {s, v}, {v, one}};
    if (inPlace) {
      // Before the matvec, so that the fake, which runs the highest ready
      // node first, would run the sums before it without the edge.
      spec.buffers.push_back(
          {"echo", fb::BufferKind_Scratch, fb::DType_f32, {s, v}});
      dispatches.insert(dispatches.begin() + 1,
                        {kAppendRows,
                         {x, newRows, {6, zero, {s, v}, {v, one}}},
                         0,
                         {1}});
    } else {
      dispatches.push_back({kCopyRows, {x, newRows}, 0});
    }
    dispatches.push_back(
        {kAddRowSums, {{5, zero, {fb::Affine(1, 1, 0), v}, {v, one}}, logits}, 1});
  }
  if (overwrite)
    dispatches.push_back(
        {kEmbedding, {tokens, {2, zero, {v, v}, {v, one}}, x}, 0});
  spec.programs = {{"prefill", 0, 0, dispatches, logits},
                   {"decode", 1, 0, dispatches, logits}};
  spec.sharedObject = testKernelsImage();
  spec.kernelNames = {"attn_test_embedding", "attn_test_matvec",
                      "attn_test_copy_rows", "attn_test_add_row_sums"};
  if (history && inPlace)
    spec.kernelNames.push_back("attn_test_append_rows");
  return spec;
}

} // namespace attn::test
