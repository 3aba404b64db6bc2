//===- Status.h - Errors of the attn runtime --------------------*- C++ -*-===//
//
// Every fallible runtime function returns a Status: OK, or a code and one line
// of text that names the file and what is wrong with it. The C API hands the
// same code and text to its callers.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_STATUS_H
#define ATTN_RUNTIME_STATUS_H

#include <cstdarg>
#include <string>
#include <utility>

namespace attn::runtime {

/// What kind of failure a Status reports. The values are those of the C API's
/// attn_status_code_t.
enum class StatusCode {
  Ok = 0,
  /// A caller's argument is wrong (an option, a token id, a prompt).
  InvalidArgument = 1,
  /// A file, a program or a symbol does not exist.
  NotFound = 2,
  /// Reading or mapping a file failed.
  IoError = 3,
  /// The artifact is corrupt or inconsistent.
  InvalidArtifact = 4,
  /// The artifact is valid but needs something this runtime or CPU lacks.
  Unsupported = 5,
  /// Memory could not be allocated.
  ResourceExhausted = 6,
};

/// OK, or an error code with its message.
class [[nodiscard]] Status {
public:
  /// OK.
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::Ok; }
  StatusCode code() const { return code_; }
  const std::string &message() const { return message_; }

  /// The same error with `prefix` in front of its message (OK stays OK).
  Status withPrefix(const std::string &prefix) &&;

private:
  StatusCode code_ = StatusCode::Ok;
  std::string message_;
};

/// printf into a std::string.
std::string formatString(const char *format, ...)
    __attribute__((format(printf, 1, 2)));
/// vprintf into a std::string.
std::string formatStringV(const char *format, va_list args)
    __attribute__((format(printf, 1, 0)));

/// An error whose message is formatted with printf.
Status makeError(StatusCode code, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/// `status` with the control characters of its message escaped (\n, \t,
/// \xNN): names from files (tensors, buffers, paths) must not break an
/// error's single line.
Status escapeControlCharacters(Status status);

} // namespace attn::runtime

/// Returns from the enclosing function when `expr` yields an error.
#define ATTN_RETURN_IF_ERROR(expr)                                             \
  do {                                                                         \
    ::attn::runtime::Status attnStatus_ = (expr);                              \
    if (!attnStatus_.ok())                                                     \
      return attnStatus_;                                                      \
  } while (false)

#endif // ATTN_RUNTIME_STATUS_H
