//===- RuntimeWeightsTest.cpp - Binding a checkpoint by tensor name -------===//
//
// OpenOptions::weights (attn-run --weights): the bigram model compiled with
// external weights, bound to hand-written safetensors files. Each rejection
// asserts the exact message.
//
//===----------------------------------------------------------------------===//

#include "attn/runtime.h"
#include "runtime/CpuSession.h"
#include "test/runtime/RuntimeTest.h"

#include <cstring>

using namespace attn::runtime;
using namespace attn::test;

namespace {

class RuntimeWeightsTest : public RuntimeTest {
protected:
  /// Writes the bigram model with external weights, but not the weights
  /// file it records: binding another file must not need it.
  void SetUp() override {
    RuntimeTest::SetUp();
    ArtifactSpec spec = bigramModel();
    spec.externalWeights = "recorded.safetensors";
    writeFile(path("model.attn"), buildArtifact(spec).artifact);
  }

  /// Writes a safetensors file with the JSON `header` (padded to 8 bytes)
  /// and `data`.
  std::string writeSafetensors(const std::string &name, std::string header,
                               const std::vector<uint8_t> &data) {
    header.resize((header.size() + 7) / 8 * 8, ' ');
    std::vector<uint8_t> file(8);
    for (size_t i = 0; i < 8; ++i)
      file[i] = static_cast<uint8_t>(uint64_t(header.size()) >> (8 * i));
    file.insert(file.end(), header.begin(), header.end());
    file.insert(file.end(), data.begin(), data.end());
    writeFile(path(name), file);
    return path(name);
  }

  /// "embed" (one-hot rows) and "bigram" (element k is k) as 512 bytes.
  static std::vector<uint8_t> bigramData() {
    std::vector<float> values(128, 0.0f);
    for (int i = 0; i < 8; ++i)
      values[i * 8 + i] = 1.0f;
    for (int k = 0; k < 64; ++k)
      values[64 + k] = static_cast<float>(k);
    std::vector<uint8_t> bytes(values.size() * 4);
    std::memcpy(bytes.data(), values.data(), bytes.size());
    return bytes;
  }

  Status bind(const std::string &weights,
              std::shared_ptr<const Artifact> &artifact) {
    OpenOptions options;
    options.weights = weights;
    return Artifact::open(path("model.attn"), options, artifact);
  }

  /// The message of binding `weights`.
  std::string bindError(const std::string &weights) {
    std::shared_ptr<const Artifact> artifact;
    Status status = bind(weights, artifact);
    EXPECT_FALSE(status.ok()) << weights << " was bound";
    return status.message();
  }

  /// What every binding error starts with.
  std::string prefix(const std::string &weights) {
    return path("model.attn") + ": weights '" + weights + "': ";
  }

