//===- RuntimeCApiTest.cpp - The runtime's C API --------------------------===//
//
// What a C caller sees: statuses, borrowed strings, the two-call tokenize,
// lifetimes, and a whole generation.
//
//===----------------------------------------------------------------------===//

#include "attn/runtime.h"
#include "test/runtime/RuntimeTest.h"

using namespace attn::test;

namespace {

/// Takes the message of `status` and frees it; "OK" for success.
std::string consume(attn_status_t status) {
  std::string message = attn_status_message(status);
  attn_status_free(status);
  return message;
}

class RuntimeCApiTest : public RuntimeTest {
protected:
  /// Writes the bigram model and opens it through the C API into
  /// `*artifact`; returns the status message ("OK").
  std::string openBigram(attn_artifact_t **artifact) {
    return consume(attn_artifact_open(write(bigramModel()).c_str(), artifact));
  }
};

TEST(RuntimeCApiStatusTest, NullIsOk) {
  EXPECT_EQ(attn_status_code(nullptr), ATTN_STATUS_OK);
  EXPECT_STREQ(attn_status_message(nullptr), "OK");
  attn_status_free(nullptr);
  attn_artifact_free(nullptr);
  attn_session_free(nullptr);
  attn_generator_free(nullptr);
}

TEST_F(RuntimeCApiTest, OpenFailuresCarryACodeAndTheFile) {
  attn_artifact_t *artifact = nullptr;
  attn_status_t status =
      attn_artifact_open(path("absent.attn").c_str(), &artifact);
  EXPECT_EQ(attn_status_code(status), ATTN_STATUS_NOT_FOUND);
  EXPECT_EQ(consume(status),
            path("absent.attn") + ": cannot open: No such file or directory");
  EXPECT_EQ(artifact, nullptr);

  ArtifactSpec spec = bigramModel();
  spec.version = 7;
  status = attn_artifact_open(write(spec).c_str(), &artifact);
  EXPECT_EQ(attn_status_code(status), ATTN_STATUS_UNSUPPORTED);
  attn_status_free(status);

  spec = bigramModel();
  spec.kernelNames[0] = "nope";
  status = attn_artifact_open(write(spec).c_str(), &artifact);
  EXPECT_EQ(attn_status_code(status), ATTN_STATUS_INVALID_ARTIFACT);
  attn_status_free(status);
}

TEST_F(RuntimeCApiTest, RefusesMoreThreadsThanTheCap) {
  // A million threads used to be started until the system refused one.
  attn_artifact_t *artifact = nullptr;
  ASSERT_EQ(openBigram(&artifact), "OK");
  attn_session_options_t options;
  attn_session_options_initialize(&options);
  options.device = ATTN_DEVICE_CPU;
  options.threads = ATTN_MAX_THREADS + 1;
  attn_session_t *session = nullptr;
  attn_status_t status = attn_session_create(artifact, &options, &session);
  EXPECT_EQ(attn_status_code(status), ATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(consume(status),
            "threads: 1025 is more than the 1024 a session may use");
  EXPECT_EQ(session, nullptr);
  attn_artifact_free(artifact);
}

TEST_F(RuntimeCApiTest, GeneratesTextThroughTheCApi) {
  attn_artifact_t *artifact = nullptr;
  ASSERT_EQ(openBigram(&artifact), "OK");
  attn_model_info_t info;
  attn_artifact_model_info(artifact, &info);
  EXPECT_STREQ(info.model_type, "bigram");
  EXPECT_EQ(info.vocab_size, 8);
  EXPECT_EQ(info.context_length, 16);
  EXPECT_EQ(info.stop_token, 0);
  EXPECT_EQ(info.bos_token, -1);

  // Tokenize: ask for the count, then fill.
  const char *text = "hello";
  size_t count = 0;
  ASSERT_EQ(consume(attn_artifact_tokenize(artifact, text, 5, nullptr, 0,
                                           &count)),
            "OK");
  ASSERT_EQ(count, 1u);
  int32_t prompt[1];
  ASSERT_EQ(consume(attn_artifact_tokenize(artifact, text, 5, prompt, 1,
                                           &count)),
            "OK");
  EXPECT_EQ(prompt[0], 6);

  attn_session_options_t sessionOptions;
  attn_session_options_initialize(&sessionOptions);
  EXPECT_EQ(sessionOptions.threads, 0u);
  sessionOptions.threads = 2;
  attn_session_t *session = nullptr;
  ASSERT_EQ(consume(attn_session_create(artifact, &sessionOptions, &session)),
            "OK");

  attn_generate_options_t options;
  attn_generate_options_initialize(&options);
  EXPECT_EQ(options.max_new_tokens, 32);
  EXPECT_EQ(options.temperature, 0);
  EXPECT_EQ(options.top_k, 0);
  EXPECT_EQ(options.top_p, 1);
  attn_generator_t *generator = nullptr;
  ASSERT_EQ(consume(attn_generator_start(session, prompt, 1, &options,
                                         &generator)),
            "OK");
  const int32_t *used;
  size_t usedCount;
  attn_generator_prompt(generator, &used, &usedCount);
  ASSERT_EQ(usedCount, 1u);
  EXPECT_EQ(used[0], 6);
  EXPECT_EQ(attn_generator_logits(generator)[1], 10.0f);

  std::string generated;
  attn_stop_reason_t reason = ATTN_STOP_REASON_NONE;
  while (reason == ATTN_STOP_REASON_NONE) {
    int32_t token;
    ASSERT_EQ(consume(attn_generator_next(generator, &token, &reason)), "OK");
    if (token < 0 || reason == ATTN_STOP_REASON_EOS)
      continue;
    const char *piece;
    size_t length;
    ASSERT_EQ(consume(attn_artifact_token_text(artifact, token, &piece,
                                               &length)),
              "OK");
    generated.append(piece, length);
  }
  EXPECT_EQ(generated, " abcd");
  EXPECT_EQ(reason, ATTN_STOP_REASON_EOS);
  EXPECT_STREQ(attn_stop_reason_name(reason), "eos");
  attn_generator_free(generator);

  // Freeing the artifact first is fine: the session holds on to it.
  attn_artifact_free(artifact);
  const float *logits;
  int32_t token = 3;
  ASSERT_EQ(consume(attn_session_run(session, "decode", &token, 1, 0,
                                     &logits)),
            "OK");
  EXPECT_EQ(logits[4], 10.0f);
  attn_status_t status =
      attn_session_run(session, "decode", &token, 1, 16, &logits);
  EXPECT_EQ(attn_status_code(status), ATTN_STATUS_INVALID_ARGUMENT);
  attn_status_free(status);
  EXPECT_EQ(attn_session_reset(session), nullptr);
  // Profiling is asked for when the session is created.
  EXPECT_EQ(sessionOptions.profile, 0u);
  const char *profile = nullptr;
  status = attn_session_profile(session, &profile);
  EXPECT_EQ(attn_status_code(status), ATTN_STATUS_INVALID_ARGUMENT);
  attn_status_free(status);
  attn_session_free(session);
}

TEST_F(RuntimeCApiTest, ProfilesEveryKernelOfASession) {
  attn_artifact_t *artifact = nullptr;
  ASSERT_EQ(openBigram(&artifact), "OK");
  attn_session_options_t options;
  attn_session_options_initialize(&options);
  options.profile = 1;
  attn_session_t *session = nullptr;
  ASSERT_EQ(consume(attn_session_create(artifact, &options, &session)), "OK");
  const char *text = nullptr;
  ASSERT_EQ(consume(attn_session_profile(session, &text)), "OK");
  EXPECT_STREQ(text, "") << "no step has run";
  const float *logits;
  int32_t token = 3;
  for (int64_t position = 0; position < 2; ++position)
    ASSERT_EQ(consume(attn_session_run(session, "decode", &token, 1, position,
                                       &logits)),
              "OK");
  ASSERT_EQ(consume(attn_session_profile(session, &text)), "OK");
  std::string profile = text;
  EXPECT_NE(profile.find(
                "profile: cpu (x86-64-v3), program 'decode': 2 steps, "),
            std::string::npos)
      << profile;
  // Every dispatch of the bigram model's decode ran once per step.
  EXPECT_NE(profile.find("attn_test_matvec"), std::string::npos) << profile;
  EXPECT_EQ(profile.find("program 'prefill'"), std::string::npos) << profile;
  attn_session_free(session);
  attn_artifact_free(artifact);
}

TEST_F(RuntimeCApiTest, TokenizeReportsTheUnknownCharacter) {
  attn_artifact_t *artifact = nullptr;
  ASSERT_EQ(openBigram(&artifact), "OK");
  size_t count = 0;
  attn_status_t status =
      attn_artifact_tokenize(artifact, "hi", 2, nullptr, 0, &count);
  EXPECT_EQ(attn_status_code(status), ATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(consume(status),
            path("model.attn") + ": cannot tokenize the text: character 'h' "
                                 "(U+0068) at byte 0 is not in the "
                                 "vocabulary");
  attn_artifact_free(artifact);
}

} // namespace
