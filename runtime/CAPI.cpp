//===- CAPI.cpp - The C API over the C++ runtime --------------------------===//
//
// Thin wrappers: handles own the C++ objects, Status becomes attn_status_t,
// and no C++ exception crosses the C boundary.
//
//===----------------------------------------------------------------------===//

#include "attn/runtime.h"

#include "runtime/Artifact.h"
#include "runtime/Generator.h"
#include "runtime/Session.h"

#include <cstdarg>
#include <new>
#include <system_error>

using namespace attn::runtime;

struct attn_status_object_t {
  attn_status_code_t code;
  std::string message;
};

struct attn_artifact_t {
  std::shared_ptr<const Artifact> artifact;
};

struct attn_session_t {
  std::unique_ptr<Session> session;
  /// The text attn_session_profile last returned.
  std::string profileText;
};

struct attn_generator_t {
  std::unique_ptr<Generator> generator;
  /// The file of the session's artifact, for the messages of exceptions.
  const std::string *artifactPath;
};

static_assert(int(StatusCode::ResourceExhausted) ==
                  ATTN_STATUS_RESOURCE_EXHAUSTED,
              "StatusCode and attn_status_code_t must agree");
static_assert(int(StopReason::Context) == ATTN_STOP_REASON_CONTEXT,
              "StopReason and attn_stop_reason_t must agree");
static_assert(int(Device::Cuda) == ATTN_DEVICE_CUDA,
              "Device and attn_device_t must agree");

/// The status of every allocation failure. Reporting that memory ran out
/// must not need memory, so it is made before main (its message fits in the
/// string itself) and shared; attn_status_free leaves it alone.
static attn_status_object_t outOfMemory{ATTN_STATUS_RESOURCE_EXHAUSTED,
                                        "out of memory"};

/// A new status with a printf-formatted message; outOfMemory when there is
/// no memory for it.
__attribute__((format(printf, 2, 3))) static attn_status_t
makeStatus(attn_status_code_t code, const char *format, ...) noexcept {
  va_list args;
  va_start(args, format);
  attn_status_t status;
  try {
    status = new attn_status_object_t{code, formatStringV(format, args)};
  } catch (...) {
    status = &outOfMemory;
  }
  va_end(args);
  return status;
}

static attn_status_t toC(Status status) noexcept {
  if (status.ok())
    return nullptr;
  try {
    return new attn_status_object_t{
        static_cast<attn_status_code_t>(status.code()), status.message()};
  } catch (...) {
    return &outOfMemory;
  }
}

/// Runs `body`, which returns a Status, turning every exception into an
/// error whose message starts with `where` (the artifact's file, or the
/// function's name): none may cross into C. The runtime lets only
/// allocation failures escape, and the standard library's system_error
/// (a thread that cannot start); anything else is a bug, reported as such.
template <typename Body>
static attn_status_t guard(const char *where, Body body) noexcept {
  try {
    return toC(body());
  } catch (const std::bad_alloc &) {
    return &outOfMemory;
  } catch (const std::system_error &error) {
    std::error_code code = error.code();
    bool exhausted = code == std::errc::resource_unavailable_try_again ||
                     code == std::errc::not_enough_memory ||
                     code == std::errc::too_many_files_open;
    return makeStatus(exhausted ? ATTN_STATUS_RESOURCE_EXHAUSTED
                                : ATTN_STATUS_INTERNAL,
                      "%s: %s", where, error.what());
  } catch (const std::exception &error) {
    return makeStatus(ATTN_STATUS_INTERNAL, "%s: internal error: %s", where,
                      error.what());
  } catch (...) {
    return makeStatus(ATTN_STATUS_INTERNAL,
                      "%s: internal error: an unknown exception", where);
  }
}

/// The status of a NULL pointer argument `argument` of `function`.
static attn_status_t nullArgument(const char *function, const char *argument) {
  return makeStatus(ATTN_STATUS_INVALID_ARGUMENT, "%s: %s must not be NULL",
                    function, argument);
}

/// Returns an ATTN_STATUS_INVALID_ARGUMENT status from the entry point when
/// the pointer argument `argument` is NULL, before anything dereferences it
/// (after IREE's IREE_ASSERT_ARGUMENT, but checked in every build).
#define ATTN_CHECK_ARGUMENT(argument)                                          \
  do {                                                                         \
    if (!(argument))                                                           \
      return nullArgument(__func__, #argument);                                \
  } while (false)

/// The same for an array `argument` that may be NULL only when `count`, its
/// number of elements, is 0.
#define ATTN_CHECK_ARRAY_ARGUMENT(argument, count)                             \
  do {                                                                         \
    if (!(argument) && (count) != 0)                                           \
      return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,                          \
                        "%s: %s must not be NULL when %s is %lld", __func__,   \
                        #argument, #count,                                     \
                        static_cast<long long>(count));                        \
  } while (false)

