//===- RuntimeArtifactTest.cpp - The artifact loader's checks -------------===//
//
// Every rejection is a real artifact written to disk with one thing wrong,
// and the test asserts the exact message the user would read.
//
//===----------------------------------------------------------------------===//

#include "runtime/Artifact.h"
#include "runtime/CpuKernels.h"
#include "runtime/Hash.h"
#include "runtime/Trailer.h"
#include "test/runtime/RuntimeTest.h"

#include <gmock/gmock.h>

#include <cstdio>

using namespace attn::runtime;
using namespace attn::test;
using ::testing::EndsWith;
using ::testing::StartsWith;

namespace {

using RuntimeArtifactTest = RuntimeTest;

/// The bigram model's weight segment: two 8x8 f32 tensors, 64-byte aligned.
constexpr size_t kSegmentSize = 2 * 8 * 8 * 4;

/// The loader's error for a file that does not end with its seal.
constexpr const char *kNoSeal = ": the file does not end with a valid seal (it "
                                "is truncated, or was not written by attnc)";

// XXH3-64 with seed 0, as xxHash's own and LLVM's independent
// implementation (llvm::xxh3_64bits) compute them; 1000 bytes take the long
// input path.
TEST(RuntimeHashTest, ContentHashIsXXH3) {
  EXPECT_EQ(contentHash(nullptr, 0), 0x2d06800538d394c2ull);
  EXPECT_EQ(contentHash("a", 1), 0xe6c632b61e964e1full);
  EXPECT_EQ(contentHash("foobar", 6), 0xd78fda63144c5c84ull);
  std::vector<uint8_t> bytes(1000);
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<uint8_t>(i * 7 + 3);
  EXPECT_EQ(contentHash(bytes.data(), bytes.size()), 0x6c4f14bd97bd9e82ull);
}

TEST_F(RuntimeArtifactTest, LoadsTheBigramModel) {
  auto artifact = open(bigramModel(16));
  ASSERT_TRUE(artifact);
  EXPECT_EQ(artifact->modelType(), "bigram");
  EXPECT_EQ(artifact->vocabSize(), 8);
  EXPECT_EQ(artifact->contextLength(), 16);
  EXPECT_EQ(artifact->stopToken(), 0);
  EXPECT_EQ(artifact->bosToken(), -1);
  ASSERT_EQ(artifact->buffers().size(), 5u);
  // Scratch is sized for S = T = context length; weights by their tensor.
  EXPECT_EQ(artifact->buffers()[0].elements, 16);
  EXPECT_EQ(artifact->buffers()[1].elements, 64);
  EXPECT_EQ(artifact->buffers()[3].elements, 16 * 8);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(artifact->buffers()[1].weight) % 64,
            0u);
  ASSERT_NE(artifact->findProgram("decode"), nullptr);
  EXPECT_EQ(artifact->findProgram("decode")->staticS, 1);
  EXPECT_EQ(artifact->findProgram("prefill")->bindingCount, 6u);
  EXPECT_EQ(artifact->findProgram("nope"), nullptr);
}

TEST_F(RuntimeArtifactTest, RejectsAMissingFile) {
  EXPECT_EQ(openError(path("absent.attn")),
            path("absent.attn") + ": cannot open: No such file or directory");
}

TEST_F(RuntimeArtifactTest, RejectsATinyFile) {
  writeFile(path("tiny.attn"), {'A', 'T', 'T'});
  EXPECT_EQ(openError(path("tiny.attn")),
            path("tiny.attn") +
                ": not an attn artifact: the file has only 3 bytes");
}

TEST_F(RuntimeArtifactTest, RejectsAWrongIdentifier) {
  std::vector<uint8_t> bytes = buildArtifact(bigramModel()).artifact;
  std::memcpy(&bytes[4], "GGUF", 4);
  writeFile(path("model.attn"), bytes);
  EXPECT_EQ(openError(path("model.attn")),
            path("model.attn") + ": not an attn artifact: the file "
                                 "identifier is 'GGUF', expected 'ATTN'");
}

