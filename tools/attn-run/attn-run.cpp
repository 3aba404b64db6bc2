//===- attn-run.cpp - Generate text with a compiled attn artifact ---------===//
//
// Loads an artifact, tokenizes a prompt, runs the prefill and the decode
// steps, and streams the generated text, or prints one JSON object for
// scripts and tests. It uses only the runtime's C API.
//
//===----------------------------------------------------------------------===//

#include "attn/runtime.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <vector>

namespace {

const char *const kUsage = R"(usage: attn-run ARTIFACT (--prompt TEXT | --tokens IDS) [options]
       attn-run ARTIFACT --tokenize TEXT [--json]

Generates text with a compiled attn artifact (.attn): runs the prefill of
the prompt, then one decode step per generated token, until the model
produces its stop token, --max-new-tokens tokens are generated, or the
context is full.

Input:
  --prompt TEXT          the prompt, tokenized with the artifact's tokenizer
  --prompt-file FILE     the prompt is FILE's bytes (- reads standard input):
                         for prompts too long for the command line. One
                         newline at its end (\n or \r\n), which editors and
                         echo add, is dropped; --prompt keeps its text as
                         given
  --tokens IDS           the prompt as comma-separated token ids: 1,2,3
                         (an empty prompt starts from the model's bos_token)
  --tokenize TEXT        print the token ids of TEXT and exit (comma-separated,
                         or {"tokens": [...]} with --json)

Generation:
  --max-new-tokens N     generate at most N tokens (default 32; 0 runs the
                         prefill only)
  --temperature T        0 (default) is greedy, ties going to the lowest id;
                         otherwise sample from softmax(logits / T)
  --top-k K              sample among the K most likely tokens (default 0: off)
  --top-p P              sample among the fewest most likely tokens whose
                         probability reaches P, in (0, 1] (default 1: off)
  --seed S               seed of the sampler; equal seeds give equal output
                         (default 0)
  --truncate             keep the last tokens of a prompt longer than the
                         context instead of failing
  --device DEVICE        cpu or cuda: where the kernels run (default: cuda
                         when the artifact has CUDA kernels and the CUDA
                         driver, libcuda.so.1, sees a GPU; else cpu). Asking
                         for a device the artifact has no kernels for, or for
                         cuda without a driver or GPU, is an error.
  --threads N            threads that run the kernels on the cpu (default:
                         one per hardware thread)
  --cpu-variant NAME     the cpu kernels compiled for NAME (one of attnc
                         --cpu's CPU names) instead of the first variant
                         this CPU can run (the most capable)
  --profile              time every kernel and print, on stderr after the
                         run, per program its steps and time in kernels and
                         its kernels by total time (calls, total ms, mean us,
                         share). On cuda, decode then runs kernel by kernel
                         instead of as one CUDA graph.

Weights:
  --weights FILE         run an artifact compiled with attnc
                         --weights=external on the tensors of the safetensors
                         checkpoint FILE instead of the file it records,
                         bound by name: every tensor the artifact needs must
                         be in FILE with the dtype and shape it was compiled
                         for (FILE may hold more); the recorded file is not
                         read. Refused for an artifact that embeds its
                         weights (stored in the compiler's layout).

Output:
  By default, the prompt's text and then each generated token's text as it is
  generated (the stop token prints nothing), and a newline.
  --json                 print one JSON object instead:
                           {"prompt_tokens": [...], "tokens": [...],
                            "text": "...", "stop_reason": "..."}
                         prompt_tokens: the ids the prefill ran on (after
                           bos_token and --truncate);
                         tokens: the generated ids, the stop token included
                           when stop_reason is "eos";
                         text: the generated tokens' text, without the stop
                           token;
                         stop_reason: "eos" (the stop token), "length"
                           (--max-new-tokens) or "context" (the context is
                           full).
  --logits               with --json, add "logits": one array per step (the
                         prefill, then each decode step) of the last
                         position's logits, printed with %.9g so that they
                         read back as the same floats (null if not finite)
  --help                 print this help

Errors print "attn-run: error: <file>: <what is wrong>" on stderr and exit
with 1 (as does a failed write to standard output: "stdout: <why>"); a usage
error exits with 2.
)";

/// A usage error's message; main prints it and exits with 2.
struct UsageError {
  std::string message;
};

/// An error from the runtime or the system; main prints its message and
/// exits with 1.
struct RuntimeError {
  std::string message;
};

/// Flushes stdout; throws RuntimeError if this or an earlier write failed
/// (a full disk, a closed pipe), which would otherwise lose output silently.
void flushStdout() {
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    throw RuntimeError{std::string("stdout: ") +
                       std::strerror(errno ? errno : EIO)};
}

struct Options {
  std::string artifact;
  /// --weights, or empty.
  std::string weights;
  /// --cpu-variant, or empty.
  std::string cpuVariant;
  /// Exactly one of prompt, promptFile, tokens and tokenize is given.
  const char *prompt = nullptr;
  /// --prompt-file, read when the run starts.
  const char *promptFile = nullptr;
  /// --tokens, as given and as ids.
  const char *tokens = nullptr;
  std::vector<int32_t> tokenIds;
  const char *tokenize = nullptr;
  attn_generate_options_t generate;
  attn_device_t device = ATTN_DEVICE_AUTO;
  uint32_t threads = 0;
  bool profile = false;
  bool json = false;
  bool logits = false;
};

/// The decimal integer `text`, the value of `option`, in [min, max].
int64_t parseInteger(const char *option, const char *text, int64_t min,
                     int64_t max) {
  char *end;
  errno = 0;
  long long value = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || errno == ERANGE || value < min ||
      value > max) {
    std::string range = min == 0 && max == INT64_MAX
                            ? "an integer >= 0"
                            : "an integer in [" + std::to_string(min) + ", " +
                                  std::to_string(max) + "]";
    throw UsageError{std::string(option) + " must be " + range + ", not '" +
                     text + "'"};
  }
  return value;
}

/// The finite number `text`, the value of `option`.
double parseNumber(const char *option, const char *text) {
  char *end;
  double value = std::strtod(text, &end);
  if (end == text || *end != '\0' || !std::isfinite(value))
    throw UsageError{std::string(option) + " must be a number, not '" + text +
                     "'"};
  return value;
}

/// "1,2,3" (spaces allowed around the ids); "" is the empty prompt.
std::vector<int32_t> parseTokenList(const char *text) {
  std::vector<int32_t> tokens;
  std::string_view rest = text;
  auto isBlank = [](std::string_view s) {
    return s.find_first_not_of(' ') == std::string_view::npos;
  };
  if (isBlank(rest))
    return tokens;
  for (;;) {
    size_t comma = rest.find(',');
    std::string item(rest.substr(0, comma));
    size_t first = item.find_first_not_of(' ');
    size_t last = item.find_last_not_of(' ');
    item = first == std::string::npos ? "" : item.substr(first, last - first + 1);
    // Ids outside the vocabulary are the runtime's to reject, naming the
    // artifact; here only the syntax matters.
    char *end;
    errno = 0;
    long long id = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || errno == ERANGE || id < INT32_MIN ||
        id > INT32_MAX)
      throw UsageError{"--tokens: '" + item + "' is not a token id"};
    tokens.push_back(static_cast<int32_t>(id));
    if (comma == std::string_view::npos)
      return tokens;
    rest.remove_prefix(comma + 1);
  }
}

/// Parses the command line; throws UsageError. --help prints and exits.
Options parseOptions(int argc, char **argv) {
  Options options;
  attn_generate_options_initialize(&options.generate);
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-') {
      if (!options.artifact.empty())
        throw UsageError{"unexpected argument '" + std::string(arg) +
                         "' (one artifact only)"};
      options.artifact = std::string(arg);
      continue;
    }
    // --name=value or --name value.
    std::string name(arg.substr(0, arg.find('=')));
    const char *inlineValue =
        arg.find('=') == std::string_view::npos ? nullptr
                                                : argv[i] + name.size() + 1;
    auto flag = [&] {
      if (inlineValue)
        throw UsageError{"option '" + name + "' takes no value"};
    };
    auto value = [&]() -> const char * {
      if (inlineValue)
        return inlineValue;
      if (i + 1 >= argc)
        throw UsageError{"option '" + name + "' needs a value"};
      return argv[++i];
    };
    if (name == "--help" || name == "-h") {
      flag();
      std::fputs(kUsage, stdout);
      flushStdout();
      std::exit(0);
    } else if (name == "--prompt") {
      options.prompt = value();
    } else if (name == "--prompt-file") {
      options.promptFile = value();
    } else if (name == "--tokens") {
      options.tokens = value();
      options.tokenIds = parseTokenList(options.tokens);
    } else if (name == "--tokenize") {
      options.tokenize = value();
    } else if (name == "--max-new-tokens") {
      options.generate.max_new_tokens =
          parseInteger(name.c_str(), value(), 0, INT64_MAX);
    } else if (name == "--temperature") {
      options.generate.temperature = parseNumber(name.c_str(), value());
      if (options.generate.temperature < 0)
        throw UsageError{"--temperature must be >= 0"};
    } else if (name == "--top-k") {
      options.generate.top_k = parseInteger(name.c_str(), value(), 0, INT64_MAX);
    } else if (name == "--top-p") {
      options.generate.top_p = parseNumber(name.c_str(), value());
      if (!(options.generate.top_p > 0 && options.generate.top_p <= 1))
        throw UsageError{"--top-p must be in (0, 1]"};
    } else if (name == "--seed") {
      const char *text = value();
      char *end;
      errno = 0;
      options.generate.seed = std::strtoull(text, &end, 10);
      if (end == text || *end != '\0' || errno == ERANGE || text[0] == '-')
        throw UsageError{"--seed must be an unsigned 64-bit integer, not '" +
                         std::string(text) + "'"};
    } else if (name == "--weights") {
      options.weights = value();
      if (options.weights.empty())
        throw UsageError{"--weights needs a file name"};
    } else if (name == "--cpu-variant") {
      options.cpuVariant = value();
      if (options.cpuVariant.empty())
        throw UsageError{"--cpu-variant needs a CPU name"};
    } else if (name == "--device") {
      std::string_view device = value();
      if (device == "cpu")
        options.device = ATTN_DEVICE_CPU;
      else if (device == "cuda")
        options.device = ATTN_DEVICE_CUDA;
      else
        throw UsageError{"--device must be cpu or cuda, not '" +
                         std::string(device) + "'"};
    } else if (name == "--threads") {
      options.threads = static_cast<uint32_t>(
          parseInteger(name.c_str(), value(), 1, ATTN_MAX_THREADS));
    } else if (name == "--truncate") {
      flag();
      options.generate.truncate_prompt = true;
    } else if (name == "--profile") {
      flag();
      options.profile = true;
    } else if (name == "--json") {
      flag();
      options.json = true;
    } else if (name == "--logits") {
      flag();
      options.logits = true;
    } else {
      throw UsageError{"unknown option '" + name + "'"};
    }
  }
  if (options.artifact.empty())
    throw UsageError{"no artifact given"};
  int inputs = !!options.prompt + !!options.promptFile + !!options.tokens +
               !!options.tokenize;
  if (inputs != 1)
    throw UsageError{inputs == 0
                         ? "give the prompt with --prompt, --prompt-file or "
                           "--tokens"
                         : "--prompt, --prompt-file, --tokens and --tokenize "
                           "exclude each other"};
  if (options.logits && !options.json)
    throw UsageError{"--logits needs --json"};
  return options;
}