extern "C" {

attn_status_code_t attn_status_code(attn_status_t status) {
  return status ? status->code : ATTN_STATUS_OK;
}

const char *attn_status_message(attn_status_t status) {
  return status ? status->message.c_str() : "OK";
}

void attn_status_free(attn_status_t status) {
  if (status != &outOfMemory)
    delete status;
}

attn_status_t attn_artifact_open(const char *path,
                                 attn_artifact_t **out_artifact) {
  ATTN_CHECK_ARGUMENT(path);
  ATTN_CHECK_ARGUMENT(out_artifact);
  return attn_artifact_open_with_options(path, nullptr, out_artifact);
}

void attn_artifact_options_initialize(attn_artifact_options_t *out_options) {
  if (!out_options)
    return;
  out_options->weights_path = nullptr;
  out_options->cpu_variant = nullptr;
}

attn_status_t attn_artifact_open_with_options(
    const char *path, const attn_artifact_options_t *options,
    attn_artifact_t **out_artifact) {
  ATTN_CHECK_ARGUMENT(path);
  ATTN_CHECK_ARGUMENT(out_artifact);
  return guard(path, [&] {
    OpenOptions open;
    if (options && options->weights_path)
      open.weights = options->weights_path;
    if (options && options->cpu_variant)
      open.cpuVariant = options->cpu_variant;
    std::shared_ptr<const Artifact> artifact;
    ATTN_RETURN_IF_ERROR(Artifact::open(path, open, artifact));
    *out_artifact = new attn_artifact_t{std::move(artifact)};
    return Status();
  });
}

void attn_artifact_free(attn_artifact_t *artifact) { delete artifact; }

void attn_artifact_model_info(const attn_artifact_t *artifact,
                              attn_model_info_t *out_info) {
  if (!out_info)
    return;
  if (!artifact) {
    *out_info = attn_model_info_t{"", 0, 0, 0, -1};
    return;
  }
  const Artifact &model = *artifact->artifact;
  // The FlatBuffer stores strings NUL-terminated, so the view is a C string.
  out_info->model_type = model.modelType().data() ? model.modelType().data()
                                                  : "";
  out_info->vocab_size = model.vocabSize();
  out_info->context_length = model.contextLength();
  out_info->stop_token = model.stopToken();
  out_info->bos_token = model.bosToken();
}

attn_status_t attn_artifact_tokenize(const attn_artifact_t *artifact,
                                     const char *text, size_t text_length,
                                     int32_t *out_tokens, size_t capacity,
                                     size_t *out_count) {
  ATTN_CHECK_ARGUMENT(artifact);
  ATTN_CHECK_ARRAY_ARGUMENT(text, text_length);
  ATTN_CHECK_ARRAY_ARGUMENT(out_tokens, capacity);
  ATTN_CHECK_ARGUMENT(out_count);
  return guard(artifact->artifact->path().c_str(), [&] {
    std::vector<int32_t> tokens;
    ATTN_RETURN_IF_ERROR(artifact->artifact->tokenize(
        text ? std::string_view(text, text_length) : std::string_view(),
        tokens));
    std::copy_n(tokens.begin(), std::min(capacity, tokens.size()),
                out_tokens);
    *out_count = tokens.size();
    return Status();
  });
}

attn_status_t attn_artifact_token_text(const attn_artifact_t *artifact,
                                       int32_t token, const char **out_text,
                                       size_t *out_length) {
  ATTN_CHECK_ARGUMENT(artifact);
  ATTN_CHECK_ARGUMENT(out_text);
  ATTN_CHECK_ARGUMENT(out_length);
  return guard(artifact->artifact->path().c_str(), [&] {
    std::string_view text;
    ATTN_RETURN_IF_ERROR(artifact->artifact->tokenText(token, text));
    *out_text = text.data();
    *out_length = text.size();
    return Status();
  });
}

const char *attn_device_name(attn_device_t device) {
  return deviceName(static_cast<Device>(device));
}

void attn_session_options_initialize(attn_session_options_t *out_options) {
  if (!out_options)
    return;
  SessionOptions defaults;
  out_options->threads = defaults.threads;
  out_options->device = static_cast<attn_device_t>(defaults.device);
  out_options->profile = defaults.profile;
}

attn_status_t attn_session_create(attn_artifact_t *artifact,
                                  const attn_session_options_t *options,
                                  attn_session_t **out_session) {
  ATTN_CHECK_ARGUMENT(artifact);
  ATTN_CHECK_ARGUMENT(out_session);
  return guard(artifact->artifact->path().c_str(), [&] {
    attn_session_options_t defaults;
    attn_session_options_initialize(&defaults);
    const attn_session_options_t &c = options ? *options : defaults;
    SessionOptions sessionOptions;
    sessionOptions.threads = c.threads;
    sessionOptions.device = static_cast<Device>(c.device);
    sessionOptions.profile = c.profile != 0;
    std::unique_ptr<Session> session;
    ATTN_RETURN_IF_ERROR(
        Session::create(artifact->artifact, sessionOptions, session));
    *out_session = new attn_session_t{std::move(session), {}};
    return Status();
  });
}

void attn_session_free(attn_session_t *session) { delete session; }

attn_device_t attn_session_device(const attn_session_t *session) {
  if (!session)
    return ATTN_DEVICE_AUTO;
  return static_cast<attn_device_t>(session->session->device());
}

attn_status_t attn_session_profile(attn_session_t *session,
                                   const char **out_text) {
  ATTN_CHECK_ARGUMENT(session);
  ATTN_CHECK_ARGUMENT(out_text);
  return guard(session->session->artifact().path().c_str(), [&] {
    const Session &s = *session->session;
    const Profile *profile = s.profile();
    if (!profile)
      return makeError(StatusCode::InvalidArgument,
                       "the session was created without profiling");
    // "cpu (x86-64-v4)": which kernel variant the times are of.
    std::string device = deviceName(s.device());
    if (s.device() == Device::Cpu)
      device += " (" + std::string(s.artifact().cpuVariant()) + ")";
    session->profileText = profile->format(s.artifact(), device.c_str());
    *out_text = session->profileText.c_str();
    return Status();
  });
}

attn_status_t attn_session_reset(attn_session_t *session) {
  ATTN_CHECK_ARGUMENT(session);
  return guard(session->session->artifact().path().c_str(),
               [&] { return session->session->reset(); });
}

attn_status_t attn_session_run(attn_session_t *session, const char *program,
                               const int32_t *tokens, int64_t count,
                               int64_t position, const float **out_logits) {
  ATTN_CHECK_ARGUMENT(session);
  ATTN_CHECK_ARGUMENT(program);
  ATTN_CHECK_ARRAY_ARGUMENT(tokens, count);
  ATTN_CHECK_ARGUMENT(out_logits);
  return guard(session->session->artifact().path().c_str(), [&] {
    // Through a local: on failure `*out_logits` stays unchanged.
    const float *logits = nullptr;
    ATTN_RETURN_IF_ERROR(
        session->session->run(program, tokens, count, position, logits));
    *out_logits = logits;
    return Status();
  });
}

void attn_generate_options_initialize(attn_generate_options_t *out_options) {
  if (!out_options)
    return;
  GenerateOptions defaults;
  out_options->max_new_tokens = defaults.maxNewTokens;
  out_options->temperature = defaults.sampling.temperature;
  out_options->top_k = defaults.sampling.topK;
  out_options->top_p = defaults.sampling.topP;
  out_options->seed = defaults.sampling.seed;
  out_options->truncate_prompt = defaults.truncatePrompt;
}

const char *attn_stop_reason_name(attn_stop_reason_t reason) {
  return stopReasonName(static_cast<StopReason>(reason));
}

attn_status_t attn_generator_start(attn_session_t *session,
                                   const int32_t *prompt, size_t count,
                                   const attn_generate_options_t *options,
                                   attn_generator_t **out_generator) {
  ATTN_CHECK_ARGUMENT(session);
  ATTN_CHECK_ARRAY_ARGUMENT(prompt, count);
  ATTN_CHECK_ARGUMENT(out_generator);
  const std::string &path = session->session->artifact().path();
  return guard(path.c_str(), [&] {
    attn_generate_options_t defaults;
    attn_generate_options_initialize(&defaults);
    const attn_generate_options_t &c = options ? *options : defaults;
    GenerateOptions generate;
    generate.maxNewTokens = c.max_new_tokens;
    generate.sampling.temperature = c.temperature;
    generate.sampling.topK = c.top_k;
    generate.sampling.topP = c.top_p;
    generate.sampling.seed = c.seed;
    generate.truncatePrompt = c.truncate_prompt;
    std::unique_ptr<Generator> generator;
    ATTN_RETURN_IF_ERROR(Generator::start(*session->session, prompt, count,
                                          generate, generator));
    *out_generator = new attn_generator_t{std::move(generator), &path};
    return Status();
  });
}

void attn_generator_free(attn_generator_t *generator) { delete generator; }

void attn_generator_prompt(const attn_generator_t *generator,
                           const int32_t **out_tokens, size_t *out_count) {
  if (!generator) {
    if (out_tokens)
      *out_tokens = nullptr;
    if (out_count)
      *out_count = 0;
    return;
  }
  const std::vector<int32_t> &prompt = generator->generator->prompt();
  if (out_tokens)
    *out_tokens = prompt.data();
  if (out_count)
    *out_count = prompt.size();
}

const float *attn_generator_logits(const attn_generator_t *generator) {
  return generator ? generator->generator->logits() : nullptr;
}

attn_status_t attn_generator_next(attn_generator_t *generator,
                                  int32_t *out_token,
                                  attn_stop_reason_t *out_stop_reason) {
  ATTN_CHECK_ARGUMENT(generator);
  ATTN_CHECK_ARGUMENT(out_token);
  ATTN_CHECK_ARGUMENT(out_stop_reason);
  return guard(generator->artifactPath->c_str(), [&] {
    int32_t token;
    StopReason reason;
    ATTN_RETURN_IF_ERROR(generator->generator->next(token, reason));
    *out_token = token;
    *out_stop_reason = static_cast<attn_stop_reason_t>(reason);
    return Status();
  });
}

} // extern "C"