TEST_F(RuntimeArtifactTest, RejectsAnotherVersion) {
  ArtifactSpec spec = bigramModel();
  spec.version = 5; // The previous format: no weight hashes, no seal.
  BuiltArtifact built = buildArtifact(spec);
  built.artifact.resize(built.artifact.size() - sizeof(ArtifactTrailer));
  writeFile(path("model.attn"), built.artifact);
  EXPECT_EQ(openError(path("model.attn")),
            path("model.attn") + ": artifact format version 5 is not "
                                 "supported (this runtime reads version 6)");
}

TEST_F(RuntimeArtifactTest, RejectsATruncatedFlatBuffer) {
  std::vector<uint8_t> bytes = buildArtifact(bigramModel()).artifact;
  bytes.resize((bytes.size() - kSegmentSize) / 2);
  writeFile(path("model.attn"), bytes);
  EXPECT_EQ(openError(path("model.attn")),
            path("model.attn") + ": the FlatBuffer is corrupt or truncated "
                                 "(the verifier rejects it)");
}

TEST_F(RuntimeArtifactTest, RejectsATruncatedFile) {
  // Truncation takes the seal first.
  std::vector<uint8_t> bytes = buildArtifact(bigramModel()).artifact;
  bytes.pop_back();
  writeFile(path("model.attn"), bytes);
  EXPECT_EQ(openError(path("model.attn")), path("model.attn") + kNoSeal);
}

TEST_F(RuntimeArtifactTest, RejectsAWeightSegmentThatReachesTheSeal) {
  // The segment's last byte gone, the seal intact.
  std::vector<uint8_t> bytes = buildArtifact(bigramModel()).artifact;
  size_t seal = bytes.size() - sizeof(ArtifactTrailer);
  size_t segmentOffset = seal - kSegmentSize;
  bytes.erase(bytes.begin() + seal - 1);
  writeFile(path("model.attn"), bytes);
  EXPECT_EQ(openError(path("model.attn")),
            path("model.attn") +
                formatString(": the weight segment (offset %zu, %zu bytes) "
                             "extends past the seal at byte %zu",
                             segmentOffset, kSegmentSize, seal - 1));
}

TEST_F(RuntimeArtifactTest, RejectsASealLargerThanTheFile) {
  std::vector<uint8_t> bytes = buildArtifact(bigramModel()).artifact;
  uint64_t huge = bytes.size();
  std::memcpy(bytes.data() + bytes.size() - 16, &huge, sizeof(huge));
  writeFile(path("model.attn"), bytes);
  EXPECT_EQ(openError(path("model.attn")), path("model.attn") + kNoSeal);
}

TEST_F(RuntimeArtifactTest, RejectsAnEmbeddedWeightThatDoesNotMatchItsHash) {
  // One flipped bit in the last tensor ("bigram", last in the segment) would
  // have changed one logit; the loader names the tensor instead.
  std::vector<uint8_t> bytes = buildArtifact(bigramModel()).artifact;
  auto seal = bytes.end() - sizeof(ArtifactTrailer);
  std::vector<uint8_t> intact(seal - 8 * 8 * 4, seal);
  seal[-5] ^= 0x10;
  writeFile(path("model.attn"), bytes);
  std::string message = openError(path("model.attn"));
  EXPECT_THAT(message,
              StartsWith(path("model.attn") +
                         ": tensor 'bigram' is corrupt: its XXH3-64 hash is "));
  char recorded[64];
  std::snprintf(recorded, sizeof(recorded), ", the artifact records %016llx",
                static_cast<unsigned long long>(
                    contentHash(intact.data(), intact.size())));
  EXPECT_THAT(message, EndsWith(recorded));
}

