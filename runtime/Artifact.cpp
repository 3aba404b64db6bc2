//===- Artifact.cpp - A loaded, validated attn artifact -------------------===//

#include "runtime/Artifact.h"

#include "runtime/Hash.h"
#include "runtime/Trailer.h"
#include "runtime/Transpose.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdarg>
#include <cstring>

namespace attn::runtime {

namespace fb = attn::artifact;

/// The alignment of the weight segment and of embedded tensors.
static constexpr uint64_t kWeightAlignment = 64;

/// An error "<what>: its XXH3-64 hash is H, the artifact records R" unless
/// the `size` bytes at `data` hash to `recorded`.
static Status checkHash(const void *data, size_t size, uint64_t recorded,
                        const std::string &what) {
  uint64_t hash = contentHash(data, size);
  if (hash == recorded)
    return Status();
  return makeError(StatusCode::InvalidArtifact,
                   "%s: its XXH3-64 hash is %016llx, the artifact records "
                   "%016llx",
                   what.c_str(), (unsigned long long)hash,
                   (unsigned long long)recorded);
}

/// "2*S + T - 1", the way messages show an affine expression.
static std::string formatAffine(const fb::Affine &affine) {
  std::string text;
  auto addTerm = [&](int64_t coefficient, const char *symbol) {
    if (coefficient == 0)
      return;
    uint64_t magnitude = coefficient < 0 ? 0 - static_cast<uint64_t>(coefficient)
                                         : static_cast<uint64_t>(coefficient);
    if (!text.empty())
      text += coefficient < 0 ? " - " : " + ";
    else if (coefficient < 0)
      text += "-";
    if (magnitude != 1 || !*symbol)
      text += std::to_string(magnitude) + (*symbol ? "*" : "");
    text += symbol;
  };
  addTerm(affine.s(), "S");
  addTerm(affine.t(), "T");
  addTerm(affine.c(), "");
  return text.empty() ? "0" : text;
}

/// "[4, S]", the way messages show a shape.
template <typename Vector, typename Format>
static std::string formatShape(const Vector *shape, Format format) {
  std::string text = "[";
  if (shape)
    for (size_t i = 0; i < shape->size(); ++i)
      text += (i ? ", " : "") + format(shape->Get(i));
  return text + "]";
}

static std::string formatDim(int64_t dim) { return std::to_string(dim); }
/// The Affine at `affine`, or zero when it is absent (a struct field's
/// default).
static fb::Affine loadAffine(const fb::Affine *affine) {
  return affine ? *affine : fb::Affine();
}

/// Whether the elements of `vector` (absent counts) can be read in place.
/// FlatBuffers 2.0.8's verifier aligns a vector for its 4-byte length only,
/// so a corrupt file can misalign a vector of 8-byte values.
template <typename T>
static bool elementsAligned(const flatbuffers::Vector<T> *vector) {
  return !vector || reinterpret_cast<uintptr_t>(vector->Data()) % 8 == 0;
}

static std::string formatAffineDim(const fb::Affine *dim) {
  return formatAffine(loadAffine(dim));
}

/// A name from the artifact for messages: "kind 'name'", or "kind #index"
/// when it has none.
static std::string describeNamed(const char *kind, std::string_view name,
                                 size_t index) {
  if (name.empty())
    return formatString("%s #%zu", kind, index);
  return formatString("%s '%.*s'", kind, (int)name.size(), name.data());
}

static std::string_view stringOrEmpty(const flatbuffers::String *string) {
  return string ? string->string_view() : std::string_view();
}

Artifact::~Artifact() = default;

Status Artifact::open(const std::string &path, const OpenOptions &options,
                      std::shared_ptr<const Artifact> &out) {
  std::shared_ptr<Artifact> artifact(new Artifact());
  artifact->path_ = path;
  artifact->weightsPath_ = options.weights;
  artifact->requestedCpuVariant_ = options.cpuVariant;
  Status status = [&] {
    ATTN_RETURN_IF_ERROR(Mapping::mapFile(path, artifact->file_));
    ATTN_RETURN_IF_ERROR(artifact->verify());
    ATTN_RETURN_IF_ERROR(artifact->readConfig());
    ATTN_RETURN_IF_ERROR(artifact->readTokenizer());
    ATTN_RETURN_IF_ERROR(artifact->mapWeights());
    ATTN_RETURN_IF_ERROR(artifact->readTensors());
    ATTN_RETURN_IF_ERROR(artifact->readBuffers());
    ATTN_RETURN_IF_ERROR(artifact->readKernelTables());
    ATTN_RETURN_IF_ERROR(artifact->readPrograms());
    // Last: loading the kernels runs their code, so the rest must be sound.
    return artifact->loadKernels();
  }();
  if (!status.ok())
    return artifact->annotate(std::move(status));
  out = std::move(artifact);
  return Status();
}

Status Artifact::error(StatusCode code, const char *format, ...) const {
  va_list args;
  va_start(args, format);
  Status status(code, formatStringV(format, args));
  va_end(args);
  return annotate(std::move(status));
}

Status Artifact::annotate(Status status) const {
  if (status.ok())
    return status;
  // Names and paths in messages come from the artifact: a control character
  // in one must not break the message's single line.
  return escapeControlCharacters(std::move(status).withPrefix(path_ + ": "));
}

Status Artifact::verify() {
  const auto *data = reinterpret_cast<const uint8_t *>(file_.data());
  size_t size = file_.size();
  if (size < flatbuffers::kFileIdentifierLength + sizeof(flatbuffers::uoffset_t))
    return makeError(StatusCode::InvalidArtifact,
                     "not an attn artifact: the file has only %zu bytes",
                     size);
  if (!fb::ArtifactBufferHasIdentifier(data)) {
    std::string identifier;
    for (size_t i = 0; i < flatbuffers::kFileIdentifierLength; ++i) {
      char c = static_cast<char>(data[sizeof(flatbuffers::uoffset_t) + i]);
      identifier += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
    }
    return makeError(StatusCode::InvalidArtifact,
                     "not an attn artifact: the file identifier is '%s', "
                     "expected '%s'",
                     identifier.c_str(), fb::ArtifactIdentifier());
  }
  // The seal bounds the FlatBuffer: the verifier sees exactly the sealed
  // bytes, so no offset in them can point into the weights or the seal. A
  // file without one is verified whole, so that an older artifact (which has
  // none) is refused by its version below. The verifier refuses buffers of
  // 2 GiB or more; the FlatBuffer itself is below that.
  ArtifactTrailer trailer;
  bool sealed = readArtifactTrailer(data, size, trailer);
  flatbufferSize_ = sealed ? trailer.flatbufferSize : size;
  flatbuffers::Verifier verifier(
      data, std::min<size_t>(flatbufferSize_, FLATBUFFERS_MAX_BUFFER_SIZE - 1),
      flatbuffers::Verifier::Options());
  if (!fb::VerifyArtifactBuffer(verifier))
    return makeError(StatusCode::InvalidArtifact,
                     "the FlatBuffer is corrupt or truncated (the verifier "
                     "rejects it)");
  root_ = fb::GetArtifact(data);
  if (root_->version() != fb::Version_Current)
    return makeError(StatusCode::Unsupported,
                     "artifact format version %u is not supported (this "
                     "runtime reads version %u)",
                     root_->version(), (unsigned)fb::Version_Current);
  if (!sealed)
    return makeError(StatusCode::InvalidArtifact,
                     "the file does not end with a valid seal (it is "
                     "truncated, or was not written by attnc)");
  ATTN_RETURN_IF_ERROR(checkHash(data, trailer.flatbufferSize,
                                 trailer.flatbufferHash,
                                 "the FlatBuffer is corrupt"));
  const struct {
    const void *table;
    const char *name;
  } required[] = {{root_->config(), "config"},
                  {root_->tokenizer(), "tokenizer"},
                  {root_->buffers(), "buffers"},
                  {root_->programs(), "programs"}};
  for (const auto &field : required)
    if (!field.table)
      return makeError(StatusCode::InvalidArtifact,
                       "the artifact has no '%s'", field.name);
  return Status();
}

Status Artifact::readConfig() {
  const fb::ModelConfig &config = *root_->config();
  modelType_ = stringOrEmpty(config.model_type());
  vocabSize_ = config.vocab_size();
  contextLength_ = config.context_length();
  stopToken_ = config.stop_token();
  bosToken_ = config.bos_token();
  // Token ids and positions are int32 in kernels.
  if (vocabSize_ < 1 || vocabSize_ > INT32_MAX)
    return makeError(StatusCode::InvalidArtifact,
                     "config.vocab_size %lld is not in [1, %d]",
                     (long long)vocabSize_, INT32_MAX);
  if (contextLength_ < 1 || contextLength_ > INT32_MAX)
    return makeError(StatusCode::InvalidArtifact,
                     "config.context_length %lld is not in [1, %d]",
                     (long long)contextLength_, INT32_MAX);
  if (stopToken_ < 0 || stopToken_ >= vocabSize_)
    return makeError(StatusCode::InvalidArtifact,
                     "config.stop_token %lld is not a token id in [0, %lld)",
                     (long long)stopToken_, (long long)vocabSize_);
  if (bosToken_ != -1 && (bosToken_ < 0 || bosToken_ >= vocabSize_))
    return makeError(StatusCode::InvalidArtifact,
                     "config.bos_token %lld is neither -1 nor a token id in "
                     "[0, %lld)",
                     (long long)bosToken_, (long long)vocabSize_);
  return Status();
}

Status Artifact::readTokenizer() {
  Status status = Tokenizer::create(*root_->tokenizer(), vocabSize_,
                                    tokenizer_);
  // A tokenizer this runtime cannot run yet still leaves the model usable
  // with token ids; the error comes when text is needed.
  if (status.code() == StatusCode::Unsupported) {
    tokenizerError_ = annotate(std::move(status));
    return Status();
  }
  return status;
}

Status Artifact::mapWeights() {
  if (!weightsPath_.empty()) {
    // Only external weights are the checkpoint's tensors as they are: the
    // compiler stores embedded ones in its own layout (transposed,
    // narrowed) under the same names, so binding by name and shape could
    // take a square matrix the wrong way round.
    if (root_->weights() &&
        root_->weights()->location() != fb::WeightsLocation_External)
      return makeError(StatusCode::InvalidArgument,
                       "cannot bind weights '%s': the artifact embeds its "
                       "weights, in the compiler's layout; only an artifact "
                       "compiled with --weights=external binds a checkpoint",
                       weightsPath_.c_str());
    Status status = SafetensorsFile::open(weightsPath_, boundWeights_);
    if (!status.ok())
      return std::move(status).withPrefix("weights '" + weightsPath_ +
                                          "': ");
    return Status();
  }
  const fb::Weights *weights = root_->weights();
  size_t tensorCount = root_->tensors() ? root_->tensors()->size() : 0;
  if (!weights) {
    if (tensorCount != 0)
      return makeError(StatusCode::InvalidArtifact,
                       "the artifact has %zu tensors but no 'weights'",
                       tensorCount);
    return Status();
  }
  switch (weights->location()) {
  case fb::WeightsLocation_Embedded: {
    uint64_t offset = weights->segment_offset();
    uint64_t size = weights->segment_size();
    if (offset % kWeightAlignment != 0)
      return makeError(StatusCode::InvalidArtifact,
                       "the weight segment offset %llu is not %llu-byte "
                       "aligned",
                       (unsigned long long)offset,
                       (unsigned long long)kWeightAlignment);
    // verify() found the seal in the file's last bytes; the segment lies
    // between the FlatBuffer it seals and it.
    size_t end = file_.size() - sizeof(ArtifactTrailer);
    if (offset < flatbufferSize_)
      return makeError(StatusCode::InvalidArtifact,
                       "the weight segment (offset %llu) overlaps the "
                       "FlatBuffer (%zu bytes)",
                       (unsigned long long)offset, flatbufferSize_);
    if (offset > end || size > end - offset)
      return makeError(StatusCode::InvalidArtifact,
                       "the weight segment (offset %llu, %llu bytes) extends "
                       "past the seal at byte %zu",
                       (unsigned long long)offset, (unsigned long long)size,
                       end);
    weights_ = file_.data() + offset;
    weightsSize_ = size;
    return Status();
  }
  case fb::WeightsLocation_External: {
    std::string_view name = stringOrEmpty(weights->external_path());
    if (name.empty())
      return makeError(StatusCode::InvalidArtifact,
                       "the weights are external but 'external_path' is "
                       "empty");
    // Relative to the artifact's directory, so that the two files move
    // together.
    std::string path(name);
    size_t slash = path_.rfind('/');
    if (name.front() != '/' && slash != std::string::npos)
      path = path_.substr(0, slash + 1) + path;
    Status status = Mapping::mapFile(path, externalWeights_);
    if (!status.ok())
      return std::move(status).withPrefix("external weights '" + path +
                                          "': ");
    const std::byte *data = externalWeights_.data();
    size_t size = externalWeights_.size();
    if (size != weights->external_size())
      return makeError(StatusCode::InvalidArtifact,
                       "external weights '%s': the file has %zu bytes, "
                       "expected %llu",
                       path.c_str(), size,
                       (unsigned long long)weights->external_size());
    ATTN_RETURN_IF_ERROR(checkHash(data, size, weights->external_xxh3(),
                                   "the external weights file '" + path +
                                       "' is not the one compiled against"));
    // safetensors: an 8-byte little-endian header length, the JSON header,
    // then the data that tensor offsets count from.
    uint64_t headerSize = 0;
    for (size_t i = 0; i < 8 && i < size; ++i)
      headerSize |= static_cast<uint64_t>(data[i]) << (8 * i);
    if (size < 8 || headerSize > size - 8)
      return makeError(StatusCode::InvalidArtifact,
                       "external weights '%s': not a safetensors file (the "
                       "header does not fit in its %zu bytes)",
                       path.c_str(), size);
    weights_ = data + 8 + headerSize;
    weightsSize_ = size - 8 - headerSize;
    return Status();
  }
  }
  return makeError(StatusCode::InvalidArtifact,
                   "unknown weights location %d", (int)weights->location());
}

Status Artifact::readTensors() {
  // mapWeights made sure that there are no tensors without weights, unless
  // they come from OpenOptions::weights.
  if (!root_->tensors() || (!root_->weights() && !boundWeights_))
    return Status();
  bool embedded = root_->weights() &&
                  root_->weights()->location() == fb::WeightsLocation_Embedded;
  const char *region =
      embedded ? "the weight segment" : "the external weights' data";
  for (const fb::Tensor *tensor : *root_->tensors()) {
    std::string label = describeNamed("tensor", stringOrEmpty(tensor->name()),
                                      tensors_.size());
    size_t elementSize = dtypeSize(tensor->dtype());
    if (elementSize == 0)
      return makeError(StatusCode::InvalidArtifact, "%s: unknown dtype %d",
                       label.c_str(), (int)tensor->dtype());
    if (!elementsAligned(tensor->shape()))
      return makeError(StatusCode::InvalidArtifact,
                       "%s: its shape is misaligned (the FlatBuffer is "
                       "corrupt)",
                       label.c_str());
    int64_t elements = 1;
    std::vector<int64_t> dims;
    if (const auto *shape = tensor->shape())
      for (size_t i = 0; i < shape->size(); ++i) {
        if (shape->Get(i) < 0)
          return makeError(StatusCode::InvalidArtifact,
                           "%s: dimension %zu is negative (%lld)",
                           label.c_str(), i, (long long)shape->Get(i));
        if (__builtin_mul_overflow(elements, shape->Get(i), &elements))
          return makeError(StatusCode::InvalidArtifact,
                           "%s: its size overflows", label.c_str());
        dims.push_back(shape->Get(i));
      }
    uint64_t bytes;
    if (__builtin_mul_overflow(static_cast<uint64_t>(elements), elementSize,
                               &bytes) ||
        tensor->size() != bytes)
      return makeError(StatusCode::InvalidArtifact,
                       "%s: size is %llu bytes, but %s %s needs %llu",
                       label.c_str(), (unsigned long long)tensor->size(),
                       dtypeName(tensor->dtype()),
                       formatShape(tensor->shape(), formatDim).c_str(),
                       (unsigned long long)bytes);
    // External weights are the checkpoint's tensors as they are; one that
    // the kernels read transposed is transposed here (embedded ones were
    // by the compiler).
    bool transpose = !embedded && tensor->transposed();
    if (transpose && dims.size() != 2)
      return makeError(StatusCode::InvalidArtifact,
                       "%s: transposed, but of rank %zu (a matrix has 2)",
                       label.c_str(), dims.size());
    std::vector<int64_t> fileDims = dims;
    if (transpose)
      std::swap(fileDims[0], fileDims[1]);
    if (boundWeights_) {
      const std::byte *data;
      Status status = boundWeights_->bind(stringOrEmpty(tensor->name()),
                                          tensor->dtype(), fileDims, data);
      if (!status.ok())
        return std::move(status).withPrefix("weights '" + weightsPath_ +
                                            "': ");
      if (transpose)
        ATTN_RETURN_IF_ERROR(transposeWeight(label, data, fileDims[0],
                                             fileDims[1], elementSize, data));
      tensors_.push_back({data, elements});
      continue;
    }
    uint64_t offset = tensor->offset();
    if (offset > weightsSize_ || bytes > weightsSize_ - offset)
      return makeError(StatusCode::InvalidArtifact,
                       "%s (offset %llu, %llu bytes) lies outside %s (%zu "
                       "bytes)",
                       label.c_str(), (unsigned long long)offset,
                       (unsigned long long)bytes, region, weightsSize_);
    const std::byte *data = weights_ + offset;
    if (embedded && offset % kWeightAlignment != 0)
      return makeError(StatusCode::InvalidArtifact,
                       "%s: offset %llu in the weight segment is not %llu-byte "
                       "aligned",
                       label.c_str(), (unsigned long long)offset,
                       (unsigned long long)kWeightAlignment);
    // The kernels trust every byte: a damaged weight would give wrong logits
    // without a sign. (External weights were hashed as a whole file.)
    if (embedded)
      ATTN_RETURN_IF_ERROR(
          checkHash(data, bytes, tensor->xxh3(), label + " is corrupt"));
    // Kernels load whole elements; safetensors only promises byte offsets.
    if (reinterpret_cast<uintptr_t>(data) % elementSize != 0)
      return makeError(StatusCode::InvalidArtifact,
                       "%s: its data is not aligned to its %zu-byte elements",
                       label.c_str(), elementSize);
    if (transpose)
      ATTN_RETURN_IF_ERROR(transposeWeight(label, data, fileDims[0],
                                           fileDims[1], elementSize, data));
    tensors_.push_back({data, elements});
  }
  return Status();
}

Status Artifact::transposeWeight(const std::string &label,
                                 const std::byte *data, int64_t rows,
                                 int64_t cols, size_t elementSize,
                                 const std::byte *&out) {
  // The caller checked that rows * cols * elementSize fits.
  size_t bytes = static_cast<size_t>(rows * cols) * elementSize;
  // aligned_alloc wants a multiple of the alignment.
  size_t allocated = (bytes + kWeightAlignment - 1) / kWeightAlignment *
                     kWeightAlignment;
  std::unique_ptr<std::byte[], FreeDeleter> copy(static_cast<std::byte *>(
      std::aligned_alloc(kWeightAlignment,
                         std::max<size_t>(allocated, kWeightAlignment))));
  if (!copy)
    return makeError(StatusCode::ResourceExhausted,
                     "%s: cannot allocate %zu bytes to transpose it",
                     label.c_str(), bytes);
  switch (elementSize) {
  case 4:
    transposeMatrix(reinterpret_cast<const uint32_t *>(data), rows, cols,
                    reinterpret_cast<uint32_t *>(copy.get()));
    break;
  case 2:
    transposeMatrix(reinterpret_cast<const uint16_t *>(data), rows, cols,
                    reinterpret_cast<uint16_t *>(copy.get()));
    break;
  default:
    return makeError(StatusCode::Unsupported,
                     "%s: cannot transpose %zu-byte elements", label.c_str(),
                     elementSize);
  }
  out = copy.get();
  transposedWeights_.push_back(std::move(copy));
  return Status();
}

Status Artifact::checkWrites(const DispatchPlan &dispatch,
                             const std::string &where) const {
  if (dispatch.bindings.empty())
    return makeError(StatusCode::InvalidArtifact,
                     "%s has no bindings; a kernel writes at least its output",
                     where.c_str());
  for (size_t i = 0; i < dispatch.updates.size(); ++i) {
    uint32_t index = dispatch.updates[i];
    if (size_t(index) + 1 >= dispatch.bindings.size() ||
        std::find(dispatch.updates.begin(), dispatch.updates.begin() + i,
                  index) != dispatch.updates.begin() + i)
      return makeError(StatusCode::InvalidArtifact,
                       "%s: update %zu names binding %u; expected a distinct "
                       "binding before the output, of %zu",
                       where.c_str(), i, index, dispatch.bindings.size());
  }
  // Weights may be the mapped file, read-only; the runtime writes the tokens.
  for (size_t b = 0; b < dispatch.bindings.size(); ++b) {
    uint32_t buffer = dispatch.bindings[b].buffer;
    fb::BufferKind kind = buffers_[buffer].kind;
    if (dispatch.writes(b) && kind != fb::BufferKind_Scratch &&
        kind != fb::BufferKind_KVCache)
      return makeError(StatusCode::InvalidArtifact,
                       "%s writes binding %zu, %s, a %s buffer; kernels "
                       "write only Scratch and KVCache buffers",
                       where.c_str(), b, describeBuffer(buffer).c_str(),
                       fb::EnumNameBufferKind(kind));
  }
  return Status();
}

std::string Artifact::describeBuffer(uint32_t index) const {
  return describeNamed("buffer", buffers_[index].name, index);
}

Status Artifact::readBuffers() {
  for (const fb::Buffer *buffer : *root_->buffers()) {
    BufferPlan plan;
    plan.name = stringOrEmpty(buffer->name());
    plan.kind = buffer->kind();
    plan.dtype = buffer->dtype();
    std::string label = describeNamed("buffer", plan.name, buffers_.size());
    if (plan.kind < fb::BufferKind_MIN || plan.kind > fb::BufferKind_MAX)
      return makeError(StatusCode::InvalidArtifact, "%s: unknown kind %d",
                       label.c_str(), (int)plan.kind);
    size_t elementSize = dtypeSize(plan.dtype);
    if (elementSize == 0)
      return makeError(StatusCode::InvalidArtifact, "%s: unknown dtype %d",
                       label.c_str(), (int)plan.dtype);
    const auto *shape = buffer->shape();
    size_t rank = shape ? shape->size() : 0;
    if (!elementsAligned(shape))
      return makeError(StatusCode::InvalidArtifact,
                       "%s: its shape is misaligned (the FlatBuffer is "
                       "corrupt)",
                       label.c_str());

    if (plan.kind == fb::BufferKind_Weight) {
      int32_t index = buffer->tensor();
      if (index < 0 || static_cast<size_t>(index) >= tensors_.size())
        return makeError(StatusCode::InvalidArtifact,
                         "%s: tensor index %d is out of range (the artifact "
                         "has %zu tensors)",
                         label.c_str(), index, tensors_.size());
      const fb::Tensor &tensor = *root_->tensors()->Get(index);
      std::string tensorLabel =
          describeNamed("tensor", stringOrEmpty(tensor.name()), index);
      if (plan.dtype != tensor.dtype())
        return makeError(StatusCode::InvalidArtifact,
                         "%s is %s but its %s is %s", label.c_str(),
                         dtypeName(plan.dtype), tensorLabel.c_str(),
                         dtypeName(tensor.dtype()));
      size_t tensorRank = tensor.shape() ? tensor.shape()->size() : 0;
      bool same = rank == tensorRank;
      for (size_t i = 0; same && i < rank; ++i) {
        fb::Affine dim = loadAffine(shape->Get(i));
        same = dim.s() == 0 && dim.t() == 0 &&
               dim.c() == tensor.shape()->Get(i);
      }
      if (!same)
        return makeError(StatusCode::InvalidArtifact,
                         "%s has shape %s but its %s has shape %s",
                         label.c_str(),
                         formatShape(shape, formatAffineDim).c_str(),
                         tensorLabel.c_str(),
                         formatShape(tensor.shape(), formatDim).c_str());
      // Kernels read f32 weights, or f16/bf16 ones that they widen.
      if (plan.dtype != fb::DType_f32 && plan.dtype != fb::DType_f16 &&
          plan.dtype != fb::DType_bf16)
        return makeError(StatusCode::Unsupported,
                         "%s: weights of dtype %s are not supported (f32, "
                         "f16 or bf16)",
                         label.c_str(), dtypeName(plan.dtype));
      plan.elements = tensors_[index].elements;
      plan.weight = tensors_[index].data;
      buffers_.push_back(plan);
      continue;
    }

    if (plan.kind == fb::BufferKind_Tokens &&
        (plan.dtype != fb::DType_i32 || rank != 1))
      return makeError(StatusCode::InvalidArtifact,
                       "%s: a Tokens buffer must be i32 of rank 1, not %s of "
                       "rank %zu",
                       label.c_str(), dtypeName(plan.dtype), rank);
    // Sized for the largest step: S = T = context length.
    plan.elements = 1;
    for (size_t i = 0; i < rank; ++i) {
      fb::Affine expression = loadAffine(shape->Get(i));
      int64_t dim;
      if (!evaluateAffine(expression, contextLength_, contextLength_, dim) ||
          __builtin_mul_overflow(plan.elements, dim, &plan.elements))
        return makeError(StatusCode::InvalidArtifact,
                         "%s: its size overflows", label.c_str());
      if (dim < 0)
        return makeError(StatusCode::InvalidArtifact,
                         "%s: dimension %zu (%s) is negative at S = T = %lld",
                         label.c_str(), i, formatAffine(expression).c_str(),
                         (long long)contextLength_);
    }
    int64_t bytes;
    if (__builtin_mul_overflow(plan.elements,
                               static_cast<int64_t>(elementSize), &bytes))
      return makeError(StatusCode::InvalidArtifact, "%s: its size overflows",
                       label.c_str());
    buffers_.push_back(plan);
  }
  return Status();
}

Status Artifact::readView(const fb::Binding *binding, const std::string &where,
                          ViewPlan &view) const {
  if (binding->buffer() >= buffers_.size())
    return makeError(StatusCode::InvalidArtifact,
                     "%s: buffer index %u is out of range (the artifact has "
                     "%zu buffers)",
                     where.c_str(), binding->buffer(), buffers_.size());
  size_t rank = binding->shape() ? binding->shape()->size() : 0;
  size_t strides = binding->strides() ? binding->strides()->size() : 0;
  if (rank < 1 || rank > ATTN_MAX_RANK)
    return makeError(StatusCode::InvalidArtifact,
                     "%s: rank %zu is not in [1, %d]", where.c_str(), rank,
                     ATTN_MAX_RANK);
  if (strides != rank)
    return makeError(StatusCode::InvalidArtifact,
                     "%s: %zu sizes but %zu strides", where.c_str(), rank,
                     strides);
  if (!elementsAligned(binding->shape()) ||
      !elementsAligned(binding->strides()))
    return makeError(StatusCode::InvalidArtifact,
                     "%s: its shape or strides are misaligned (the FlatBuffer "
                     "is corrupt)",
                     where.c_str());
  view.buffer = binding->buffer();
  view.rank = static_cast<uint32_t>(rank);
  view.offset = loadAffine(binding->offset());
  for (size_t i = 0; i < rank; ++i) {
    view.sizes[i] = loadAffine(binding->shape()->Get(i));
    view.strides[i] = loadAffine(binding->strides()->Get(i));
  }
  return Status();
}

Status Artifact::readKernelTables() {
  const auto *variants = root_->cpu();
  const fb::CpuKernels *cpu =
      variants && variants->size() > 0 ? variants->Get(0) : nullptr;
  const fb::CudaKernels *cuda = root_->cuda();
  if (!cpu && !cuda)
    return makeError(StatusCode::InvalidArtifact,
                     "the artifact has neither CPU nor CUDA kernels");
  if (cpu && cpu->kernel_names())
    for (const flatbuffers::String *name : *cpu->kernel_names())
      kernelNames_.push_back(name->string_view());
  // Dispatch.kernel indexes every variant's list: they must be the same.
  for (uint32_t i = 1; variants && i < variants->size(); ++i) {
    const auto *names = variants->Get(i)->kernel_names();
    bool same = (names ? names->size() : 0) == kernelNames_.size();
    for (uint32_t k = 0; same && k < kernelNames_.size(); ++k)
      same = names->Get(k)->string_view() == kernelNames_[k];
    if (!same)
      return makeError(StatusCode::InvalidArtifact,
                       "CPU kernel variant %u does not have variant 0's "
                       "kernels",
                       i);
  }
  if (!cuda)
    return Status();

  // Dispatch.kernel indexes both lists, so they must be the same list.
  size_t count = cuda->kernel_names() ? cuda->kernel_names()->size() : 0;
  if (cpu && count != kernelNames_.size())
    return makeError(StatusCode::InvalidArtifact,
                     "cuda: %zu kernels, but the CPU kernels are %zu", count,
                     kernelNames_.size());
  auto checkEntries = [&](size_t size, const char *field) {
    if (size == count)
      return Status();
    return makeError(StatusCode::InvalidArtifact,
                     "cuda: %zu kernels but %zu entries in '%s'", count, size,
                     field);
  };
  const struct {
    const flatbuffers::Vector<uint32_t> *values;
    const char *field;
  } geometry[] = {{cuda->block_size(), "block_size"},
                  {cuda->items_per_block(), "items_per_block"},
                  {cuda->shared_memory_bytes(), "shared_memory_bytes"}};
  for (const auto &list : geometry)
    ATTN_RETURN_IF_ERROR(
        checkEntries(list.values ? list.values->size() : 0, list.field));
  // Optional lists: absent, or one entry per kernel.
  if (cuda->grid_y())
    ATTN_RETURN_IF_ERROR(checkEntries(cuda->grid_y()->size(), "grid_y"));
  if (cuda->reads_step())
    ATTN_RETURN_IF_ERROR(
        checkEntries(cuda->reads_step()->size(), "reads_step"));
  if (cuda->workspace_bytes())
    ATTN_RETURN_IF_ERROR(
        checkEntries(cuda->workspace_bytes()->size(), "workspace_bytes"));
  CudaPlan plan;
  for (size_t i = 0; i < count; ++i) {
    CudaKernelPlan kernel;
    kernel.name = cuda->kernel_names()->Get(i)->string_view();
    kernel.blockSize = cuda->block_size()->Get(i);
    kernel.itemsPerBlock = cuda->items_per_block()->Get(i);
    kernel.sharedMemoryBytes = cuda->shared_memory_bytes()->Get(i);
    if (cuda->grid_y())
      kernel.gridY = cuda->grid_y()->Get(i);
    if (cuda->reads_step())
      kernel.readsStep = cuda->reads_step()->Get(i);
    if (cuda->workspace_bytes())
      kernel.workspaceBytes = cuda->workspace_bytes()->Get(i);
    std::string label = describeNamed("cuda: kernel", kernel.name, i);
    if (cpu && kernel.name != kernelNames_[i])
      return makeError(StatusCode::InvalidArtifact,
                       "%s is CPU kernel '%.*s'; the two lists must agree",
                       label.c_str(), (int)kernelNames_[i].size(),
                       kernelNames_[i].data());
    if (kernel.name.empty())
      return makeError(StatusCode::InvalidArtifact, "%s has no name",
                       label.c_str());
    // CUDA's limit on threads per block.
    if (kernel.blockSize < 1 || kernel.blockSize > 1024)
      return makeError(StatusCode::InvalidArtifact,
                       "%s: block_size %u is not in [1, 1024]", label.c_str(),
                       kernel.blockSize);
    if (kernel.itemsPerBlock < 1)
      return makeError(StatusCode::InvalidArtifact,
                       "%s: items_per_block is 0", label.c_str());
    // CUDA's limit on a grid's y dimension.
    if (kernel.gridY < 1 || kernel.gridY > 65535)
      return makeError(StatusCode::InvalidArtifact,
                       "%s: grid_y %u is not in [1, 65535]", label.c_str(),
                       kernel.gridY);
    // Far above what any kernel asks for (a split decode attention: tens
    // of KiB), and small enough that every dispatch's sum cannot overflow.
    constexpr uint64_t kMaxWorkspaceBytes = uint64_t(1) << 30;
    if (kernel.workspaceBytes > kMaxWorkspaceBytes)
      return makeError(StatusCode::InvalidArtifact,
                       "%s: workspace_bytes %llu is more than 1 GiB",
                       label.c_str(),
                       (unsigned long long)kernel.workspaceBytes);
    plan.kernels.push_back(kernel);
  }
  if (cuda->modules())
    for (const fb::CudaModule *module : *cuda->modules()) {
      CudaModulePlan modulePlan;
      modulePlan.arch = stringOrEmpty(module->arch());
      modulePlan.ptx = stringOrEmpty(module->ptx());
      std::string_view arch = modulePlan.arch;
      int capability = 0;
      bool valid = arch.size() > 3 && arch.size() <= 6 &&
                   arch.substr(0, 3) == "sm_";
      for (size_t i = 3; valid && i < arch.size(); ++i) {
        valid = arch[i] >= '0' && arch[i] <= '9';
        capability = capability * 10 + (arch[i] - '0');
      }
      // "sm_90a" and the like are not portable PTX targets; refuse them
      // rather than run code a device may lack features for.
      if (!valid)
        return makeError(StatusCode::InvalidArtifact,
                         "cuda: module arch '%.*s' is not sm_<number>",
                         (int)arch.size(), arch.data());
      if (modulePlan.ptx.empty())
        return makeError(StatusCode::InvalidArtifact,
                         "cuda: the %.*s module has no PTX", (int)arch.size(),
                         arch.data());
      modulePlan.computeCapability = capability;
      plan.modules.push_back(modulePlan);
    }
  if (plan.modules.empty())
    return makeError(StatusCode::InvalidArtifact, "cuda: no PTX modules");
  if (!cpu)
    for (const CudaKernelPlan &kernel : plan.kernels)
      kernelNames_.push_back(kernel.name);
  cuda_ = std::move(plan);
  return Status();
}

Status Artifact::readPrograms() {
  for (const fb::Program *program : *root_->programs()) {
    ProgramPlan plan;
    plan.name = stringOrEmpty(program->name());
    if (plan.name.empty())
      return makeError(StatusCode::InvalidArtifact, "program #%zu has no name",
                       programs_.size());
    if (findProgram(plan.name))
      return makeError(StatusCode::InvalidArtifact,
                       "two programs are named '%.*s'", (int)plan.name.size(),
                       plan.name.data());
    std::string label = describeNamed("program", plan.name, 0);
    plan.staticS = program->static_s();
    if (plan.staticS < 0 || plan.staticS > contextLength_)
      return makeError(StatusCode::InvalidArtifact,
                       "%s: static_s %lld is not in [0, %lld] (the context "
                       "length)",
                       label.c_str(), (long long)plan.staticS,
                       (long long)contextLength_);

    plan.tokens = program->tokens();
    if (plan.tokens >= buffers_.size())
      return makeError(StatusCode::InvalidArtifact,
                       "%s: tokens buffer index %u is out of range (the "
                       "artifact has %zu buffers)",
                       label.c_str(), plan.tokens, buffers_.size());
    const BufferPlan &tokens = buffers_[plan.tokens];
    if (tokens.kind != fb::BufferKind_Tokens)
      return makeError(StatusCode::InvalidArtifact,
                       "%s: its tokens buffer, %s, is a %s buffer, not "
                       "Tokens",
                       label.c_str(), describeBuffer(plan.tokens).c_str(),
                       fb::EnumNameBufferKind(tokens.kind));
    int64_t maxS = plan.staticS ? plan.staticS : contextLength_;
    if (tokens.elements < maxS)
      return makeError(StatusCode::InvalidArtifact,
                       "%s: its tokens buffer, %s, holds %lld ids but a step "
                       "writes up to %lld",
                       label.c_str(), describeBuffer(plan.tokens).c_str(),
                       (long long)tokens.elements, (long long)maxS);

    if (const auto *dispatches = program->dispatches())
      for (const fb::Dispatch *dispatch : *dispatches) {
        std::string where =
            formatString("%s, dispatch %zu", label.c_str(),
                         plan.dispatches.size());
        DispatchPlan dispatchPlan;
        dispatchPlan.kernel = dispatch->kernel();
        if (dispatchPlan.kernel >= kernelNames_.size())
          return makeError(StatusCode::InvalidArtifact,
                           "%s: kernel index %u is out of range (the "
                           "artifact has %zu kernels)",
                           where.c_str(), dispatchPlan.kernel,
                           kernelNames_.size());
        if (const auto *bindings = dispatch->bindings())
          for (const fb::Binding *binding : *bindings) {
            ViewPlan view;
            ATTN_RETURN_IF_ERROR(readView(
                binding,
                formatString("%s, binding %zu", where.c_str(),
                             dispatchPlan.bindings.size()),
                view));
            dispatchPlan.bindings.push_back(view);
          }
        if (const auto *updates = dispatch->updates())
          dispatchPlan.updates.assign(updates->begin(), updates->end());
        ATTN_RETURN_IF_ERROR(checkWrites(dispatchPlan, where));
        const ViewPlan &output = dispatchPlan.bindings.back();
        if (dispatch->work_axis() >= output.rank)
          return makeError(StatusCode::InvalidArtifact,
                           "%s: work axis %u is out of range (its output has "
                           "rank %u)",
                           where.c_str(), dispatch->work_axis(), output.rank);
        dispatchPlan.work = output.sizes[dispatch->work_axis()];
        plan.bindingCount += dispatchPlan.bindings.size();
        plan.dispatches.push_back(std::move(dispatchPlan));
      }
    maxBindingCount_ = std::max(maxBindingCount_, plan.bindingCount);
    maxDispatchCount_ = std::max(maxDispatchCount_, plan.dispatches.size());

    if (!program->logits())
      return makeError(StatusCode::InvalidArtifact,
                       "%s has no logits binding", label.c_str());
    ATTN_RETURN_IF_ERROR(
        readView(program->logits(), label + ", logits", plan.logits));
    const BufferPlan &logits = buffers_[plan.logits.buffer];
    if (logits.dtype != fb::DType_f32)
      return makeError(StatusCode::InvalidArtifact,
                       "%s, logits: %s is %s; logits must be f32",
                       label.c_str(),
                       describeBuffer(plan.logits.buffer).c_str(),
                       dtypeName(logits.dtype));

    // The views, at the smallest and largest S, each with the smallest and
    // largest T. A session checks again at every step, so a view that only
    // leaves its buffer in between cannot do harm either.
    std::vector<attn_memref> memrefs(plan.bindingCount);
    std::vector<int64_t> works(plan.dispatches.size());
    attn_memref logitsView;
    for (int64_t S : {int64_t(1), maxS})
      for (int64_t T : {int64_t(0), contextLength_ - S})
        ATTN_RETURN_IF_ERROR(evaluateProgram(plan, S, T, nullptr,
                                             memrefs.data(), works.data(),
                                             logitsView));
    programs_.push_back(std::move(plan));
  }

  for (const char *name : {"prefill", "decode"})
    if (!findProgram(name))
      return makeError(StatusCode::InvalidArtifact,
                       "the artifact has no '%s' program", name);
  int64_t decodeS = findProgram("decode")->staticS;
  if (decodeS > 1)
    return makeError(StatusCode::InvalidArtifact,
                     "program 'decode' has static_s %lld, but a decode step "
                     "has S = 1",
                     (long long)decodeS);
  return Status();
}

const ProgramPlan *Artifact::findProgram(std::string_view name) const {
  for (const ProgramPlan &program : programs_)
    if (program.name == name)
      return &program;
  return nullptr;
}

std::string Artifact::describeDispatch(const ProgramPlan &program,
                                       size_t dispatch) const {
  std::string text = describeNamed("program", program.name, 0);
  if (dispatch == program.dispatches.size())
    return text + ", logits";
  std::string_view kernel = kernelNames_[program.dispatches[dispatch].kernel];
  return text + formatString(", dispatch %zu (kernel '%.*s')", dispatch,
                             (int)kernel.size(), kernel.data());
}

Status Artifact::evaluateProgram(const ProgramPlan &program, int64_t S,
                                 int64_t T, std::byte *const *bases,
                                 attn_memref *memrefs, int64_t *works,
                                 attn_memref &logits) const {
  // Evaluates one view into `memref`, naming it on failure.
  auto evaluate = [&](const ViewPlan &view, size_t dispatch, size_t binding,
                      attn_memref &memref) -> Status {
    const BufferPlan &buffer = buffers_[view.buffer];
    int64_t offset;
    Status status =
        evaluateView(view, S, T, buffer.elements, memref, offset);
    if (!status.ok()) {
      std::string where = describeDispatch(program, dispatch);
      if (dispatch != program.dispatches.size())
        where += formatString(", binding %zu", binding);
      return std::move(status).withPrefix(
          where + " (" + describeBuffer(view.buffer) + "): ");
    }
    memref.data =
        bases ? bases[view.buffer] + offset * dtypeSize(buffer.dtype) : nullptr;
    return Status();
  };

  size_t next = 0;
  for (size_t d = 0; d < program.dispatches.size(); ++d) {
    const DispatchPlan &dispatch = program.dispatches[d];
    if (!evaluateAffine(dispatch.work, S, T, works[d]) || works[d] < 0)
      return makeError(StatusCode::InvalidArtifact,
                       "%s: at S=%lld, T=%lld, the work size %s is negative "
                       "or overflows",
                       describeDispatch(program, d).c_str(), (long long)S,
                       (long long)T, formatAffine(dispatch.work).c_str());
    for (size_t b = 0; b < dispatch.bindings.size(); ++b)
      ATTN_RETURN_IF_ERROR(evaluate(dispatch.bindings[b], d, b, memrefs[next++]));
  }
  size_t logitsIndex = program.dispatches.size();
  ATTN_RETURN_IF_ERROR(evaluate(program.logits, logitsIndex, 0, logits));
  int64_t elements = 1;
  for (uint32_t dim = 0; dim < program.logits.rank; ++dim)
    if (__builtin_mul_overflow(elements, logits.sizes[dim], &elements))
      elements = -1;
  if (elements != vocabSize_)
    return makeError(StatusCode::InvalidArtifact,
                     "%s (%s): at S=%lld, T=%lld, the view has %lld elements "
                     "but the vocabulary has %lld tokens",
                     describeDispatch(program, logitsIndex).c_str(),
                     describeBuffer(program.logits.buffer).c_str(),
                     (long long)S, (long long)T, (long long)elements,
                     (long long)vocabSize_);
  return Status();
}

Status Artifact::loadKernels() {
  const auto *variants = root_->cpu();
  if (!variants || variants->size() == 0)
    return Status();
  // The first variant (the most capable) this CPU can run, or the one asked
  // for; when none can run, the most portable one's reason.
  const fb::CpuKernels *chosen = nullptr;
  Status unsupported;
  std::string names;
  for (const fb::CpuKernels *variant : *variants) {
    std::string_view name = stringOrEmpty(variant->cpu());
    names += (names.empty() ? "" : ", ") + std::string(name);
    if (!requestedCpuVariant_.empty() && name != requestedCpuVariant_)
      continue;
    unsupported = checkTargetTriple(stringOrEmpty(variant->target_triple()));
    if (unsupported.ok())
      unsupported = checkCpuFeatures(stringOrEmpty(variant->cpu_features()));
    if (unsupported.ok()) {
      chosen = variant;
      break;
    }
  }
  if (!chosen && !unsupported.ok())
    return unsupported;
  if (!chosen)
    return makeError(StatusCode::NotFound,
                     "no CPU kernel variant '%s' (the artifact has %s)",
                     requestedCpuVariant_.c_str(), names.c_str());
  cpuVariant_ = stringOrEmpty(chosen->cpu());
  const fb::CpuKernels &cpu = *chosen;
  const auto *image = cpu.shared_object();
  return KernelLibrary::load(image ? image->data() : nullptr,
                             image ? image->size() : 0, kernelNames_,
                             kernels_);
}

Status Artifact::tokenize(std::string_view text,
                          std::vector<int32_t> &tokens) const {
  if (!tokenizer_)
    return tokenizerError_;
  return annotate(tokenizer_->encode(text, tokens));
}

Status Artifact::tokenText(int32_t token, std::string_view &text) const {
  if (!tokenizer_)
    return tokenizerError_;
  if (token < 0 || token >= vocabSize_)
    return error(StatusCode::InvalidArgument,
                 "token id %d is not in the vocabulary [0, %lld)", token,
                 (long long)vocabSize_);
  text = tokenizer_->decode(token);
  return Status();
}

} // namespace attn::runtime
