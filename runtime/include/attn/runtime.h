/* attn runtime C API: load a compiled artifact, run its programs, generate.
 *
 * Conventions (after IREE's runtime API):
 *  - Objects are opaque handles created by `*_create`/`*_open` functions that
 *    write them to an `out_` parameter and released by `*_free`.
 *  - Every call that can fail returns an attn_status_t: NULL means success;
 *    anything else is an error object that the caller owns and must release
 *    with attn_status_free. Its message is one line that names the file and
 *    what is wrong with it. On failure, `out_` parameters are left unchanged.
 *  - Strings and arrays returned through `out_` pointers are borrowed: they
 *    belong to the object they came from and live as long as it says.
 *  - Pointer arguments must not be NULL unless their documentation allows
 *    it (the `*_free` functions take NULL, as do `options` arguments, and an
 *    array may be NULL when its count is 0). A function that returns a
 *    status checks its pointers and fails with ATTN_STATUS_INVALID_ARGUMENT
 *    ("attn_session_run: tokens must not be NULL"); one that returns no
 *    status does nothing with a NULL object or `out_` pointer beyond what
 *    its documentation says.
 *  - No C++ exception leaves the library: an allocation failure is
 *    ATTN_STATUS_RESOURCE_EXHAUSTED, as is a thread that cannot be started.
 *
 * Thread safety: an artifact is immutable once opened and may be used from
 * any number of threads at once, including by several sessions, until
 * attn_artifact_free (which must not race with any other use of the same
 * handle). A session and a generator must be used by one thread at a time,
 * freeing included.
 */
#ifndef ATTN_RUNTIME_INCLUDE_ATTN_RUNTIME_H
#define ATTN_RUNTIME_INCLUDE_ATTN_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*===----------------------------------------------------------------------===
 * Status
 *===----------------------------------------------------------------------===*/

/** What kind of failure a status reports. */
typedef enum attn_status_code_e {
  ATTN_STATUS_OK = 0,
  /** A caller's argument is wrong: an option, a token id, a prompt. */
  ATTN_STATUS_INVALID_ARGUMENT = 1,
  /** A file or a program does not exist. */
  ATTN_STATUS_NOT_FOUND = 2,
  /** Reading or mapping a file failed. */
  ATTN_STATUS_IO_ERROR = 3,
  /** The artifact is corrupt or inconsistent. */
  ATTN_STATUS_INVALID_ARTIFACT = 4,
  /** The artifact is valid but needs something this runtime or CPU lacks. */
  ATTN_STATUS_UNSUPPORTED = 5,
  /** Memory could not be allocated, or a thread could not be started. */
  ATTN_STATUS_RESOURCE_EXHAUSTED = 6,
  /** The runtime failed in a way none of the above describes (an unexpected
   *  C++ exception, whose text the message carries): a bug to report. */
  ATTN_STATUS_INTERNAL = 7,
} attn_status_code_t;

/** The result of a fallible call: NULL for success, otherwise an error object
 *  owned by the caller. */
typedef struct attn_status_object_t *attn_status_t;

/** The code of `status`; ATTN_STATUS_OK for NULL. Does not take ownership.
 *  Thread-safe. */
attn_status_code_t attn_status_code(attn_status_t status);

/** The one-line message of `status` ("model.attn: ..."), or "OK" for NULL.
 *  The string belongs to `status` and lives until attn_status_free. Does not
 *  take ownership. Thread-safe. */
const char *attn_status_message(attn_status_t status);

/** Releases `status`; NULL is allowed. Takes ownership. Thread-safe for
 *  distinct statuses; a status must not be freed while another thread reads
 *  its message. */
void attn_status_free(attn_status_t status);

/*===----------------------------------------------------------------------===
 * Artifacts
 *===----------------------------------------------------------------------===*/

/** A loaded, validated artifact: the model's plan, weights (mapped, not
 *  copied), kernels and tokenizer. Immutable: thread-safe. */
typedef struct attn_artifact_t attn_artifact_t;

/** Opens the artifact at `path` (a NUL-terminated file name, not NULL): maps it,
 *  verifies the FlatBuffer, validates the plan and its kernel tables, maps
 *  the weights (checking external ones by size and hash) and loads the CPU
 *  kernels if it has any, refusing a CPU that lacks a feature they need.
 *  CUDA kernels are loaded by the first CUDA session. On success `*out_artifact` is a new
 *  artifact the caller owns (release it with attn_artifact_free);
 *  `out_artifact` must not be NULL. Borrows `path` for the duration of the
 *  call. Thread-safe. */
attn_status_t attn_artifact_open(const char *path,
                                 attn_artifact_t **out_artifact);

/** How to open an artifact. Initialize with attn_artifact_options_initialize
 *  so that fields added later get their defaults. */