/// Throws the message of `status`, if it is an error, after freeing it.
void check(attn_status_t status) {
  if (!status)
    return;
  RuntimeError error{attn_status_message(status)};
  attn_status_free(status);
  throw error;
}

/// Owns the runtime's handles for the lifetime of a run.
struct Handles {
  attn_artifact_t *artifact = nullptr;
  attn_session_t *session = nullptr;
  attn_generator_t *generator = nullptr;
  ~Handles() {
    attn_generator_free(generator);
    attn_session_free(session);
    attn_artifact_free(artifact);
  }
};

/// The length of the valid UTF-8 sequence at text[pos], or 0.
size_t utf8SequenceLength(std::string_view text, size_t pos) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(pos);
  size_t length = lead < 0x80 ? 1 : lead >= 0xc2 && lead <= 0xdf ? 2
                                : lead >= 0xe0 && lead <= 0xef   ? 3
                                : lead >= 0xf0 && lead <= 0xf4   ? 4
                                                                 : 0;
  if (length == 0 || text.size() - pos < length)
    return 0;
  for (size_t i = 1; i < length; ++i)
    if ((byte(pos + i) & 0xc0) != 0x80)
      return 0;
  // Overlong three- and four-byte forms, surrogates, and past U+10FFFF.
  unsigned char second = byte(pos + 1);
  if ((lead == 0xe0 && second < 0xa0) || (lead == 0xed && second > 0x9f) ||
      (lead == 0xf0 && second < 0x90) || (lead == 0xf4 && second > 0x8f))
    return 0;
  return length;
}