TEST_F(RuntimeArtifactTest, RejectsABindingBufferIndexOutOfRange) {
  ArtifactSpec spec = bigramModel();
  spec.programs[0].dispatches[1].bindings[1].buffer = 99;
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": program 'prefill', dispatch 1, binding "
                                 "1: buffer index 99 is out of range (the "
                                 "artifact has 5 buffers)");
}

TEST_F(RuntimeArtifactTest, RejectsAWorkAxisOutsideTheOutput) {
  // The matvec's output, the logits, is [1, V]: its work items are axis 1.
  ArtifactSpec spec = bigramModel();
  spec.programs[0].dispatches[1].workAxis = 2;
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": program 'prefill', dispatch 1: work axis "
                                 "2 is out of range (its output has rank 2)");
}

TEST_F(RuntimeArtifactTest, RejectsAWeightSegmentInsideTheFlatBuffer) {
  // A hostile artifact, resealed, whose segment starts inside the
  // FlatBuffer: Weights.segment_offset (the only field holding that value)
  // set to 64.
  std::vector<uint8_t> bytes = buildArtifact(bigramModel()).artifact;
  ArtifactTrailer seal;
  std::memcpy(&seal, bytes.data() + bytes.size() - sizeof(seal), sizeof(seal));
  uint64_t segmentOffset = bytes.size() - sizeof(seal) - kSegmentSize;
  uint8_t pattern[sizeof(segmentOffset)];
  std::memcpy(pattern, &segmentOffset, sizeof(pattern));
  auto field = std::search(bytes.begin(), bytes.begin() + seal.flatbufferSize,
                           std::begin(pattern), std::end(pattern));
  ASSERT_NE(field, bytes.begin() + seal.flatbufferSize);
  uint64_t inside = 64;
  std::memcpy(&*field, &inside, sizeof(inside));
  resealArtifact(bytes);
  writeFile(path("model.attn"), bytes);
  EXPECT_EQ(openError(path("model.attn")),
            path("model.attn") +
                formatString(": the weight segment (offset 64) overlaps the "
                             "FlatBuffer (%llu bytes)",
                             (unsigned long long)seal.flatbufferSize));
}

TEST_F(RuntimeArtifactTest, RejectsAKernelThatWritesAWeight) {
  // The weights may be the mapped file, read-only: a write would crash.
  ArtifactSpec spec = bigramModel();
  spec.programs[1].dispatches[1].bindings[2] =
      spec.programs[1].dispatches[1].bindings[1];
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": program 'decode', dispatch 1 writes "
                                 "binding 2, buffer 'bigram', a Weight "
                                 "buffer; kernels write only Scratch and "
                                 "KVCache buffers");
}

TEST_F(RuntimeArtifactTest, RejectsAnUpdateOfTheTokens) {
  ArtifactSpec spec = bigramModel();
  spec.programs[0].dispatches[0].updates = {0};
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": program 'prefill', dispatch 0 writes "
                                 "binding 0, buffer 'tokens', a Tokens "
                                 "buffer; kernels write only Scratch and "
                                 "KVCache buffers");
}

TEST_F(RuntimeArtifactTest, RejectsUpdatesThatAreNotDistinctInputs) {
  ArtifactSpec spec = bigramModel(16, /*history=*/true);
  // Binding 1 of the last dispatch is its output, its last binding.
  spec.programs[0].dispatches[3].updates = {1};
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": program 'prefill', dispatch 3: update 0 "
                                 "names binding 1; expected a distinct "
                                 "binding before the output, of 2");
  // Not wrapped around to binding 0.
  spec.programs[0].dispatches[3].updates = {0xffffffffu};
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": program 'prefill', dispatch 3: update 0 "
                                 "names binding 4294967295; expected a "
                                 "distinct binding before the output, of 2");
  spec.programs[0].dispatches[3].updates = {0, 0};
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": program 'prefill', dispatch 3: update 1 "
                                 "names binding 0; expected a distinct "
                                 "binding before the output, of 2");
}

