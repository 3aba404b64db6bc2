//===- PyTorch.cpp - torch.save checkpoint reader -------------------------===//

#include "frontends/checkpoint/PyTorch.h"

#include "frontends/checkpoint/Messages.h"
#include "frontends/checkpoint/Pickle.h"
#include "frontends/checkpoint/Zip.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <tuple>

using namespace llvm;
using namespace mlir::attn;
using pickle::Object;

/// Renders a shape or strides as "[768, 2304]".
static std::string renderList(ArrayRef<int64_t> values) {
  std::string result;
  raw_string_ostream os(result);
  os << '[';
  interleaveComma(values, os);
  os << ']';
  return result;
}

bool mlir::attn::isLegacyTorchSave(StringRef contents) {
  // The legacy format starts with pickle.dump(MAGIC_NUMBER) at any protocol:
  // PROTO, maybe a FRAME, then LONG1 of the magic number's ten bytes.
  static constexpr char kMagic[] =
      "\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
  return contents.starts_with("\x80") &&
         contents.take_front(32).contains(StringRef(kMagic, sizeof kMagic - 1));
}

namespace {
/// The state_dict found in data.pkl: its entries in pickle order.
using Entries = SmallVector<std::pair<StringRef, const Object *>>;
} // namespace

/// Returns the string-keyed entries of `dict`, refusing other keys and
/// duplicates (Python would keep the last one silently).
static Expected<Entries> getEntries(StringRef path, const Object &dict,
                                    StringRef what) {
  Entries entries;
  StringMap<bool> seen;
  for (size_t i = 0; i < dict.items.size(); i += 2) {
    const Object &key = *dict.items[i];
    if (key.kind != Object::Kind::String)
      return createStringError(path + ": " + what + " has key " +
                               pickle::describe(key) + ", not a string");
    if (!seen.try_emplace(key.string, true).second)
      return createStringError(path + ": " + what + " has key " +
                               quoteForMessage(key.string) + " more than once");
    entries.push_back({key.string, dict.items[i + 1]});
  }
  return entries;
}

/// Returns whether every value of `entries` is a tensor.
static bool allTensors(const Entries &entries) {
  return all_of(entries, [](const auto &entry) {
    return entry.second->kind == Object::Kind::Tensor;
  });
}

/// Reports the first value of `entries` that is not a tensor.
static Error notATensor(StringRef path, const Entries &entries,
                        StringRef what) {
  const auto *bad = find_if(entries, [](const auto &entry) {
    return entry.second->kind != Object::Kind::Tensor;
  });
  return createStringError(path + ": " + what + " entry " + quoteForMessage(bad->first) +
                           " is " + pickle::describe(*bad->second) +
                           ", not a tensor");
}

/// Finds the state_dict in the unpickled `root`: a dict whose values are all
/// tensors, either `root` itself or its "state_dict" or "model" entry.
static Expected<Entries> findStateDict(StringRef path, const Object &root) {
  if (root.kind != Object::Kind::Dict)
    return createStringError(path + ": data.pkl holds " +
                             pickle::describe(root) +
                             ", not a state_dict (a dict of tensors)");
  Expected<Entries> entries = getEntries(path, root, "the state_dict");
  if (!entries)
    return entries.takeError();
  if (allTensors(*entries))
    return entries;
  for (StringRef wrapper : {"state_dict", "model"}) {
    const auto *it = find_if(
        *entries, [&](const auto &entry) { return entry.first == wrapper; });
    if (it == entries->end() || it->second->kind != Object::Kind::Dict)
      continue;
    std::string what = "the state_dict under " + quoteForMessage(wrapper);
    Expected<Entries> inner = getEntries(path, *it->second, what);
    if (!inner)
      return inner.takeError();
    if (!allTensors(*inner))
      return notATensor(path, *inner, what);
    return inner;
  }
  return notATensor(path, *entries, "the state_dict");
}

/// Validates tensor `name` against its storage and returns its info.
static Expected<TensorInfo> makeTensor(StringRef path, StringRef archive,
                                       const ZipArchive &zip, StringRef name,
                                       const pickle::Tensor &tensor) {
  std::string prefix = (path + ": tensor " + quoteForMessage(name) + ": ").str();
  auto fail = [&](const Twine &message) {
    return createStringError(prefix + message);
  };
  const Object &storage = *tensor.storage;
  DType dtype = storage.dtype;
  int64_t elementSize = getDTypeSize(dtype);

  std::string entryName = (archive + "/data/" + storage.string).str();
  const ZipEntry *entry = zip.lookup(entryName);
  if (!entry)
    return fail("its storage " + quoteForMessage(entryName) +
                " is missing from the archive");
  int64_t storageBytes;
  if (MulOverflow(storage.integer, elementSize, storageBytes) ||
      uint64_t(storageBytes) != entry->data.size())
    return fail("its storage " + quoteForMessage(entryName) + " holds " +
                Twine(entry->data.size()) + " bytes, but data.pkl says " +
                Twine(storage.integer) + " elements of " + getDTypeName(dtype));

  int64_t numElements = 1;
  for (int64_t dim : tensor.shape)
    if (MulOverflow(numElements, dim, numElements))
      return fail("element count of shape " + renderList(tensor.shape) +
                  " overflows int64");
  // The byte count fits since it is at most the storage's (checked below).

  // Row-major contiguous, as torch.Tensor.is_contiguous() decides: a
  // dimension of size 1 may have any stride, and an empty tensor is always
  // contiguous.
  if (numElements != 0) {
    int64_t expected = 1;
    for (size_t d = tensor.shape.size(); d-- > 0;) {
      if (tensor.shape[d] != 1 && tensor.stride[d] != expected)
        return fail("strides " + renderList(tensor.stride) +
                    " are not the row-major strides of shape " +
                    renderList(tensor.shape) +
                    " (not contiguous; save tensor.contiguous() instead)");
      expected *= tensor.shape[d];
    }
  }

  if (tensor.storageOffset > storage.integer ||
      numElements > storage.integer - tensor.storageOffset)
    return fail("elements [" + Twine(tensor.storageOffset) + ", " +
                Twine(tensor.storageOffset) + " + " + Twine(numElements) +
                ") lie outside its storage " + quoteForMessage(entryName) + " of " +
                Twine(storage.integer) + " elements");

  uint64_t begin = uint64_t(tensor.storageOffset) * elementSize;
  uint64_t size = uint64_t(numElements) * elementSize;
  TensorInfo info{
      name.str(), dtype,
      SmallVector<int64_t>(tensor.shape.begin(), tensor.shape.end()),
      entry->data.slice(begin, size), entry->dataOffset + begin};
  return info;
}