/// Appends `text` as a JSON string; bytes that are not UTF-8 become U+FFFD.
void appendJsonString(std::string &out, std::string_view text) {
  out += '"';
  for (size_t pos = 0; pos < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[pos]);
    size_t length = utf8SequenceLength(text, pos);
    if (length == 0) {
      out += "\\ufffd";
      ++pos;
      continue;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      char escape[8];
      std::snprintf(escape, sizeof(escape), "\\u%04x", c);
      out += escape;
    } else {
      out.append(text.substr(pos, length));
    }
    pos += length;
  }
  out += '"';
}

/// Appends `ids` as a JSON array.
void appendJsonIds(std::string &out, const int32_t *ids, size_t count) {
  out += '[';
  for (size_t i = 0; i < count; ++i)
    out += (i ? ", " : "") + std::to_string(ids[i]);
  out += ']';
}

/// Appends `values` as a JSON array of numbers that read back as the same
/// floats.
void appendJsonFloats(std::string &out, const std::vector<float> &values) {
  out += '[';
  char number[32];
  for (size_t i = 0; i < values.size(); ++i) {
    if (i)
      out += ", ";
    // JSON has no NaN or infinity.
    if (!std::isfinite(values[i])) {
      out += "null";
      continue;
    }
    std::snprintf(number, sizeof(number), "%.9g", values[i]);
    out += number;
  }
  out += ']';
}