TEST_F(RuntimeArtifactTest, LoadsAnUpdateOfAKVCache) {
  ArtifactSpec spec = bigramModel(16, /*history=*/true);
  // The row sums read the cache; declaring that they write it is allowed.
  spec.programs[1].dispatches[3].updates = {0};
  auto artifact = open(spec);
  ASSERT_TRUE(artifact);
  const DispatchPlan &dispatch = artifact->findProgram("decode")->dispatches[3];
  EXPECT_TRUE(dispatch.writes(0));
  EXPECT_TRUE(dispatch.writes(1));
  EXPECT_FALSE(artifact->findProgram("prefill")->dispatches[3].writes(0));
}

TEST_F(RuntimeArtifactTest, RejectsAKernelIndexOutOfRange) {
  ArtifactSpec spec = bigramModel();
  spec.programs[1].dispatches[0].kernel = 4;
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": program 'decode', dispatch 0: kernel "
                                 "index 4 is out of range (the artifact has "
                                 "4 kernels)");
}

TEST_F(RuntimeArtifactTest, RejectsAViewOutsideItsBufferAtTheLargestStep) {
  // x is [S, V]; a view of S + 1 rows fits for S = 1 only.
  ArtifactSpec spec = bigramModel(16);
  spec.programs[0].dispatches[0].bindings[2].shape[0] = fb::Affine(1, 0, 1);
  EXPECT_EQ(openError(spec),
            path("model.attn") +
                ": program 'prefill', dispatch 0 (kernel "
                "'attn_test_embedding'), binding 2 (buffer 'x'): at S=16, "
                "T=0, the view spans elements [0, 135] but the buffer has "
                "128");
}

TEST_F(RuntimeArtifactTest, RejectsAViewOutsideItsBufferAtTheLastPosition) {
  // The history row of a decode step moved one row down: fine until the
  // step at T = context - 1.
  ArtifactSpec spec = bigramModel(16, /*history=*/true);
  spec.programs[1].dispatches[2].bindings[1].offset = fb::Affine(0, 8, 8);
  EXPECT_EQ(openError(spec),
            path("model.attn") +
                ": program 'decode', dispatch 2 (kernel "
                "'attn_test_copy_rows'), binding 1 (buffer 'history'): at "
                "S=1, T=15, the view spans elements [128, 135] but the buffer "
                "has 128");
}

TEST_F(RuntimeArtifactTest, RejectsABindingOfRankFive) {
  ArtifactSpec spec = bigramModel();
  BindingSpec &binding = spec.programs[0].dispatches[0].bindings[0];
  binding.shape.assign(5, fb::Affine(0, 0, 1));
  binding.strides.assign(5, fb::Affine(0, 0, 1));
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": program 'prefill', dispatch 0, binding "
                                 "0: rank 5 is not in [1, 4]");
}

TEST_F(RuntimeArtifactTest, RejectsStridesThatDoNotMatchTheShape) {
  ArtifactSpec spec = bigramModel();
  spec.programs[0].dispatches[1].bindings[2].strides.pop_back();
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": program 'prefill', dispatch 1, binding "
                                 "2: 2 sizes but 1 strides");
}

TEST_F(RuntimeArtifactTest, RejectsLogitsThatAreNotTheVocabulary) {
  ArtifactSpec spec = bigramModel();
  spec.programs[0].logits.shape[1] = fb::Affine(0, 0, 4);
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": program 'prefill', logits (buffer "
                                 "'logits'): at S=1, T=0, the view has 4 "
                                 "elements but the vocabulary has 8 tokens");
}

TEST_F(RuntimeArtifactTest, RejectsLogitsThatAreNotF32) {
  ArtifactSpec spec = bigramModel();
  spec.programs[0].logits.buffer = 0;
  spec.programs[0].logits.shape = {fb::Affine(0, 0, 8)};
  spec.programs[0].logits.strides = {fb::Affine(0, 0, 1)};
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": program 'prefill', logits: buffer "
                                 "'tokens' is i32; logits must be f32");
}

