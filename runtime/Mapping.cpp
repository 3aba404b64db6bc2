//===- Mapping.cpp - mmap'ed files and zeroed memory ----------------------===//

#include "runtime/Mapping.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace attn::runtime {

Mapping::Mapping(Mapping &&other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      length_(std::exchange(other.length_, 0)) {}

Mapping &Mapping::operator=(Mapping &&other) noexcept {
  if (this != &other) {
    this->~Mapping();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    length_ = std::exchange(other.length_, 0);
  }
  return *this;
}

Mapping::~Mapping() {
  if (length_ != 0)
    munmap(data_, length_);
}

Status Mapping::mapFile(const std::string &path, Mapping &out) {
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer before the
  // regular-file check below could refuse it. It changes nothing for the
  // regular files that pass, which are mapped, not read.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return makeError(errno == ENOENT ? StatusCode::NotFound
                                     : StatusCode::IoError,
                     "cannot open: %s", std::strerror(errno));
  struct stat info;
  if (fstat(fd, &info) != 0) {
    int error = errno;
    close(fd);
    return makeError(StatusCode::IoError, "cannot stat: %s",
                     std::strerror(error));
  }
  if (!S_ISREG(info.st_mode)) {
    close(fd);
    return makeError(StatusCode::IoError, "not a regular file");
  }
  Mapping result;
  result.size_ = static_cast<size_t>(info.st_size);
  if (result.size_ != 0) {
    void *data = mmap(nullptr, result.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) {
      int error = errno;
      close(fd);
      return makeError(StatusCode::IoError, "cannot map: %s",
                       std::strerror(error));
    }
    result.data_ = static_cast<std::byte *>(data);
    result.length_ = result.size_;
  }
  // The mapping keeps the file's contents alive; the descriptor is not needed.
  close(fd);
  out = std::move(result);
  return Status();
}

Status Mapping::allocateZeroed(size_t size, Mapping &out) {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (size > SIZE_MAX - page)
    return makeError(StatusCode::ResourceExhausted,
                     "cannot allocate %zu bytes", size);
  size_t length = size == 0 ? page : (size + page - 1) / page * page;
  void *data = mmap(nullptr, length, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (data == MAP_FAILED)
    return makeError(StatusCode::ResourceExhausted,
                     "cannot allocate %zu bytes: %s", size,
                     std::strerror(errno));
  Mapping result;
  result.data_ = static_cast<std::byte *>(data);
  result.size_ = size;
  result.length_ = length;
  out = std::move(result);
  return Status();
}

void Mapping::zero() {
  // A private anonymous mapping reads as zeros after MADV_DONTNEED; that is
  // cheaper than a memset of a large KV cache and gives the memory back.
  if (madvise(data_, length_, MADV_DONTNEED) != 0)
    std::memset(data_, 0, length_);
}

} // namespace attn::runtime
