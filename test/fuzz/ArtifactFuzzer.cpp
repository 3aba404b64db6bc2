//===- ArtifactFuzzer.cpp - Fuzz the artifact loader ----------------------===//
//
// The input is a whole .attn file. It is written to a memfd and opened with
// Artifact::open by its /proc/self/fd path, like a file on disk: the
// FlatBuffers verifier, the config, tokenizer, weights, tensor, buffer and
// program checks, and the kernel loading all run. An artifact that opens
// must keep the loader's promise that a session can run every step without
// checking again: each program is evaluated at steps the loader did not try,
// and every view it yields must lie inside its buffer. Tokenizing and token
// texts run too. Errors must be one line that names the file.
//
// The CPU kernels are native code that dlopen runs, so an artifact is as
// trusted as a shared library; what a mutated ELF image does is not the
// loader's to check. So the kernels are loaded only when they are exactly
// the test kernels' image (the seeds built by attn-test-artifact); any other
// image gets its first byte zeroed before the loader sees it, which the
// loader refuses as "not an ELF file" after every other check has run.
//
// The artifact's seal (runtime/Trailer.h) would refuse nearly every mutation
// of the FlatBuffer at once, so the harness reseals the input, as a hostile
// artifact would be: the mutations reach the checks behind the seal.
//
//===----------------------------------------------------------------------===//

#include "runtime/Artifact.h"
#include "test/runtime/ArtifactBuilder.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

using namespace attn::runtime;
namespace fb = attn::artifact;

static std::vector<uint8_t> *trustedKernels;
static int memfd = -1;
static std::string *artifactPath;

[[noreturn]] static void fail(const char *what) {
  std::fprintf(stderr, "fuzz target: broken promise: %s\n", what);
  std::abort();
}

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  trustedKernels = new std::vector<uint8_t>(attn::test::testKernelsImage());
  memfd = memfd_create("attn-fuzz-artifact", MFD_CLOEXEC);
  if (memfd < 0)
    fail("cannot create a memfd");
  artifactPath = new std::string("/proc/self/fd/" + std::to_string(memfd));
  return 0;
}

/// Zeroes the first byte of each CPU variant's kernel image unless it is the
/// test kernels'. The loader verifies the same way, so it sees the same
/// fields.
static void distrustKernels(std::vector<uint8_t> &bytes) {
  if (bytes.size() < 8 || !fb::ArtifactBufferHasIdentifier(bytes.data()))
    return;
  flatbuffers::Verifier verifier(
      bytes.data(), std::min<size_t>(bytes.size(), FLATBUFFERS_MAX_BUFFER_SIZE - 1),
      flatbuffers::Verifier::Options());
  if (!fb::VerifyArtifactBuffer(verifier))
    return;
  const fb::Artifact *root = fb::GetArtifact(bytes.data());
  if (!root->cpu())
    return;
  for (const fb::CpuKernels *variant : *root->cpu()) {
    const auto *image = variant->shared_object();
    if (!image || image->size() == 0 ||
        (image->size() == trustedKernels->size() &&
         std::memcmp(image->data(), trustedKernels->data(), image->size()) ==
             0))
      continue;
    bytes[image->data() - bytes.data()] = 0;
  }
}

static void checkError(const Status &status) {
  const std::string &message = status.message();
  if (message.find('\n') != std::string::npos)
    fail("an error is not one line");
  if (message.rfind(*artifactPath + ": ", 0) != 0)
    fail("an error does not start with the file's name");
}

/// Evaluates `program` at (S, T) with every buffer at one fake address and
/// checks each view's elements against its buffer independently of the
/// loader's own check.
static void checkStep(const Artifact &artifact, const ProgramPlan &program,
                      int64_t S, int64_t T) {
  const std::vector<BufferPlan> &buffers = artifact.buffers();
  // Never dereferenced: only offsets from it are computed.
  std::byte *base = reinterpret_cast<std::byte *>(uintptr_t(1) << 20);
  std::vector<std::byte *> bases(buffers.size(), base);
  std::vector<attn_memref> memrefs(program.bindingCount);
  std::vector<int64_t> works(program.dispatches.size());
  attn_memref logits;
  Status status = artifact.evaluateProgram(program, S, T, bases.data(),
                                           memrefs.data(), works.data(),
                                           logits);
  if (!status.ok()) {
    checkError(status);
    return;
  }
  auto checkView = [&](const ViewPlan &view, const attn_memref &memref) {
    const BufferPlan &buffer = buffers[view.buffer];
    int64_t elementSize = static_cast<int64_t>(dtypeSize(buffer.dtype));
    int64_t offset = (static_cast<std::byte *>(memref.data) - base) / elementSize;
    // __int128: a view may be as large as a buffer of INT64_MAX bytes.
    __int128 low = offset, high = offset;
    for (uint32_t d = 0; d < view.rank; ++d) {
      if (memref.sizes[d] < 0)
        fail("a view has a negative size");
      if (memref.sizes[d] == 0)
        return;
      __int128 extent = static_cast<__int128>(memref.sizes[d] - 1) * memref.strides[d];
      (extent < 0 ? low : high) += extent;
    }
    if (low < 0 || high >= buffer.elements)
      fail("a view that the loader accepted leaves its buffer");
  };
  size_t next = 0;
  for (size_t d = 0; d < program.dispatches.size(); ++d) {
    if (works[d] < 0)
      fail("a negative work size");
    for (const ViewPlan &view : program.dispatches[d].bindings)
      checkView(view, memrefs[next++]);
  }
  checkView(program.logits, logits);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  distrustKernels(bytes);
  attn::test::resealArtifact(bytes);
  if (ftruncate(memfd, 0) != 0)
    fail("cannot truncate the memfd");
  for (size_t written = 0; written < bytes.size();) {
    ssize_t n = pwrite(memfd, bytes.data() + written, bytes.size() - written,
                       static_cast<off_t>(written));
    if (n <= 0)
      fail("cannot write the memfd");
    written += static_cast<size_t>(n);
  }

  std::shared_ptr<const Artifact> artifact;
  Status status = Artifact::open(*artifactPath, artifact);
  if (!status.ok()) {
    checkError(status);
    return 0;
  }

  int64_t context = artifact->contextLength();
  for (const ProgramPlan &program : artifact->programs()) {
    int64_t maxS = program.staticS ? program.staticS : context;
    for (int64_t S : {int64_t(1), (maxS + 1) / 2, maxS})
      for (int64_t T : {int64_t(0), (context - S) / 2, context - S})
        checkStep(*artifact, program, S, T);
  }

  // The tokenizer, on a few texts and on the input's first bytes.
  std::vector<int32_t> tokens;
  for (std::string_view text :
       {std::string_view("hello world"), std::string_view(""),
        std::string_view(reinterpret_cast<const char *>(data),
                         std::min<size_t>(size, 64))}) {
    tokens.clear();
    Status encoded = artifact->tokenize(text, tokens);
    if (!encoded.ok()) {
      checkError(encoded);
      continue;
    }
    for (int32_t token : tokens)
      if (token < 0 || token >= artifact->vocabSize())
        fail("the tokenizer made an id outside the vocabulary");
  }
  for (int64_t id : {int64_t(-1), int64_t(0), artifact->vocabSize() - 1,
                     artifact->vocabSize(), int64_t(INT32_MAX)}) {
    std::string_view text;
    Status decoded = artifact->tokenText(static_cast<int32_t>(id), text);
    if (!decoded.ok())
      checkError(decoded);
  }
  return 0;
}