TEST_F(RuntimeArtifactTest, RejectsATokensBufferThatIsNotI32) {
  ArtifactSpec spec = bigramModel();
  spec.buffers[0].dtype = fb::DType_f32;
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": buffer 'tokens': a Tokens buffer must "
                                 "be i32 of rank 1, not f32 of rank 1");
}

TEST_F(RuntimeArtifactTest, RejectsAProgramWhoseTokensBufferIsNotTokens) {
  ArtifactSpec spec = bigramModel();
  spec.programs[1].tokens = 3;
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": program 'decode': its tokens buffer, "
                                 "buffer 'x', is a Scratch buffer, not "
                                 "Tokens");
}

TEST_F(RuntimeArtifactTest, RejectsAWeightWhoseShapeIsNotItsTensors) {
  ArtifactSpec spec = bigramModel();
  spec.buffers[2].shape[1] = fb::Affine(1, 0, 0);
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": buffer 'bigram' has shape [8, S] but "
                                 "its tensor 'bigram' has shape [8, 8]");
}

TEST_F(RuntimeArtifactTest, RejectsAWeightTensorIndexOutOfRange) {
  ArtifactSpec spec = bigramModel();
  spec.buffers[1].tensor = 2;
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": buffer 'embed': tensor index 2 is out "
                                 "of range (the artifact has 2 tensors)");
}

TEST_F(RuntimeArtifactTest, RejectsAStopTokenOutsideTheVocabulary) {
  ArtifactSpec spec = bigramModel();
  spec.stopToken = 8;
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": config.stop_token 8 is not a token id "
                                 "in [0, 8)");
}

TEST_F(RuntimeArtifactTest, RejectsATokenizerOfAnotherVocabularySize) {
  ArtifactSpec spec = bigramModel();
  spec.vocab.pop_back();
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": the tokenizer has 7 vocabulary entries "
                                 "but the model has 8 tokens "
                                 "(config.vocab_size)");
}

TEST_F(RuntimeArtifactTest, RejectsAnArtifactWithoutDecode) {
  ArtifactSpec spec = bigramModel();
  spec.programs.pop_back();
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": the artifact has no 'decode' program");
}

TEST_F(RuntimeArtifactTest, RejectsKernelsThatAreNotAnElfFile) {
  ArtifactSpec spec = bigramModel();
  std::string text = "#!/bin/sh\necho not a shared object\n";
  spec.sharedObject.assign(text.begin(), text.end());
  EXPECT_EQ(openError(spec),
            path("model.attn") +
                ": the CPU kernel shared object is not an ELF file");
}

TEST_F(RuntimeArtifactTest, RejectsAFlatBufferThatDoesNotMatchItsSeal) {
  // One changed byte of machine code, inside the FlatBuffer: the image is
  // refused before the dynamic loader maps it.
  ArtifactSpec spec = bigramModel();
  std::vector<uint8_t> bytes = buildArtifact(spec).artifact;
  auto image = std::search(bytes.begin(), bytes.end(),
                           spec.sharedObject.begin(), spec.sharedObject.end());
  ASSERT_NE(image, bytes.end());
  image[spec.sharedObject.size() / 2] ^= 0xff;
  ArtifactTrailer seal;
  std::memcpy(&seal, bytes.data() + bytes.size() - sizeof(seal), sizeof(seal));
  writeFile(path("model.attn"), bytes);
  std::string message = openError(path("model.attn"));
  EXPECT_THAT(message, StartsWith(path("model.attn") +
                                  ": the FlatBuffer is corrupt: its XXH3-64 "
                                  "hash is "));
  char recorded[64];
  std::snprintf(recorded, sizeof(recorded), ", the artifact records %016llx",
                static_cast<unsigned long long>(seal.flatbufferHash));
  EXPECT_THAT(message, EndsWith(recorded));
}