PyTorchCheckpoint::PyTorchCheckpoint(std::unique_ptr<MemoryBuffer> buffer,
                                     std::vector<TensorInfo> tensorList)
    : buffer(std::move(buffer)), tensorList(std::move(tensorList)) {
  for (auto [i, tensor] : enumerate(this->tensorList))
    index[tensor.name] = i;
}

Expected<std::unique_ptr<PyTorchCheckpoint>>
PyTorchCheckpoint::open(StringRef path) {
  Expected<std::unique_ptr<MemoryBuffer>> buffer = mapCheckpointFile(path);
  if (!buffer)
    return buffer.takeError();
  return create(std::move(*buffer));
}

Expected<std::unique_ptr<PyTorchCheckpoint>>
PyTorchCheckpoint::create(std::unique_ptr<MemoryBuffer> buffer) {
  StringRef path = buffer->getBufferIdentifier();
  auto fail = [&](const Twine &message) {
    return createStringError(path + ": " + message);
  };

  Expected<ZipArchive> zip = ZipArchive::read(path, buffer->getBuffer());
  if (!zip)
    return zip.takeError();
  if (zip->entries().empty())
    return fail("the zip archive is empty (not a torch.save file)");

  // torch.save puts everything under one folder, named after the file it
  // first wrote to; its reader insists on that too.
  StringRef first = zip->entries().front().name;
  if (!first.contains('/'))
    return fail("zip entry " + quoteForMessage(first) +
                " is not in a folder (not a torch.save file)");
  StringRef archive = first.take_until([](char c) { return c == '/'; });
  std::string folder = (archive + "/").str();
  std::string storagePrefix = (archive + "/data/").str();
  for (const ZipEntry &entry : zip->entries()) {
    StringRef name = entry.name;
    if (!name.starts_with(folder))
      return fail("zip entry " + quoteForMessage(name) + " is outside the folder " +
                  quoteForMessage(folder) + " of the other entries");
    StringRef inner = name.drop_front(folder.size());
    if (inner == "constants.pkl" || inner.starts_with("code/"))
      return fail("a TorchScript archive (torch.jit.save), not a torch.save "
                  "checkpoint");
  }
  // Storages are checked by size only (a CRC would read every weight);
  // everything else is small and checked whole.
  for (const ZipEntry &entry : zip->entries())
    if (!StringRef(entry.name).starts_with(storagePrefix))
      if (Error error = zip->checkCrc(entry))
        return std::move(error);

  if (const ZipEntry *byteorder = zip->lookup(folder + "byteorder")) {
    StringRef order(reinterpret_cast<const char *>(byteorder->data.data()),
                    byteorder->data.size());
    if (order == "big")
      return fail("big-endian checkpoints (byteorder 'big') are not "
                  "supported; re-save it on a little-endian machine");
    if (order != "little")
      return fail("byteorder is " + quoteForMessage(order) + ", not 'little'");
  }

  const ZipEntry *pkl = zip->lookup(folder + "data.pkl");
  if (!pkl)
    return fail("no " + quoteForMessage(folder + "data.pkl") +
                " in the zip archive (not a torch.save file)");
  StringRef pklData(reinterpret_cast<const char *>(pkl->data.data()),
                    pkl->data.size());
  std::string pklPrefix = (path + ": data.pkl: ").str();
  Expected<std::unique_ptr<pickle::Unpickled>> unpickled =
      pickle::unpickle(pklData, pklPrefix);
  if (!unpickled)
    return unpickled.takeError();

  Expected<Entries> entries = findStateDict(path, *(*unpickled)->root());
  if (!entries)
    return entries.takeError();
  std::vector<TensorInfo> tensors;
  tensors.reserve(entries->size());
  for (const auto &[name, value] : *entries) {
    Expected<TensorInfo> info =
        makeTensor(path, archive, *zip, name, *value->tensor);
    if (!info)
      return info.takeError();
    tensors.push_back(std::move(*info));
  }

  // File order, as the Checkpoint interface promises; tied tensors (same
  // bytes) sort by name.
  sort(tensors, [](const TensorInfo &a, const TensorInfo &b) {
    return std::make_tuple(a.fileOffset, a.bytes.size(), StringRef(a.name)) <
           std::make_tuple(b.fileOffset, b.bytes.size(), StringRef(b.name));
  });
  return std::unique_ptr<PyTorchCheckpoint>(
      new PyTorchCheckpoint(std::move(buffer), std::move(tensors)));
}

const TensorInfo *PyTorchCheckpoint::lookup(StringRef name) const {
  auto it = index.find(name);
  return it == index.end() ? nullptr : &tensorList[it->second];
}