/// Writes `text` to stdout at once, so that streamed text shows up as it is
/// generated; throws RuntimeError when that fails.
void write(std::string_view text) {
  errno = 0;
  std::fwrite(text.data(), 1, text.size(), stdout);
  flushStdout();
}

/// The text of `token`, borrowed from `artifact`.
std::string_view tokenText(const attn_artifact_t *artifact, int32_t token) {
  const char *text;
  size_t length;
  check(attn_artifact_token_text(artifact, token, &text, &length));
  return std::string_view(text, length);
}

/// The token ids of the NUL-terminated `text`.
std::vector<int32_t> tokenize(const attn_artifact_t *artifact,
                              std::string_view prompt) {
  size_t count = 0;
  const char *text = prompt.data();
  size_t length = prompt.size();
  check(attn_artifact_tokenize(artifact, text, length, nullptr, 0, &count));
  std::vector<int32_t> tokens(count);
  check(attn_artifact_tokenize(artifact, text, length, tokens.data(),
                               tokens.size(), &count));
  return tokens;
}

/// The bytes of `path` ("-": standard input), for --prompt-file, without
/// one final "\n" or "\r\n": files written by editors, and `echo`, end
/// with one, and a newline is rarely in a vocabulary (CogModel's has none).
std::string readPromptFile(const char *path) {
  bool standardInput = std::strcmp(path, "-") == 0;
  std::FILE *file = standardInput ? stdin : std::fopen(path, "rb");
  if (!file)
    throw RuntimeError{std::string(path) + ": cannot open: " +
                       std::strerror(errno)};
  std::string text;
  char buffer[1 << 16];
  size_t read;
  while ((read = std::fread(buffer, 1, sizeof(buffer), file)) > 0)
    text.append(buffer, read);
  int error = std::ferror(file) ? errno : 0;
  if (!standardInput)
    std::fclose(file);
  if (error)
    throw RuntimeError{std::string(path) + ": cannot read: " +
                       std::strerror(error)};
  if (!text.empty() && text.back() == '\n') {
    text.pop_back();
    if (!text.empty() && text.back() == '\r')
      text.pop_back();
  }
  return text;
}