TEST_F(RuntimeArtifactTest, ReportsWhyTheDynamicLoaderRejectsTheKernels) {
  // An ELF header cut short: the dynamic loader's own error comes through.
  ArtifactSpec spec = bigramModel();
  spec.sharedObject.resize(32);
  std::string message = openError(spec);
  EXPECT_THAT(message,
              StartsWith(path("model.attn") + ": cannot load the CPU kernel "
                                              "shared object: /proc/self/fd/"));
}

TEST_F(RuntimeArtifactTest, RejectsAKernelTheSharedObjectDoesNotExport) {
  ArtifactSpec spec = bigramModel();
  spec.kernelNames[1] = "attn_test_missing";
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": kernel 'attn_test_missing' is not "
                                 "exported by the CPU kernel shared object");
}

TEST_F(RuntimeArtifactTest, RejectsKernelsForAnotherArchitecture) {
  ArtifactSpec spec = bigramModel();
  spec.targetTriple = "aarch64-unknown-linux-gnu";
  EXPECT_EQ(openError(spec),
            path("model.attn") + ": the CPU kernels are compiled for "
                                 "'aarch64-unknown-linux-gnu', but this "
                                 "machine is x86_64");
}

TEST_F(RuntimeArtifactTest, LoadsTheFirstCpuVariantThisMachineRuns) {
  // The variant listed first is for another architecture: the loader takes
  // the next.
  ArtifactSpec spec = bigramModel();
  spec.earlierVariants = {{"armv8-a", "aarch64-unknown-linux-gnu"}};
  std::shared_ptr<const Artifact> artifact = open(spec);
  ASSERT_TRUE(artifact);
  EXPECT_EQ(artifact->cpuVariant(), "x86-64-v3");
  EXPECT_TRUE(artifact->hasCpuKernels());
}

TEST_F(RuntimeArtifactTest, LoadsTheCpuVariantAskedFor) {
  ArtifactSpec spec = bigramModel();
  spec.earlierVariants = {{"armv8-a", "aarch64-unknown-linux-gnu"}};
  std::string file = write(spec);
  auto openWith = [&](const std::string &variant, Status &status) {
    OpenOptions options;
    options.cpuVariant = variant;
    std::shared_ptr<const Artifact> artifact;
    status = Artifact::open(file, options, artifact);
    return artifact;
  };
  Status status;
  std::shared_ptr<const Artifact> artifact = openWith("x86-64-v3", status);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(artifact->cpuVariant(), "x86-64-v3");
  openWith("armv8-a", status);
  EXPECT_EQ(status.message(), file + ": the CPU kernels are compiled for "
                                     "'aarch64-unknown-linux-gnu', but this "
                                     "machine is x86_64");
  openWith("znver5", status);
  EXPECT_EQ(status.message(), file + ": no CPU kernel variant 'znver5' (the "
                                     "artifact has armv8-a, x86-64-v3)");
}

TEST_F(RuntimeArtifactTest, IgnoresDisabledAndUnknownCpuFeatures) {
  ArtifactSpec spec = bigramModel();
  spec.cpuFeatures = "+sse2,-avx512f,+some-future-feature,,";
  EXPECT_TRUE(open(spec));
}

TEST(RuntimeCpuFeaturesTest, NamesTheFirstMissingFeature) {
  // A CPU with SSE only.
  auto sseOnly = [](std::string_view name) -> std::optional<bool> {
    if (name == "unknown-feature")
      return std::nullopt;
    return name.substr(0, 3) == "sse";
  };
  EXPECT_TRUE(checkCpuFeatures("+sse4.2,+unknown-feature,-avx2", sseOnly).ok());
  Status status = checkCpuFeatures("+sse4.2,+avx2,+fma", sseOnly);
  EXPECT_EQ(status.message(), "the CPU kernels need the CPU feature 'avx2', "
                              "which this CPU does not have");
  EXPECT_EQ(status.code(), StatusCode::Unsupported);
}