typedef struct attn_artifact_options_t {
  /** NULL (the default): the artifact's own weights, embedded or in the
   *  external safetensors file it records (checked by size and hash).
   *  Otherwise a NUL-terminated path of a safetensors file (a checkpoint of
   *  the same architecture, e.g. another fine-tune) whose tensors replace
   *  the external weights of an artifact compiled with `attnc
   *  --weights=external`, bound by name: every tensor the artifact needs
   *  must be in it with the artifact's dtype and shape, else opening fails
   *  naming the file, the tensor, and what was expected and found. The file
   *  the artifact records is then not read, so the artifact may travel
   *  without it. An artifact with embedded weights refuses this (ATTN_STATUS_
   *  INVALID_ARGUMENT): the compiler stores those in its own layout
   *  (transposed, narrowed), which a checkpoint does not have. Borrowed for
   *  the duration of the call. */
  const char *weights_path;
  /** NULL: load the first CPU kernel variant (attnc --cpu compiles one per
   *  CPU name, the most capable first) whose features this CPU has.
   *  Otherwise the NUL-terminated LLVM CPU name of the variant to load
   *  ("x86-64-v3"); opening fails if the artifact has no such variant or
   *  this CPU cannot run it. Borrowed for the duration of the call. */
  const char *cpu_variant;
} attn_artifact_options_t;

/** Sets `*out_options` (not NULL; caller-owned, not retained) to the
 *  defaults (weights_path = NULL, cpu_variant = NULL). Thread-safe. */
void attn_artifact_options_initialize(attn_artifact_options_t *out_options);

/** attn_artifact_open with `options` (NULL: defaults; borrowed for the
 *  duration of the call). The file at `options->weights_path` stays mapped
 *  while the artifact lives. `path` and `out_artifact` must not be NULL.
 *  Thread-safe. */
attn_status_t attn_artifact_open_with_options(
    const char *path, const attn_artifact_options_t *options,
    attn_artifact_t **out_artifact);

/** Releases the caller's reference to `artifact`; NULL is allowed. Sessions
 *  created from it keep it alive until they are freed, so it may be freed
 *  before them. Takes ownership: the handle is invalid afterwards. Not
 *  thread-safe with respect to the same handle: no other thread may be
 *  using `artifact` (opening a session on it, tokenizing, reading its
 *  model info or token texts) during or after this call; other handles and
 *  the sessions are unaffected. */
void attn_artifact_free(attn_artifact_t *artifact);

/** The model's configuration, as the artifact states it. */
typedef struct attn_model_info_t {
  /** "cogmodel", "gpt2", ...; borrowed from the artifact, NUL-terminated. */
  const char *model_type;
  int64_t vocab_size;
  /** The number of positions: prompt plus generated tokens. */
  int64_t context_length;
  /** Generation stops when this token is produced. */
  int64_t stop_token;
  /** The token an empty prompt starts from, or -1 when there is none. */
  int64_t bos_token;
} attn_model_info_t;

/** Fills `*out_info`; its strings live as long as `artifact`. Neither
 *  pointer may be NULL (with a NULL `artifact`, `*out_info` gets an empty
 *  model_type, zeros and -1 for bos_token). Does not take ownership.
 *  Thread-safe. */
void attn_artifact_model_info(const attn_artifact_t *artifact,
                              attn_model_info_t *out_info);

/** Tokenizes `text` (`text_length` bytes of UTF-8; NULL only when
 *  `text_length` is 0) with the artifact's tokenizer. Writes at most
 *  `capacity` ids to `out_tokens` (which may be NULL when `capacity` is 0)
 *  and always stores the full count in `*out_count` (not NULL): when it
 *  exceeds `capacity`, call again with a larger buffer. Fails on text the
 *  tokenizer cannot encode, naming the character. `artifact` must not be
 *  NULL. Borrows its arguments for the duration of the call. Thread-safe. */
attn_status_t attn_artifact_tokenize(const attn_artifact_t *artifact,
                                     const char *text, size_t text_length,
                                     int32_t *out_tokens, size_t capacity,
                                     size_t *out_count);

/** The text of `token` (bytes, not NUL-terminated), borrowed from
 *  `artifact` and valid while it lives; decoding a sequence concatenates
 *  these. Fails for an id outside the vocabulary. No pointer may be NULL.
 *  Thread-safe. */
attn_status_t attn_artifact_token_text(const attn_artifact_t *artifact,
                                       int32_t token, const char **out_text,
                                       size_t *out_length);

/*===----------------------------------------------------------------------===
 * Sessions
 *===----------------------------------------------------------------------===*/

/** One sequence's state on an artifact and a device: its buffers (KV caches
 *  included) and what runs the kernels (a pool of threads, or a CUDA stream).
 *  Use from one thread at a time. */
typedef struct attn_session_t attn_session_t;

