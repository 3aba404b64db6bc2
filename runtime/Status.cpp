//===- Status.cpp - Errors of the attn runtime ----------------------------===//

#include "runtime/Status.h"

#include <algorithm>
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

Status escapeControlCharacters(Status status) {
  const std::string &message = status.message();
  auto isControl = [](unsigned char c) { return c < 0x20 || c == 0x7f; };
  if (std::none_of(message.begin(), message.end(), isControl))
    return status;
  std::string escaped;
  for (unsigned char c : message) {
    if (c == '\n')
      escaped += "\\n";
    else if (c == '\t')
      escaped += "\\t";
    else if (isControl(c))
      escaped += formatString("\\x%02x", c);
    else
      escaped += static_cast<char>(c);
  }
  return Status(status.code(), std::move(escaped));
}

} // namespace attn::runtime
