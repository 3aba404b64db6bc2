/*===- attn-capi-check.c - The C API's handling of hostile callers ---------===
 *
 * attn-capi-check ARTIFACT
 *
 * Calls every entry point of attn/runtime.h with each pointer it must not be
 * given set to NULL, then makes it start more threads than the system allows
 * and run out of memory, printing one line per call ("<call>: <code>:
 * <message>") for capi-check.test to check: none of it may crash or let a C++
 * exception out. Written in C, so that it also checks that the header is C.
 * ARTIFACT is the bigram model of ArtifactBuilder.h (attn-test-artifact).
 *
 *===----------------------------------------------------------------------===*/

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_setattr_default_np */
#endif
#include "attn/runtime.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ATTN_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ATTN_ASAN 1
#endif

static const char *codeName(attn_status_code_t code) {
  switch (code) {
  case ATTN_STATUS_OK:
    return "OK";
  case ATTN_STATUS_INVALID_ARGUMENT:
    return "INVALID_ARGUMENT";
  case ATTN_STATUS_NOT_FOUND:
    return "NOT_FOUND";
  case ATTN_STATUS_IO_ERROR:
    return "IO_ERROR";
  case ATTN_STATUS_INVALID_ARTIFACT:
    return "INVALID_ARTIFACT";
  case ATTN_STATUS_UNSUPPORTED:
    return "UNSUPPORTED";
  case ATTN_STATUS_RESOURCE_EXHAUSTED:
    return "RESOURCE_EXHAUSTED";
  case ATTN_STATUS_INTERNAL:
    return "INTERNAL";
  }
  return "?";
}

/* Prints and frees `status`. */
static void report(const char *call, attn_status_t status) {
  printf("%s: %s: %s\n", call, codeName(attn_status_code(status)),
         attn_status_message(status));
  fflush(stdout);
  attn_status_free(status);
}

#define CHECK(call) report(#call, call)

/* Exits when a call that must succeed does not. */
static void require(const char *call, attn_status_t status) {
  if (!status)
    return;
  fprintf(stderr, "attn-capi-check: %s failed: %s\n", call,
          attn_status_message(status));
  exit(1);
}

#define REQUIRE(call) require(#call, call)

static void fail(const char *what) {
  fprintf(stderr, "attn-capi-check: %s\n", what);
  exit(1);
}

static struct rlimit savedLimit;

/* Limits the address space to what is mapped now plus `headroom` bytes. */
static void limitAddressSpace(rlim_t headroom) {
  unsigned long pages = 0;
  FILE *statm = fopen("/proc/self/statm", "r");
  if (!statm || fscanf(statm, "%lu", &pages) != 1)
    fail("cannot read /proc/self/statm");
  fclose(statm);
  if (getrlimit(RLIMIT_AS, &savedLimit) != 0)
    fail("cannot read the address space limit");
  struct rlimit limit = savedLimit;
  limit.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + headroom;
  if (setrlimit(RLIMIT_AS, &limit) != 0)
    fail("cannot limit the address space");
}

static void restoreAddressSpace(void) {
  if (setrlimit(RLIMIT_AS, &savedLimit) != 0)
    fail("cannot restore the address space limit");
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fputs("usage: attn-capi-check ARTIFACT\n", stderr);
    return 2;
  }
  const char *path = argv[1];
  attn_artifact_t *artifact = NULL;
  attn_session_t *session = NULL;
  attn_generator_t *generator = NULL;
  int32_t tokens[4] = {6, 1, 2, 3};
  size_t count = 0;
  const char *text = NULL;
  size_t length = 0;
  const float *logits = NULL;
  int32_t token = 0;
  attn_stop_reason_t reason = ATTN_STOP_REASON_NONE;

  /* Artifacts. */
  CHECK(attn_artifact_open(NULL, &artifact));
  CHECK(attn_artifact_open(path, NULL));
  CHECK(attn_artifact_open_with_options(NULL, NULL, &artifact));
  CHECK(attn_artifact_open_with_options(path, NULL, NULL));
  REQUIRE(attn_artifact_open(path, &artifact));
  CHECK(attn_artifact_tokenize(NULL, "hello", 5, NULL, 0, &count));
  CHECK(attn_artifact_tokenize(artifact, NULL, 5, NULL, 0, &count));
  CHECK(attn_artifact_tokenize(artifact, "hello", 5, NULL, 4, &count));
  CHECK(attn_artifact_tokenize(artifact, "hello", 5, NULL, 0, NULL));
  CHECK(attn_artifact_tokenize(artifact, NULL, 0, NULL, 0, &count));
  printf("empty text: %zu tokens\n", count);
  CHECK(attn_artifact_token_text(NULL, 1, &text, &length));
  CHECK(attn_artifact_token_text(artifact, 1, NULL, &length));
  CHECK(attn_artifact_token_text(artifact, 1, &text, NULL));
  attn_artifact_options_initialize(NULL);
  attn_session_options_initialize(NULL);
  attn_generate_options_initialize(NULL);
  attn_model_info_t info;
  attn_artifact_model_info(NULL, &info);
  printf("model info of NULL: '%s' %lld\n", info.model_type,
         (long long)info.vocab_size);
  attn_artifact_model_info(artifact, NULL);

  /* Sessions. */
  CHECK(attn_session_create(NULL, NULL, &session));
  CHECK(attn_session_create(artifact, NULL, NULL));

  attn_session_options_t options;
  attn_session_options_initialize(&options);
  options.device = ATTN_DEVICE_CPU;