TEST(RuntimeCpuFeaturesTest, KnowsTheHostsCommonFeatures) {
  __builtin_cpu_init();
  EXPECT_EQ(hostHasCpuFeature("avx2"), bool(__builtin_cpu_supports("avx2")));
  EXPECT_EQ(hostHasCpuFeature("avx512f"),
            bool(__builtin_cpu_supports("avx512f")));
  EXPECT_EQ(hostHasCpuFeature("sse4.2"),
            bool(__builtin_cpu_supports("sse4.2")));
  EXPECT_EQ(hostHasCpuFeature("no-such-feature"), std::nullopt);
}

/// The bigram model's table as the kernels read it (its weight buffer),
/// after checking every entry.
static const float *expectBigramTable(const Artifact &artifact) {
  const float *bigram =
      reinterpret_cast<const float *>(artifact.buffers()[2].weight);
  for (int32_t i = 0; i < 8; ++i)
    for (int32_t j = 0; j < 8; ++j)
      EXPECT_EQ(bigram[i * 8 + j], bigramLogit(i, j));
  return bigram;
}

TEST_F(RuntimeArtifactTest, LoadsExternalWeightsRelativeToTheArtifact) {
  ArtifactSpec spec = bigramModel();
  spec.externalWeights = "weights.safetensors";
  auto artifact = open(spec);
  ASSERT_TRUE(artifact);
  expectBigramTable(*artifact);
}

TEST_F(RuntimeArtifactTest, TransposesTheExternalWeightsItIsToldTo) {
  ArtifactSpec spec = bigramModel();
  spec.externalWeights = "weights.safetensors";
  // The file holds the bigram table's transpose, as a checkpoint holds a
  // Conv1D weight [in, out] that the kernels read [out, in].
  TensorSpec &table = spec.tensors[1];
  std::vector<float> swapped(table.data.size());
  for (int32_t i = 0; i < 8; ++i)
    for (int32_t j = 0; j < 8; ++j)
      swapped[j * 8 + i] = table.data[i * 8 + j];
  table.data = swapped;
  table.transposed = true;
  auto artifact = open(spec);
  ASSERT_TRUE(artifact);
  const float *bigram = expectBigramTable(*artifact);
  // 64-byte aligned, as embedded weights are.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(bigram) % 64, 0u);
}

TEST_F(RuntimeArtifactTest, RefusesATransposedTensorThatIsNoMatrix) {
  ArtifactSpec spec = bigramModel();
  spec.externalWeights = "weights.safetensors";
  TensorSpec row{"row", {8}, std::vector<float>(8, 1.0f)};
  row.transposed = true;
  spec.tensors.push_back(row);
  EXPECT_EQ(openError(spec),
            path("model.attn") +
                ": tensor 'row': transposed, but of rank 1 (a matrix has 2)");
}

TEST_F(RuntimeArtifactTest, RejectsExternalWeightsOfTheWrongSize) {
  ArtifactSpec spec = bigramModel();
  spec.externalWeights = "weights.safetensors";
  BuiltArtifact built = buildArtifact(spec);
  size_t expected = built.safetensors.size();
  built.safetensors.push_back(0);
  writeFile(path("weights.safetensors"), built.safetensors);
  writeFile(path("model.attn"), built.artifact);
  EXPECT_EQ(openError(path("model.attn")),
            path("model.attn") + ": external weights '" +
                path("weights.safetensors") +
                formatString("': the file has %zu bytes, expected %zu",
                             expected + 1, expected));
}