/** Where a session runs the artifact's kernels. */
typedef enum attn_device_e {
  /** CUDA when the artifact has CUDA kernels and the CUDA driver
   *  (libcuda.so.1, loaded at run time) sees a GPU; else the CPU. */
  ATTN_DEVICE_AUTO = 0,
  /** The artifact's CPU kernels, on a pool of threads. */
  ATTN_DEVICE_CPU = 1,
  /** The artifact's PTX on the first CUDA device. */
  ATTN_DEVICE_CUDA = 2,
} attn_device_t;

/** "auto", "cpu" or "cuda"; a static string. Thread-safe. */
const char *attn_device_name(attn_device_t device);

/** The most threads a CPU session runs kernels on: more than any machine
 *  the runtime targets has, and few enough to start. */
#define ATTN_MAX_THREADS 1024

typedef struct attn_session_options_t {
  /** CPU: threads that run kernels, the calling thread included; 0 means
   *  one per hardware thread; at most ATTN_MAX_THREADS (more is
   *  ATTN_STATUS_INVALID_ARGUMENT). Unused on CUDA. */
  uint32_t threads;
  /** Where to run (default ATTN_DEVICE_AUTO). */
  attn_device_t device;
  /** Nonzero: time every kernel (see attn_session_profile). On CUDA the
   *  decode steps then run kernel by kernel instead of as a graph, so steps
   *  are slower than without. Default 0. */
  uint32_t profile;
} attn_session_options_t;

/** Sets `*out_options` (not NULL; caller-owned, not retained) to the
 *  defaults (threads = 0, ATTN_DEVICE_AUTO, profile = 0). Thread-safe. */
void attn_session_options_initialize(attn_session_options_t *out_options);

/** Creates a session on `artifact` (not NULL; borrowed, the session keeps
 *  it alive) with `options` (NULL: defaults; borrowed for the duration of
 *  the call): allocates its buffers, zeroes the KV caches and starts its
 *  threads or its CUDA stream; threads that cannot be started fail with
 *  ATTN_STATUS_RESOURCE_EXHAUSTED ("cannot start N threads: ..."). On CUDA, the first
 *  session of an artifact loads its PTX and uploads its weights to the GPU;
 *  sessions created while another is alive share them. Fails with
 *  ATTN_STATUS_UNSUPPORTED for a device the artifact has no kernels for, or
 *  CUDA without a driver or GPU, naming what is missing; it does not fall
 *  back to another device. On success `*out_session` (`out_session` not
 *  NULL) is owned by the caller (release it with attn_session_free).
 *  Thread-safe, also for sessions on the same artifact. */
attn_status_t attn_session_create(attn_artifact_t *artifact,
                                  const attn_session_options_t *options,
                                  attn_session_t **out_session);

/** Stops the session's threads and releases it (and its reference to the
 *  artifact); NULL is allowed. Takes ownership: the handle, the strings and
 *  logits it returned are invalid afterwards. No generator on it may be
 *  used afterwards (free them first). Not thread-safe: no other call may
 *  use `session` meanwhile. */
void attn_session_free(attn_session_t *session);

/** The device `session` runs on: ATTN_DEVICE_CPU or ATTN_DEVICE_CUDA, never
 *  ATTN_DEVICE_AUTO (which a NULL `session`, a caller's bug, gets). Does not
 *  take ownership. Safe to call while no other thread modifies `session`
 *  (it reads only what attn_session_create set). */
attn_device_t attn_session_device(const attn_session_t *session);

/** The time per kernel of the steps so far, as text: per program that ran,
 *  its steps and time in kernels, then its kernels by decreasing total time
 *  (calls, total ms, mean us, share). `*out_text` is NUL-terminated, owned
 *  by the session and valid until the next call on it. Fails with
 *  ATTN_STATUS_INVALID_ARGUMENT for a session created without `profile`.
 *  Neither pointer may be NULL. Does not take ownership. Not thread-safe:
 *  one thread at a time per session. */
attn_status_t attn_session_profile(attn_session_t *session,
                                   const char **out_text);

/** Zeroes the KV caches, so that the next step starts a new sequence. Fails
 *  only when the device does. `session` must not be NULL. Does not take
 *  ownership. Not thread-safe: one thread at a time per session. */
attn_status_t attn_session_reset(attn_session_t *session);

/** Runs one step of the program named `program` ("prefill", "decode") on
 *  the `count` token ids in `tokens` at positions [position, position +
 *  count). On success `*out_logits` points at the last position's
 *  vocab_size logits, owned by the session and valid until its next run.
 *  Fails for an unknown program, a step that does not fit in the context,
 *  or an id outside the vocabulary. `session`, `program` (NUL-terminated)
 *  and `out_logits` must not be NULL, nor `tokens` unless `count` is 0; the
 *  inputs are borrowed for the duration of the call. Not thread-safe: one
 *  thread at a time per session. */