#ifndef ATTN_ASAN
  /* Too many threads: with 64 MiB of address space to spare, a few threads
   * (8 MiB of stack each) start and then one cannot; the pool must join
   * those that did (destroying them unjoined would terminate the process). */
  limitAddressSpace((rlim_t)64 << 20);
  options.threads = ATTN_MAX_THREADS;
  CHECK(attn_session_create(artifact, &options, &session));
  restoreAddressSpace();

  /* Out of memory: 64 Mi characters, one token each, tokenize to 256 MiB
   * of ids, which do not fit in 64 MiB to spare. */
  size_t manyLength = (size_t)64 << 20;
  char *many = malloc(manyLength);
  if (!many)
    fail("cannot allocate the long text");
  memset(many, 'a', manyLength);
  limitAddressSpace((rlim_t)64 << 20);
  attn_status_t first =
      attn_artifact_tokenize(artifact, many, manyLength, NULL, 0, &count);
  attn_status_t second =
      attn_artifact_tokenize(artifact, many, manyLength, NULL, 0, &count);
  restoreAddressSpace();
  free(many);
  printf("out of memory: %s: %s\n", codeName(attn_status_code(first)),
         attn_status_message(first));
  /* Reporting it allocates nothing: both calls give the same status. */
  printf("out of memory twice: %s status\n",
         first == second ? "the same" : "another");
  attn_status_free(first);
  if (second != first)
    attn_status_free(second);
#else
  /* AddressSanitizer dies where a mapping fails, and its operator new aborts
   * instead of throwing: thread stacks of 1 TiB, which cannot all be mapped,
   * stand in for the limit, and running out of memory is not checked. */
  pthread_attr_t saved, huge;
  if (pthread_getattr_default_np(&saved) != 0 ||
      pthread_attr_init(&huge) != 0 ||
      pthread_attr_setstacksize(&huge, (size_t)1 << 40) != 0 ||
      pthread_setattr_default_np(&huge) != 0)
    fail("cannot set the default thread stack size");
  options.threads = ATTN_MAX_THREADS;
  CHECK(attn_session_create(artifact, &options, &session));
  pthread_setattr_default_np(&saved);
  pthread_attr_destroy(&huge);
  pthread_attr_destroy(&saved);
  puts("out of memory: not run under AddressSanitizer");
#endif

  options.threads = 2;
  REQUIRE(attn_session_create(artifact, &options, &session));
  printf("device of NULL: %s\n", attn_device_name(attn_session_device(NULL)));
  CHECK(attn_session_profile(NULL, &text));
  CHECK(attn_session_profile(session, NULL));
  CHECK(attn_session_reset(NULL));
  CHECK(attn_session_run(NULL, "prefill", tokens, 1, 0, &logits));
  CHECK(attn_session_run(session, NULL, tokens, 1, 0, &logits));
  CHECK(attn_session_run(session, "prefill", NULL, 2, 0, &logits));
  CHECK(attn_session_run(session, "prefill", tokens, 1, 0, NULL));
  CHECK(attn_session_run(session, "prefill", tokens, 1, 0, &logits));

  /* Generators. */
  CHECK(attn_generator_start(NULL, tokens, 1, NULL, &generator));
  CHECK(attn_generator_start(session, NULL, 2, NULL, &generator));
  CHECK(attn_generator_start(session, tokens, 1, NULL, NULL));
  REQUIRE(attn_generator_start(session, tokens, 1, NULL, &generator));
  CHECK(attn_generator_next(NULL, &token, &reason));
  CHECK(attn_generator_next(generator, NULL, &reason));
  CHECK(attn_generator_next(generator, &token, NULL));
  CHECK(attn_generator_next(generator, &token, &reason));
  printf("next: %d %s\n", token, attn_stop_reason_name(reason));
  const int32_t *prompt = tokens;
  attn_generator_prompt(NULL, &prompt, &count);
  printf("prompt of NULL: %s %zu\n", prompt ? "non-NULL" : "NULL", count);
  attn_generator_prompt(generator, NULL, NULL);
  printf("logits of NULL: %s\n",
         attn_generator_logits(NULL) ? "non-NULL" : "NULL");

  attn_generator_free(generator);
  attn_session_free(session);
  attn_artifact_free(artifact);
  puts("done");
  return 0;
}