/// Runs what `options` ask for; throws RuntimeError.
int run(const Options &options) {
  Handles handles;
  attn_artifact_options_t artifactOptions;
  attn_artifact_options_initialize(&artifactOptions);
  if (!options.weights.empty())
    artifactOptions.weights_path = options.weights.c_str();
  if (!options.cpuVariant.empty())
    artifactOptions.cpu_variant = options.cpuVariant.c_str();
  check(attn_artifact_open_with_options(options.artifact.c_str(),
                                        &artifactOptions, &handles.artifact));
  attn_model_info_t info;
  attn_artifact_model_info(handles.artifact, &info);

  if (options.tokenize) {
    std::vector<int32_t> tokens = tokenize(handles.artifact, options.tokenize);
    std::string out;
    if (options.json) {
      out = "{\"tokens\": ";
      appendJsonIds(out, tokens.data(), tokens.size());
      out += "}";
    } else {
      for (size_t i = 0; i < tokens.size(); ++i)
        out += (i ? "," : "") + std::to_string(tokens[i]);
    }
    write(out + "\n");
    return 0;
  }

  std::vector<int32_t> prompt =
      options.prompt       ? tokenize(handles.artifact, options.prompt)
      : options.promptFile ? tokenize(handles.artifact,
                                      readPromptFile(options.promptFile))
                           : options.tokenIds;
  attn_session_options_t sessionOptions;
  attn_session_options_initialize(&sessionOptions);
  sessionOptions.threads = options.threads;
  sessionOptions.device = options.device;
  sessionOptions.profile = options.profile;
  check(attn_session_create(handles.artifact, &sessionOptions,
                            &handles.session));
  check(attn_generator_start(handles.session, prompt.data(), prompt.size(),
                             &options.generate, &handles.generator));

  const int32_t *promptTokens;
  size_t promptCount;
  attn_generator_prompt(handles.generator, &promptTokens, &promptCount);
  std::vector<std::vector<float>> logits;
  auto recordLogits = [&] {
    if (!options.logits)
      return;
    const float *step = attn_generator_logits(handles.generator);
    logits.emplace_back(step, step + info.vocab_size);
  };
  recordLogits();
  if (!options.json) {
    std::string text;
    for (size_t i = 0; i < promptCount; ++i)
      text += tokenText(handles.artifact, promptTokens[i]);
    write(text);
  }

  std::vector<int32_t> generated;
  std::string text;
  attn_stop_reason_t reason = ATTN_STOP_REASON_NONE;
  while (reason == ATTN_STOP_REASON_NONE) {
    int32_t token;
    check(attn_generator_next(handles.generator, &token, &reason));
    if (reason == ATTN_STOP_REASON_NONE)
      recordLogits();
    if (token < 0)
      continue;
    generated.push_back(token);
    if (reason == ATTN_STOP_REASON_EOS)
      continue;
    std::string_view piece = tokenText(handles.artifact, token);
    text += piece;
    if (!options.json)
      write(piece);
  }

  if (options.profile) {
    const char *profile;
    check(attn_session_profile(handles.session, &profile));
    fputs(profile, stderr);
  }
  if (!options.json) {
    write("\n");
    return 0;
  }
  std::string out = "{\"prompt_tokens\": ";
  appendJsonIds(out, promptTokens, promptCount);
  out += ", \"tokens\": ";
  appendJsonIds(out, generated.data(), generated.size());
  out += ", \"text\": ";
  appendJsonString(out, text);
  out += ", \"stop_reason\": \"";
  out += attn_stop_reason_name(reason);
  out += '"';
  if (options.logits) {
    out += ", \"logits\": [";
    for (size_t i = 0; i < logits.size(); ++i) {
      if (i)
        out += ", ";
      appendJsonFloats(out, logits[i]);
    }
    out += ']';
  }
  write(out + "}\n");
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  try {
    int status = run(parseOptions(argc, argv));
    // The last buffered bytes are written here, and a write can fail as
    // late as the close (a full disk): the exit status must say so.
    flushStdout();
    errno = 0;
    if (std::fclose(stdout) != 0)
      throw RuntimeError{std::string("stdout: ") +
                         std::strerror(errno ? errno : EIO)};
    return status;
  } catch (const UsageError &error) {
    std::fprintf(stderr, "attn-run: error: %s (see 'attn-run --help')\n",
                 error.message.c_str());
    return 2;
  } catch (const RuntimeError &error) {
    std::fprintf(stderr, "attn-run: error: %s\n", error.message.c_str());
    return 1;
  } catch (const std::bad_alloc &) {
    std::fputs("attn-run: error: out of memory\n", stderr);
    return 1;
  } catch (const std::exception &error) {
    std::fprintf(stderr, "attn-run: error: %s\n", error.what());
    return 1;
  } catch (...) {
    std::fputs("attn-run: error: an unknown exception\n", stderr);
    return 1;
  }
}