attn_status_t attn_session_run(attn_session_t *session, const char *program,
                               const int32_t *tokens, int64_t count,
                               int64_t position, const float **out_logits);

/*===----------------------------------------------------------------------===
 * Generation
 *===----------------------------------------------------------------------===*/

/** One generation on a session: a prefill of the prompt, then one sampled
 *  and decoded token per attn_generator_next call. Use from one thread at a
 *  time; the session must outlive it and do nothing else meanwhile. */
typedef struct attn_generator_t attn_generator_t;

typedef struct attn_generate_options_t {
  /** Tokens to generate at most; 0 runs the prefill only. */
  int64_t max_new_tokens;
  /** 0: greedy (ties go to the lowest id). Otherwise the logits are divided
   *  by it before top-k and top-p. */
  double temperature;
  /** Keep the k most likely tokens; 0: off. */
  int64_t top_k;
  /** Keep the fewest most likely tokens whose probability reaches p, in
   *  (0, 1]; 1: off. */
  double top_p;
  /** Seeds the mt19937_64 the tokens are drawn with: equal seeds, equal
   *  tokens. */
  uint64_t seed;
  /** Keep the last context_length tokens of a longer prompt instead of
   *  failing. */
  bool truncate_prompt;
} attn_generate_options_t;

/** Sets `*out_options` (not NULL; caller-owned, not retained) to the
 *  defaults: 32 new tokens, greedy, top-k off, top-p off, seed 0, no
 *  truncation. Thread-safe. */
void attn_generate_options_initialize(attn_generate_options_t *out_options);

/** Why a generation ended. */
typedef enum attn_stop_reason_e {
  /** It has not. */
  ATTN_STOP_REASON_NONE = 0,
  /** The model produced its stop token. */
  ATTN_STOP_REASON_EOS = 1,
  /** max_new_tokens tokens were generated. */
  ATTN_STOP_REASON_LENGTH = 2,
  /** The context is full. */
  ATTN_STOP_REASON_CONTEXT = 3,
} attn_stop_reason_t;

/** "none", "eos", "length" or "context"; a static string. Thread-safe. */
const char *attn_stop_reason_name(attn_stop_reason_t reason);

/** Starts a generation on `session` (not NULL; borrowed, it must outlive
 *  the generator): resets it and runs the prefill of the `count` ids in
 *  `prompt` (NULL only when `count` is 0; copied) with `options` (NULL:
 *  defaults; borrowed for the duration of the call). An empty prompt
 *  becomes the model's bos_token; without one it is an error, as is a
 *  prompt longer than the context unless truncate_prompt is set. On success
 *  `*out_generator` (`out_generator` not NULL) is owned by the caller
 *  (release it with attn_generator_free). Not thread-safe: one thread at a
 *  time per session. */
attn_status_t attn_generator_start(attn_session_t *session,
                                   const int32_t *prompt, size_t count,
                                   const attn_generate_options_t *options,
                                   attn_generator_t **out_generator);

/** Releases `generator` (not its session); NULL is allowed. Takes
 *  ownership: the handle and what it returned are invalid afterwards. Not
 *  thread-safe: no other call may use `generator` meanwhile. */
void attn_generator_free(attn_generator_t *generator);

/** The ids the prefill ran on (after bos and truncation), borrowed from
 *  `generator` and valid while it lives. No pointer may be NULL (a NULL
 *  `generator`, a caller's bug, gives NULL and 0). Does not take ownership.
 *  Not thread-safe: one thread at a time per generator. */
void attn_generator_prompt(const attn_generator_t *generator,
                           const int32_t **out_tokens, size_t *out_count);

/** The last position's vocab_size logits of the latest step, borrowed: the
 *  prefill's after attn_generator_start, a decode step's after each
 *  attn_generator_next that reports ATTN_STOP_REASON_NONE. Valid until the
 *  next attn_generator_next. `generator` must not be NULL (NULL gives
 *  NULL). Does not take ownership. Not thread-safe: one thread at a time per
 *  generator. */
const float *attn_generator_logits(const attn_generator_t *generator);

/** Samples the next token into `*out_token` (-1 when none was produced) and
 *  stores in `*out_stop_reason` whether the generation goes on
 *  (ATTN_STOP_REASON_NONE: the token was decoded, new logits are ready) or
 *  why it ended; then the token, if any, is the last one (with EOS it is the
 *  stop token) and later calls produce no more. No pointer may be NULL. Does
 *  not take ownership. Not thread-safe: one thread at a time per generator,
 *  and its session does nothing else meanwhile. */
attn_status_t attn_generator_next(attn_generator_t *generator,
                                  int32_t *out_token,
                                  attn_stop_reason_t *out_stop_reason);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_RUNTIME_INCLUDE_ATTN_RUNTIME_H */