  static constexpr const char *kEmbed =
      R"("embed": {"dtype": "F32", "shape": [8, 8], "data_offsets": [0, 256]})";
};

TEST_F(RuntimeWeightsTest, BindsTensorsByNameAndRunsOnThem) {
  // Another order, an escaped name, metadata with nested values, a tensor
  // and a field the artifact does not use.
  std::string weights = writeSafetensors(
      "other.safetensors",
      R"({"__metadata__": {"format": "pt", "x": {"a": [1, -2.5e3, true, null]}},)"
      R"( "bi\u0067ram": {"shape": [8, 8], "data_offsets": [256, 512],)"
      R"( "dtype": "F32", "note": {}}, "unused": {"dtype": "I8", "shape": [3],)"
      R"( "data_offsets": [0, 3]}, )" +
          std::string(kEmbed) + "}",
      bigramData());
  std::shared_ptr<const Artifact> artifact;
  Status status = bind(weights, artifact);
  ASSERT_TRUE(status.ok()) << status.message();
  const float *bigram =
      reinterpret_cast<const float *>(artifact->buffers()[2].weight);
  for (int k = 0; k < 64; ++k)
    EXPECT_EQ(bigram[k], static_cast<float>(k));

  std::unique_ptr<CpuSession> session;
  ASSERT_TRUE(CpuSession::create(artifact, 1, session).ok());
  int32_t token = 3;
  const float *logits;
  status = session->run("prefill", &token, 1, 0, logits);
  ASSERT_TRUE(status.ok()) << status.message();
  for (int j = 0; j < 8; ++j)
    EXPECT_EQ(logits[j], static_cast<float>(3 * 8 + j));
}

TEST_F(RuntimeWeightsTest, TheCApiBindsWeights) {
  std::string weights = writeSafetensors(
      "other.safetensors",
      "{" + std::string(kEmbed) +
          R"(, "bigram": {"dtype": "F32", "shape": [8, 8], "data_offsets": [256, 512]}})",
      bigramData());
  attn_artifact_options_t options;
  attn_artifact_options_initialize(&options);
  EXPECT_EQ(options.weights_path, nullptr);
  attn_artifact_t *artifact = nullptr;
  // The defaults read the recorded file, which is not there.
  attn_status_t status = attn_artifact_open_with_options(
      path("model.attn").c_str(), &options, &artifact);
  EXPECT_EQ(attn_status_code(status), ATTN_STATUS_NOT_FOUND);
  attn_status_free(status);
  options.weights_path = weights.c_str();
  status = attn_artifact_open_with_options(path("model.attn").c_str(),
                                           &options, &artifact);
  EXPECT_EQ(status, nullptr) << attn_status_message(status);
  attn_artifact_free(artifact);

  options.weights_path = "absent.safetensors";
  artifact = nullptr;
  status = attn_artifact_open_with_options(path("model.attn").c_str(),
                                           &options, &artifact);
  EXPECT_EQ(attn_status_code(status), ATTN_STATUS_NOT_FOUND);
  EXPECT_STREQ(attn_status_message(status),
               (prefix("absent.safetensors") +
                "cannot open: No such file or directory")
                   .c_str());
  EXPECT_EQ(artifact, nullptr);
  attn_status_free(status);
}

TEST_F(RuntimeWeightsTest, RefusesAnArtifactWithEmbeddedWeights) {
  std::string artifact = write(bigramModel(), "embedded.attn");
  std::string weights = writeSafetensors("w.safetensors", "{}", {});
  OpenOptions options;
  options.weights = weights;
  std::shared_ptr<const Artifact> loaded;
  Status status = Artifact::open(artifact, options, loaded);
  EXPECT_EQ(status.code(), StatusCode::InvalidArgument);
  EXPECT_EQ(status.message(),
            artifact + ": cannot bind weights '" + weights +
                "': the artifact embeds its weights, in the compiler's "
                "layout; only an artifact compiled with --weights=external "
                "binds a checkpoint");
}

TEST_F(RuntimeWeightsTest, ChecksEachTensorTheArtifactNeeds) {
  struct Case {
    std::string bigram;
    std::string message;
  };
  const Case cases[] = {
      {"", "tensor 'bigram' is missing (the artifact needs F32 [8, 8])"},
      {R"("bigram": {"dtype": "BF16", "shape": [8, 8], "data_offsets": [256, 384]})",
       "tensor 'bigram' is BF16, expected F32"},
      {R"("bigram": {"dtype": "F32", "shape": [64], "data_offsets": [256, 512]})",
       "tensor 'bigram' has shape [64], expected [8, 8]"},
      {R"("bigram": {"dtype": "F32", "shape": [8, 8], "data_offsets": [256, 500]})",
       "tensor 'bigram': data_offsets [256, 500) hold 244 bytes, but F32 "
       "[8, 8] needs 256"},
      {R"("bigram": {"dtype": "F32", "shape": [8, 8], "data_offsets": [258, 514]})",
       "tensor 'bigram': data_offsets [258, 514) end beyond the data section "
       "of 512 bytes (truncated file?)"},
      {R"("bigram": {"dtype": "F32", "shape": [8, 8], "data_offsets": [254, 510]})",
       "tensor 'bigram': its data is not aligned to its 4-byte elements"},
  };
  for (const Case &c : cases) {
    std::string header = "{" + std::string(kEmbed) +
                         (c.bigram.empty() ? "" : ", " + c.bigram) + "}";
    std::string weights =
        writeSafetensors("w.safetensors", header, bigramData());
    EXPECT_EQ(bindError(weights), prefix(weights) + c.message) << header;
  }
}

TEST_F(RuntimeWeightsTest, RefusesMalformedHeaders) {
  const std::pair<std::string, std::string> cases[] = {
      {"[]", "not a safetensors file: the header is not valid JSON ('{' "
             "expected at byte 0)"},
      {R"({"embed": {}, "embed": {}})", "tensor 'embed': 'dtype' is missing"},
      {"{" + std::string(kEmbed) + ", " + kEmbed + "}",
       "tensor 'embed' occurs more than once in the header"},
      {R"({"embed": [1]})", "tensor 'embed': its entry is not an object"},
      {R"({"embed": {"dtype": 1}})", "tensor 'embed': 'dtype' is not a string"},
      {R"({"embed": {"dtype": "F32", "shape": [-1]}})",
       "tensor 'embed': 'shape' is not a list of non-negative integers"},
      {R"({"embed": {"dtype": "F32", "shape": [18446744073709551616]}})",
       "tensor 'embed': 'shape' is not a list of non-negative integers"},
      {R"({"embed": {"dtype": "F32", "shape": [8], "data_offsets": [2, 1]}})",
       "tensor 'embed': 'data_offsets' is not [begin, end] with begin <= end"},
      {R"({"embed": {"dtype": "F32", "shape": [8]}})",
       "tensor 'embed': 'data_offsets' is missing"},
      {R"({"a\"b": {"dtype": "F32)",
       "not a safetensors file: the header is not valid JSON (unterminated "
       "string at byte 24)"},
      {R"({"__metadata__": {"a": 01}})",
       "not a safetensors file: the header is not valid JSON (bad number at "
       "byte 23)"},
      {R"({} {})", "not a safetensors file: the header is not valid JSON "
                   "(text after the header's object at byte 3)"},
      {R"({"__metadata__": )" + std::string(70, '[') + std::string(70, ']') +
           "}",
       "not a safetensors file: the header is not valid JSON (nesting too "
       "deep at byte 81)"},
  };
  for (const auto &[header, message] : cases) {
    std::string weights = writeSafetensors("w.safetensors", header, {});
    EXPECT_EQ(bindError(weights), prefix(weights) + message) << header;
  }
}

} // namespace