TEST_F(RuntimeArtifactTest, RejectsExternalWeightsWithTheWrongHash) {
  ArtifactSpec spec = bigramModel();
  spec.externalWeights = "weights.safetensors";
  BuiltArtifact built = buildArtifact(spec);
  uint64_t expected =
      contentHash(built.safetensors.data(), built.safetensors.size());
  built.safetensors.back() ^= 1;
  uint64_t actual =
      contentHash(built.safetensors.data(), built.safetensors.size());
  writeFile(path("weights.safetensors"), built.safetensors);
  writeFile(path("model.attn"), built.artifact);
  EXPECT_EQ(openError(path("model.attn")),
            path("model.attn") + ": the external weights file '" +
                path("weights.safetensors") +
                formatString("' is not the one compiled against: its "
                             "XXH3-64 hash is %016llx, the artifact records "
                             "%016llx",
                             (unsigned long long)actual,
                             (unsigned long long)expected));
}

TEST_F(RuntimeArtifactTest, RejectsMissingExternalWeights) {
  ArtifactSpec spec = bigramModel();
  spec.externalWeights = "weights.safetensors";
  writeFile(path("model.attn"), buildArtifact(spec).artifact);
  EXPECT_EQ(openError(path("model.attn")),
            path("model.attn") + ": external weights '" +
                path("weights.safetensors") +
                "': cannot open: No such file or directory");
}

TEST_F(RuntimeArtifactTest, TokenizesWithTheBigramVocabulary) {
  auto artifact = open(bigramModel());
  ASSERT_TRUE(artifact);
  std::vector<int32_t> tokens;
  ASSERT_TRUE(artifact->tokenize("hello abc", tokens).ok());
  EXPECT_EQ(tokens, (std::vector<int32_t>{6, 1, 2, 3, 4}));
}

TEST_F(RuntimeArtifactTest, ByteLevelBpeMergesByRank) {
  // Bytes map to themselves for printable ASCII; " " is "\u0120" (Ġ).
  ArtifactSpec spec = bigramModel();
  spec.tokenizerKind = fb::TokenizerKind_ByteLevelBPE;
  spec.vocab = {"h", "e", "l", "o", "he", "ll", "hell", "\u0120hello"};
  spec.merges = {"h e", "l l", "he ll", "hell o"};
  auto artifact = open(spec);
  ASSERT_TRUE(artifact);
  std::vector<int32_t> tokens;
  // "hello" merges to "hell" + "o" ("hello" is not in the vocabulary, so
  // the last merge leaves a piece with no token).
  Status status = artifact->tokenize("hello", tokens);
  EXPECT_EQ(status.code(), StatusCode::InvalidArgument);
  tokens.clear();
  ASSERT_TRUE(artifact->tokenize("hell", tokens).ok());
  EXPECT_EQ(tokens, (std::vector<int32_t>{6}));
  tokens.clear();
  ASSERT_TRUE(artifact->tokenize("he", tokens).ok());
  EXPECT_EQ(tokens, (std::vector<int32_t>{4}));
  std::string_view text;
  ASSERT_TRUE(artifact->tokenText(7, text).ok());
  EXPECT_EQ(text, " hello");
}

TEST_F(RuntimeArtifactTest, SeveralArtifactsLoadTheirOwnKernels) {
  // Each artifact's kernels come from their own memfd; opening, closing and
  // reopening must never hand one artifact another's library.
  std::shared_ptr<const Artifact> first, second, third;
  ASSERT_TRUE(Artifact::open(write(bigramModel(), "a.attn"), first).ok());
  ArtifactSpec renamed = bigramModel();
  renamed.kernelNames = {"attn_test_embedding", "attn_test_matvec"};
  ASSERT_TRUE(Artifact::open(write(renamed, "b.attn"), second).ok());
  EXPECT_NE(first->kernel(kMatvec), nullptr);
  first.reset();
  ASSERT_TRUE(Artifact::open(write(bigramModel(), "c.attn"), third).ok());
  EXPECT_NE(third->kernel(kAddRowSums), nullptr);
  EXPECT_NE(second->kernel(kMatvec), nullptr);
}

} // namespace
