//===- Status.cpp - Errors of the attn runtime ----------------------------===//

#include "runtime/Status.h"

#include <cstdarg>
#include <cstdio>

namespace attn::runtime {

std::string formatStringV(const char *format, va_list args) {
  va_list copy;
  va_copy(copy, args);
  int length = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (length <= 0)
    return {};
  std::string result(static_cast<size_t>(length), '\0');
  std::vsnprintf(result.data(), result.size() + 1, format, args);
  return result;
}

std::string formatString(const char *format, ...) {
  va_list args;
  va_start(args, format);
  std::string result = formatStringV(format, args);
  va_end(args);
  return result;
}

Status makeError(StatusCode code, const char *format, ...) {
  va_list args;
  va_start(args, format);
  Status result(code, formatStringV(format, args));
  va_end(args);
  return result;
}

Status Status::withPrefix(const std::string &prefix) && {
  if (!ok())
    message_.insert(0, prefix);
  return std::move(*this);
}

} // namespace attn::runtime
