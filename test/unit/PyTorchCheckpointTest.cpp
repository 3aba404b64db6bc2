//===- PyTorchCheckpointTest.cpp - torch.save reader tests ----------------===//
//
// Each test writes its own torch.save-like file into a fresh temporary
// directory, built byte by byte here: a zip writer (plain, or the way
// PyTorch's writer does it: data descriptors, 64-byte aligned data and ZIP64
// end records) and a pickle writer that emits what torch.save's pickler
// emits for a state_dict. Hostile files bend one rule each. Real torch.save
// files are tested by test/e2e/torch-checkpoint.test.
//
//===----------------------------------------------------------------------===//

#include "test/unit/CheckpointTestBase.h"
#include "frontends/checkpoint/Checkpoint.h"
#include "frontends/checkpoint/Pickle.h"
#include "frontends/checkpoint/PyTorch.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/bit.h"
#include "llvm/Support/CRC.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <optional>

using namespace llvm;
using namespace mlir::attn;
using namespace std::string_literals;

namespace {

//===----------------------------------------------------------------------===//
// Byte helpers
//===----------------------------------------------------------------------===//

void put16(std::string &out, uint16_t value) {
  char bytes[2];
  support::endian::write16le(bytes, value);
  out.append(bytes, 2);
}
void put32(std::string &out, uint32_t value) {
  char bytes[4];
  support::endian::write32le(bytes, value);
  out.append(bytes, 4);
}
void put64(std::string &out, uint64_t value) {
  char bytes[8];
  support::endian::write64le(bytes, value);
  out.append(bytes, 8);
}

std::string f32Bytes(ArrayRef<float> values) {
  std::string bytes;
  for (float value : values)
    put32(bytes, bit_cast<uint32_t>(value));
  return bytes;
}
std::string u16Bytes(ArrayRef<uint16_t> values) {
  std::string bytes;
  for (uint16_t value : values)
    put16(bytes, value);
  return bytes;
}
std::string i64Bytes(ArrayRef<int64_t> values) {
  std::string bytes;
  for (int64_t value : values)
    put64(bytes, uint64_t(value));
  return bytes;
}

uint32_t crcOf(StringRef data) {
  return crc32(ArrayRef<uint8_t>(data.bytes_begin(), data.size()));
}

//===----------------------------------------------------------------------===//
// Zip writer
//===----------------------------------------------------------------------===//

/// One entry to write, with knobs that make it lie.
struct ZipMember {
  ZipMember(std::string name, std::string data)
      : name(std::move(name)), data(std::move(data)) {}

  std::string name;
  std::string data;
  uint16_t method = 0;
  /// Central directory sizes (default: the data's size).
  std::optional<uint32_t> centralCompressedSize, centralSize;
  /// Both sizes in the local header (default: as in the central directory).
  std::optional<uint32_t> localSize;
  /// The name in the local header (default: `name`).
  std::optional<std::string> localName;
  /// If set, no local record is written for this entry: the central
  /// directory points at this offset (where another entry's data holds one).
  std::optional<uint64_t> offset;
};

/// Returns a local file header (no data descriptor) for `name` and `data`.
std::string localHeader(StringRef name, StringRef data, uint16_t method = 0,
                        uint32_t size = ~0u) {
  uint32_t actualSize = size == ~0u ? uint32_t(data.size()) : size;
  std::string out;
  put32(out, 0x04034b50);
  put16(out, 20);     // version needed
  put16(out, 0);      // flags
  put16(out, method); // method
  put32(out, 0);      // time, date
  put32(out, crcOf(data));
  put32(out, actualSize);
  put32(out, actualSize);
  put16(out, name.size());
  put16(out, 0); // extra
  out += name;
  return out;
}

/// Writes `members` as a zip archive. `torchStyle` writes it the way
/// PyTorch's miniz-based writer does: flags 0x0808 with the CRC and sizes in
/// data descriptors, data aligned to 64 bytes by an "FB" extra field, and
/// ZIP64 end records in front of the classic one.
std::string buildZip(ArrayRef<ZipMember> members, bool torchStyle = false) {
  std::string out, central;
  for (const ZipMember &member : members) {
    uint32_t centralCompressed =
        member.centralCompressedSize.value_or(member.data.size());
    uint32_t centralSize = member.centralSize.value_or(member.data.size());
    uint32_t localSize = member.localSize.value_or(centralSize);
    uint16_t flags = torchStyle ? 0x0808 : 0;
    uint32_t crc = crcOf(member.data);
    uint64_t offset = member.offset.value_or(out.size());
    if (!member.offset) {
      std::string name = member.localName.value_or(member.name);
      put32(out, 0x04034b50);
      put16(out, torchStyle ? 0 : 20);
      put16(out, flags);
      put16(out, member.method);
      put32(out, 0);
      put32(out, torchStyle ? 0 : crc);
      put32(out, torchStyle ? 0 : localSize);
      put32(out, torchStyle ? 0 : localSize);
      put16(out, name.size());
      std::string extra;
      if (torchStyle) {
        // Pad so that the data starts at a multiple of 64.
        size_t dataStart = out.size() + 2 + name.size() + 4;
        size_t padding = (64 - dataStart % 64) % 64;
        extra = "FB";
        put16(extra, padding);
        extra.append(padding, 'Z');
      }
      put16(out, extra.size());
      out += name;
      out += extra;
      out += member.data;
      if (torchStyle) {
        put32(out, 0x08074b50);
        put32(out, crc);
        put32(out, localSize);
        put32(out, localSize);
      }
    }
    put32(central, 0x02014b50);
    put16(central, 0x031e); // version made by
    put16(central, 20);
    put16(central, flags);
    put16(central, member.method);
    put32(central, 0);
    put32(central, crc);
    put32(central, centralCompressed);
    put32(central, centralSize);
    put16(central, member.name.size());
    put16(central, 0); // extra
    put16(central, 0); // comment
    put16(central, 0); // disk
    put16(central, 0); // internal attributes
    put32(central, 0); // external attributes
    put32(central, uint32_t(offset));
    central += member.name;
  }
  uint64_t centralOffset = out.size();
  out += central;
  if (torchStyle) {
    uint64_t zip64End = out.size();
    put32(out, 0x06064b50);
    put64(out, 44);
    put16(out, 0x031e);
    put16(out, 45);
    put32(out, 0);
    put32(out, 0);
    put64(out, members.size());
    put64(out, members.size());
    put64(out, central.size());
    put64(out, centralOffset);
    put32(out, 0x07064b50);
    put32(out, 0);
    put64(out, zip64End);
    put32(out, 1);
  }
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, members.size());
  put16(out, members.size());
  put32(out, central.size());
  put32(out, centralOffset);
  put16(out, 0); // comment
  return out;
}

//===----------------------------------------------------------------------===//
// Pickle writer
//===----------------------------------------------------------------------===//

/// Emits pickle opcodes; each method appends one opcode and its argument.
struct Pickler {
  std::string out;

  Pickler &op(uint8_t code) {
    out += char(code);
    return *this;
  }
  Pickler &proto(uint8_t version = 2) { return op(0x80).op(version); }
  Pickler &mark() { return op('('); }
  Pickler &stop() { return op('.'); }
  Pickler &global(StringRef module, StringRef name) {
    op('c');
    out += (module + "\n" + name + "\n").str();
    return *this;
  }
  Pickler &string(StringRef text) {
    op('X');
    put32(out, text.size());
    out += text;
    return *this;
  }
  /// The shortest of BININT1, BININT2, BININT and LONG1, as Python picks.
  Pickler &integer(int64_t value) {
    if (value >= 0 && value < 256)
      return op('K').op(uint8_t(value));
    if (value >= 0 && value < 65536) {
      op('M');
      put16(out, value);
      return *this;
    }
    if (value >= INT32_MIN && value <= INT32_MAX) {
      op('J');
      put32(out, uint32_t(int32_t(value)));
      return *this;
    }
    op(0x8a).op(8);
    put64(out, uint64_t(value));
    return *this;
  }
  Pickler &boolean(bool value) { return op(value ? 0x88 : 0x89); }
  Pickler &tuple() { return op('t'); }
  Pickler &ints(ArrayRef<int64_t> values) {
    mark();
    for (int64_t value : values)
      integer(value);
    return tuple();
  }
  Pickler &orderedDict() {
    return global("collections", "OrderedDict").op(')').op('R');
  }
  Pickler &binput(uint8_t index) { return op('q').op(index); }
  Pickler &binget(uint8_t index) { return op('h').op(index); }
};

/// A tensor as torch.save pickles it: a view of a storage.
struct TestTensor {
  TestTensor(std::string name, std::string storageType, std::string key,
             int64_t numel, int64_t offset, std::vector<int64_t> shape,
             std::optional<std::vector<int64_t>> stride = std::nullopt)
      : name(std::move(name)), storageType(std::move(storageType)),
        key(std::move(key)), numel(numel), offset(offset),
        shape(std::move(shape)), stride(std::move(stride)) {}

  std::string name;
  std::string storageType; // "FloatStorage", ...
  std::string key;
  int64_t numel; // of the storage
  int64_t offset;
  std::vector<int64_t> shape;
  /// Default: row-major contiguous.
  std::optional<std::vector<int64_t>> stride;
};

std::vector<int64_t> contiguousStrides(ArrayRef<int64_t> shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t step = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    strides[d] = step;
    step *= shape[d];
  }
  return strides;
}

/// Appends `_rebuild_tensor_v2(...)` of `tensor` to `p`.
void pickleTensor(Pickler &p, const TestTensor &tensor) {
  p.global("torch._utils", "_rebuild_tensor_v2").mark();
  p.mark()
      .string("storage")
      .global("torch", tensor.storageType)
      .string(tensor.key)
      .string("cpu")
      .integer(tensor.numel)
      .tuple()
      .op('Q');
  p.integer(tensor.offset)
      .ints(tensor.shape)
      .ints(tensor.stride.value_or(contiguousStrides(tensor.shape)))
      .boolean(false)
      .orderedDict()
      .tuple()
      .op('R');
}

/// Returns the data.pkl torch.save writes for a state_dict of `tensors`
/// (including the `_metadata` attribute it sets with BUILD).
std::string stateDictPickle(ArrayRef<TestTensor> tensors) {
  Pickler p;
  p.proto().orderedDict().binput(0).mark();
  for (const TestTensor &tensor : tensors) {
    p.string(tensor.name);
    pickleTensor(p, tensor);
  }
  p.op('u');
  p.op('}')
      .string("_metadata")
      .orderedDict()
      .string("")
      .op('}')
      .string("version")
      .integer(1)
      .op('s')
      .op('s')
      .op('s')
      .op('b');
  return p.stop().out;
}

class PyTorchCheckpointTest : public CheckpointTestBase {
protected:

  /// The members of a torch.save archive "archive/": data.pkl, the storages
  /// and version.
  static std::vector<ZipMember>
  torchMembers(StringRef pickle,
               ArrayRef<std::pair<std::string, std::string>> storages) {
    std::vector<ZipMember> members;
    members.push_back({"archive/data.pkl", pickle.str()});
    for (const auto &[key, bytes] : storages)
      members.push_back({"archive/data/" + key, bytes});
    members.push_back({"archive/version", "3\n"});
    return members;
  }

  /// Writes a torch.save-like file of `pickle` and `storages`.
  std::string
  writeTorch(StringRef fileName, StringRef pickle,
             ArrayRef<std::pair<std::string, std::string>> storages = {},
             bool torchStyle = true) {
    return writeFile(fileName,
                     buildZip(torchMembers(pickle, storages), torchStyle));
  }

  /// Checks that a file holding `pickle` (and one float storage "0" of 4
  /// elements) fails with `phrase`.
  ::testing::AssertionResult pickleFails(StringRef pickle, StringRef phrase) {
    return openFails(
        writeTorch("model.pt", pickle, {{"0", f32Bytes({1, 2, 3, 4})}}),
        phrase);
  }

};

//===----------------------------------------------------------------------===//
// Valid files
//===----------------------------------------------------------------------===//

TEST_F(PyTorchCheckpointTest, RoundTrip) {
  std::vector<float> weights = {0.0f,  -1.5f, 3.25f, 1e-30f,
                                -0.0f, 7.0f,  8.0f,  9.0f};
  std::vector<uint16_t> halves = {0x3c00, 0xc000, 0x7bff};
  std::vector<int64_t> ids = {1, -2, int64_t(1) << 40};
  std::vector<TestTensor> tensors = {
      // A 2x3 view of storage "0" starting at element 2, and the same
      // storage tied under another name (as GPT-2's lm_head and wte).
      {"wte.weight", "FloatStorage", "0", 8, 2, {2, 3}},
      {"lm_head.weight", "FloatStorage", "0", 8, 2, {2, 3}},
      // The first element of the same storage as a scalar.
      {"scale", "FloatStorage", "0", 8, 0, {}},
      {"half", "HalfStorage", "1", 3, 0, {3}},
      {"ids", "LongStorage", "2", 3, 0, {3}},
      // Size-1 dimensions may have any stride (torch's is_contiguous).
      {"column", "HalfStorage", "1", 3, 1, {1, 2}, std::vector<int64_t>{7, 1}},
      {"empty", "FloatStorage", "3", 0, 0, {0, 4}},
  };
  std::vector<std::pair<std::string, std::string>> storages = {
      {"0", f32Bytes(weights)},
      {"1", u16Bytes(halves)},
      {"2", i64Bytes(ids)},
      {"3", ""}};

  for (bool torchStyle : {true, false}) {
    SCOPED_TRACE(torchStyle ? "torch-style zip" : "plain zip");
    std::string path = writeTorch("pytorch_model.bin", stateDictPickle(tensors),
                                  storages, torchStyle);
    Expected<std::unique_ptr<Checkpoint>> checkpoint = openCheckpoint(path);
    ASSERT_TRUE(bool(checkpoint)) << toString(checkpoint.takeError());
    EXPECT_EQ((*checkpoint)->path(), path);
    Expected<std::unique_ptr<MemoryBuffer>> file = mapCheckpointFile(path);
    ASSERT_TRUE(bool(file)) << toString(file.takeError());

    // File order; tied tensors sort by name at the same offset.
    std::vector<std::string> names;
    for (const TensorInfo &tensor : (*checkpoint)->tensors()) {
      names.push_back(tensor.name);
      // fileOffset is where the bytes are in the file.
      ASSERT_LE(tensor.fileOffset + tensor.bytes.size(),
                (*file)->getBufferSize());
      EXPECT_EQ(ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(
                                      (*file)->getBufferStart()) +
                                      tensor.fileOffset,
                                  tensor.bytes.size()),
                tensor.bytes);
    }
    EXPECT_EQ(names,
              (std::vector<std::string>{"scale", "lm_head.weight", "wte.weight",
                                        "half", "column", "ids", "empty"}));

    const TensorInfo *wte = (*checkpoint)->lookup("wte.weight");
    ASSERT_NE(wte, nullptr);
    EXPECT_EQ(wte->dtype, DType::F32);
    EXPECT_EQ(wte->shape, (SmallVector<int64_t>{2, 3}));
    Expected<std::vector<float>> values = readAsF32(*wte);
    ASSERT_TRUE(bool(values)) << toString(values.takeError());
    ASSERT_EQ(values->size(), 6u);
    for (size_t i = 0; i < 6; ++i)
      EXPECT_EQ(bit_cast<uint32_t>((*values)[i]),
                bit_cast<uint32_t>(weights[2 + i]));
    const TensorInfo *tied = (*checkpoint)->lookup("lm_head.weight");
    ASSERT_NE(tied, nullptr);
    EXPECT_EQ(tied->bytes.data(), wte->bytes.data());
    EXPECT_EQ(tied->fileOffset, wte->fileOffset);

    const TensorInfo *scale = (*checkpoint)->lookup("scale");
    ASSERT_NE(scale, nullptr);
    EXPECT_TRUE(scale->shape.empty());
    EXPECT_EQ(scale->fileOffset + 8, wte->fileOffset);
    EXPECT_EQ(scale->bytes.size(), 4u);

    const TensorInfo *half = (*checkpoint)->lookup("half");
    ASSERT_NE(half, nullptr);
    EXPECT_EQ(half->dtype, DType::F16);
    Expected<std::vector<float>> halfValues = readAsF32(*half);
    ASSERT_TRUE(bool(halfValues)) << toString(halfValues.takeError());
    EXPECT_EQ(*halfValues, (std::vector<float>{1.0f, -2.0f, 65504.0f}));

    const TensorInfo *column = (*checkpoint)->lookup("column");
    ASSERT_NE(column, nullptr);
    EXPECT_EQ(column->shape, (SmallVector<int64_t>{1, 2}));
    Expected<std::vector<float>> columnValues = readAsF32(*column);
    ASSERT_TRUE(bool(columnValues)) << toString(columnValues.takeError());
    EXPECT_EQ(*columnValues, (std::vector<float>{-2.0f, 65504.0f}));

    const TensorInfo *idsInfo = (*checkpoint)->lookup("ids");
    ASSERT_NE(idsInfo, nullptr);
    EXPECT_EQ(idsInfo->dtype, DType::I64);
    ASSERT_EQ(idsInfo->bytes.size(), 24u);
    for (size_t i = 0; i < 3; ++i)
      EXPECT_EQ(
          int64_t(support::endian::read64le(idsInfo->bytes.data() + 8 * i)),
          ids[i]);

    const TensorInfo *empty = (*checkpoint)->lookup("empty");
    ASSERT_NE(empty, nullptr);
    EXPECT_EQ(empty->getNumElements(), 0);
    EXPECT_TRUE(empty->bytes.empty());

    EXPECT_EQ((*checkpoint)->lookup("wte"), nullptr);
    EXPECT_EQ((*checkpoint)->lookup("_metadata"), nullptr);
  }
}

TEST_F(PyTorchCheckpointTest, DTypesComeFromStorageTypes) {
  std::vector<std::pair<std::string, DType>> types = {
      {"FloatStorage", DType::F32},     {"HalfStorage", DType::F16},
      {"BFloat16Storage", DType::BF16}, {"DoubleStorage", DType::F64},
      {"LongStorage", DType::I64},      {"IntStorage", DType::I32},
      {"ShortStorage", DType::I16},     {"CharStorage", DType::I8},
      {"ByteStorage", DType::U8},       {"BoolStorage", DType::Bool}};
  std::vector<TestTensor> tensors;
  std::vector<std::pair<std::string, std::string>> storages;
  for (auto [i, type] : enumerate(types)) {
    std::string key = std::to_string(i);
    tensors.push_back({"t" + key, type.first, key, 2, 0, {2}});
    storages.push_back({key, std::string(2 * getDTypeSize(type.second), '\1')});
  }
  Expected<std::unique_ptr<Checkpoint>> checkpoint = openCheckpoint(
      writeTorch("types.pt", stateDictPickle(tensors), storages));
  ASSERT_TRUE(bool(checkpoint)) << toString(checkpoint.takeError());
  for (auto [i, type] : enumerate(types)) {
    const TensorInfo *tensor = (*checkpoint)->lookup("t" + std::to_string(i));
    ASSERT_NE(tensor, nullptr);
    EXPECT_EQ(tensor->dtype, type.second) << type.first;
    EXPECT_EQ(tensor->bytes.size(), 2 * getDTypeSize(type.second));
  }
}

TEST_F(PyTorchCheckpointTest, ParametersMemoAndProtocol4Opcodes) {
  // What pickle protocol 4 and nn.Parameter add: FRAME, SHORT_BINUNICODE,
  // BINUNICODE8, MEMOIZE, STACK_GLOBAL, _rebuild_parameter; and LONG_BINPUT,
  // LONG_BINGET, LONG1 and a negative BININT.
  Pickler p;
  p.proto(4).op(0x95);
  size_t frameStart = p.out.size() + 8;
  put64(p.out, 0); // FRAME size, patched below
  p.op(0x8c).op(11).out += "collections";
  p.op(0x94); // memo 0
  p.op(0x8c).op(11).out += "OrderedDict";
  p.op(0x94).op(0x93).op(0x94);      // memo 1; STACK_GLOBAL; memo 2: the class
  p.op(')').op('R').op(0x94).mark(); // memo 3: the state_dict
  // "w": _rebuild_parameter(_rebuild_tensor_v2(...), True, OrderedDict()).
  p.op(0x8d);
  put64(p.out, 1);
  p.out += "w";
  p.global("torch._utils", "_rebuild_parameter").op('r');
  put32(p.out, 70000);
  p.mark();
  pickleTensor(p, {"w", "FloatStorage", "0", 4, 0, {2, 2}});
  p.boolean(true).binget(2).op(')').op('R').tuple().op('R');
  // "v": the same through LONG_BINGET of the memoized _rebuild_parameter.
  p.string("v").op('j');
  put32(p.out, 70000);
  p.mark();
  pickleTensor(p, {"v", "FloatStorage", "0", 4, 0, {4}});
  p.boolean(false).orderedDict().tuple().op('R');
  // "n": a tensor whose storage offset is a LONG1.
  p.string("n");
  p.global("torch._utils", "_rebuild_tensor_v2").mark();
  p.mark()
      .string("storage")
      .global("torch", "FloatStorage")
      .string("0")
      .string("cpu")
      .integer(4)
      .tuple()
      .op('Q');
  p.op(0x8a).op(1).op(3); // LONG1 3
  p.ints({1}).ints({1}).boolean(false).orderedDict().tuple().op('R');
  p.op('u');
  // Attributes {"a": -1 (BININT), "b": -2 (LONG1)} set with BUILD.
  p.op('}').string("a").integer(-1).op('s');
  p.string("b").op(0x8a).op(1).op(0xfe).op('s').op('b');
  p.stop();
  support::endian::write64le(&p.out[frameStart - 8], p.out.size() - frameStart);
  Expected<std::unique_ptr<Checkpoint>> checkpoint = openCheckpoint(
      writeTorch("p4.pt", p.out, {{"0", f32Bytes({1, 2, 3, 4})}}));
  ASSERT_TRUE(bool(checkpoint)) << toString(checkpoint.takeError());
  ASSERT_EQ((*checkpoint)->tensors().size(), 3u);
  const TensorInfo *w = (*checkpoint)->lookup("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->shape, (SmallVector<int64_t>{2, 2}));
  const TensorInfo *v = (*checkpoint)->lookup("v");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->shape, (SmallVector<int64_t>{4}));
  const TensorInfo *n = (*checkpoint)->lookup("n");
  ASSERT_NE(n, nullptr);
  Expected<std::vector<float>> values = readAsF32(*n);
  ASSERT_TRUE(bool(values)) << toString(values.takeError());
  EXPECT_EQ(*values, std::vector<float>{4.0f});
}

TEST_F(PyTorchCheckpointTest, TrainingCheckpointWrapper) {
  // {"epoch": 3, "loss": 0.5, "state_dict": {...}, "names": ["a", None]}.
  Pickler p;
  p.proto().op('}').mark();
  p.string("epoch").integer(3);
  p.string("loss").op('G');
  p.out += StringRef("\x3f\xe0\0\0\0\0\0\0", 8);
  p.string("state_dict").orderedDict().mark().string("w");
  pickleTensor(p, {"w", "FloatStorage", "0", 4, 0, {4}});
  p.op('u');
  p.string("names").op(']').string("a").op('a').mark().op('N').op('e');
  p.op('u').stop();
  Expected<std::unique_ptr<Checkpoint>> checkpoint = openCheckpoint(
      writeTorch("wrapped.pt", p.out, {{"0", f32Bytes({1, 2, 3, 4})}}));
  ASSERT_TRUE(bool(checkpoint)) << toString(checkpoint.takeError());
  ASSERT_EQ((*checkpoint)->tensors().size(), 1u);
  EXPECT_EQ((*checkpoint)->tensors()[0].name, "w");
}

TEST_F(PyTorchCheckpointTest, DeepStructuresDoNotRecurse) {
  // x = (x, [x]), 300000 times over, through the memo with a stack of at
  // most three values: a structure 600000 deep that nothing walks
  // recursively, so it is simply not a state_dict.
  Pickler p;
  p.proto().op('N');
  for (int i = 0; i < 300'000; ++i)
    p.binput(1).op(']').binget(1).op('a').op(0x86);
  p.stop();
  EXPECT_TRUE(
      pickleFails(p.out, "data.pkl holds a tuple of 2, not a state_dict"));

  // Tuples nested 300000 deep with TUPLE1.
  Pickler q;
  q.proto().op(')');
  for (int i = 0; i < 300'000; ++i)
    q.op(0x85);
  q.stop();
  EXPECT_TRUE(
      pickleFails(q.out, "data.pkl holds a tuple of 1, not a state_dict"));
}

TEST_F(PyTorchCheckpointTest, LargeFilesAreMapped) {
  std::vector<float> values(1 << 16);
  for (auto [i, value] : enumerate(values))
    value = float(i) * 0.25f;
  std::string path =
      writeTorch("large.pt",
                 stateDictPickle({{"w",
                                   "FloatStorage",
                                   "0",
                                   int64_t(values.size()),
                                   0,
                                   {256, int64_t(values.size() / 256)}}}),
                 {{"0", f32Bytes(values)}});
  Expected<std::unique_ptr<Checkpoint>> checkpoint = openCheckpoint(path);
  ASSERT_TRUE(bool(checkpoint)) << toString(checkpoint.takeError());
  Expected<std::vector<float>> read = readAsF32(*(*checkpoint)->lookup("w"));
  ASSERT_TRUE(bool(read)) << toString(read.takeError());
  EXPECT_EQ(*read, values);
}

//===----------------------------------------------------------------------===//
// The pickle: globals, callables, opcodes, limits
//===----------------------------------------------------------------------===//

TEST_F(PyTorchCheckpointTest, GlobalOsSystemIsRejected) {
  // What `pickle.dumps(Evil())` gives for __reduce__ = (os.system, (cmd,)).
  Pickler p;
  p.proto()
      .global("os", "system")
      .string("touch /tmp/attn-pwned")
      .op(0x85)
      .op('R')
      .stop();
  std::string path = writeTorch("model.pt", p.out);
  Expected<std::unique_ptr<Checkpoint>> checkpoint = openCheckpoint(path);
  ASSERT_FALSE(bool(checkpoint));
  EXPECT_EQ(toString(checkpoint.takeError()),
            path + ": data.pkl: global 'os.system' is not allowed in a "
                   "checkpoint (at offset 2)");
}

TEST_F(PyTorchCheckpointTest, GlobalBuiltinsEvalIsRejected) {
  Pickler p;
  p.proto().global("builtins", "eval").string("1").op(0x85).op('R').stop();
  EXPECT_TRUE(pickleFails(p.out, "data.pkl: global 'builtins.eval' is not "
                                 "allowed in a checkpoint (at offset 2)"));
}

TEST_F(PyTorchCheckpointTest, UnknownGlobalsAreRejected) {
  std::vector<std::pair<std::string, std::string>> globals = {
      {"posix", "system"},
      {"__builtin__", "getattr"},
      {"builtins", "exec"},
      {"subprocess", "Popen"},
      {"collections", "defaultdict"},
      {"torch._utils", "_rebuild_qtensor"},
      {"torch", "ComplexFloatStorage"},
      {"torch.nn.modules.linear", "Linear"},
      {"torch", "load"},
      {"collections ", "OrderedDict"},
  };
  for (const auto &[module, name] : globals) {
    Pickler p;
    p.proto().mark().global(module, name).stop();
    EXPECT_TRUE(pickleFails(p.out, "data.pkl: global '" + module + "." + name +
                                       "' is not allowed in a checkpoint"));
    // The same through STACK_GLOBAL (protocol 4).
    Pickler q;
    q.proto(4).string(module).string(name).op(0x93).stop();
    EXPECT_TRUE(pickleFails(q.out, "data.pkl: global '" + module + "." + name +
                                       "' is not allowed in a checkpoint"));
  }
  // Control characters are escaped, so the error stays one line.
  Pickler p;
  p.proto().string("os\nsystem").string("x").op(0x93).stop();
  EXPECT_TRUE(pickleFails(p.out, "global 'os\\nsystem.x' is not allowed"));
}

TEST_F(PyTorchCheckpointTest, ReduceOnlyAppliesAllowedCallables) {
  // A storage type is an allowed global but not callable.
  Pickler storage;
  storage.proto()
      .global("torch", "FloatStorage")
      .integer(4)
      .op(0x85)
      .op('R')
      .stop();
  EXPECT_TRUE(pickleFails(storage.out,
                          "REDUCE calls global 'torch.FloatStorage', which "
                          "is not an allowed callable (at offset 25)"));
  // Nor is a string, a dict or a tensor.
  Pickler string;
  string.proto().string("os.system").string("ls").op(0x85).op('R').stop();
  EXPECT_TRUE(pickleFails(string.out, "REDUCE calls string 'os.system', "
                                      "which is not an allowed callable"));
  Pickler dict;
  dict.proto().op('}').op(')').op('R').stop();
  EXPECT_TRUE(pickleFails(dict.out, "REDUCE calls a dict, which is not an "
                                    "allowed callable"));
  // Allowed callables with the wrong arguments.
  Pickler args;
  args.proto()
      .global("collections", "OrderedDict")
      .op(']')
      .op(0x85)
      .op('R')
      .stop();
  EXPECT_TRUE(pickleFails(args.out, "OrderedDict() with arguments is not "
                                    "supported"));
  Pickler notTuple;
  notTuple.proto().global("collections", "OrderedDict").op(']').op('R').stop();
  EXPECT_TRUE(pickleFails(notTuple.out, "REDUCE calls global "
                                        "'collections.OrderedDict' with a "
                                        "list instead of an argument tuple"));
  Pickler rebuild;
  rebuild.proto()
      .global("torch._utils", "_rebuild_tensor_v2")
      .mark()
      .string("storage")
      .integer(0)
      .ints({1})
      .ints({1})
      .boolean(false)
      .orderedDict()
      .tuple()
      .op('R')
      .stop();
  EXPECT_TRUE(pickleFails(rebuild.out,
                          "_rebuild_tensor_v2 argument 1 (storage) is string "
                          "'storage', not a storage"));
  // BUILD sets attributes only on an OrderedDict.
  Pickler build;
  build.proto().op(']').op('}').op('b').stop();
  EXPECT_TRUE(pickleFails(build.out, "BUILD on a list (only an "
                                     "OrderedDict's attributes can be set)"));
}

TEST_F(PyTorchCheckpointTest, UnknownOpcodeIsRejected) {
  Pickler p;
  p.proto().op('}').op(0xff).stop();
  EXPECT_TRUE(pickleFails(p.out, "data.pkl: unknown opcode 0xff (at offset "
                                 "3)"));
  // Real pickle opcodes outside the state_dict subset.
  std::vector<std::pair<uint8_t, std::string>> unsupported = {
      {'i', "0x69 (INST)"},
      {'o', "0x6f (OBJ)"},
      {0x81, "0x81 (NEWOBJ)"},
      {0x92, "0x92 (NEWOBJ_EX)"},
      {0x82, "0x82 (EXT1)"},
      {'P', "0x50 (PERSID)"},
      {'S', "0x53 (STRING)"},
      {0x8e, "0x8e (BINBYTES8)"},
      {0x98, "0x98 (READONLY_BUFFER)"}};
  for (const auto &[code, name] : unsupported) {
    Pickler q;
    q.proto().op('}').op(code).stop();
    EXPECT_TRUE(pickleFails(q.out, "data.pkl: opcode " + name +
                                       " is not supported in a checkpoint "
                                       "(at offset 3)"));
  }
}

TEST_F(PyTorchCheckpointTest, DeepNestingIsRejected) {
  Pickler marks;
  marks.proto();
  for (int i = 0; i < 100'000; ++i)
    marks.mark();
  marks.stop();
  EXPECT_TRUE(pickleFails(marks.out, "data.pkl: more than 1000 nested MARKs "
                                     "(at offset 1002)"));
  Pickler lists;
  lists.proto();
  for (int i = 0; i < 100'000; ++i)
    lists.op(']');
  lists.stop();
  EXPECT_TRUE(pickleFails(lists.out, "data.pkl: more than 10000 values on "
                                     "the stack"));
  Pickler tuples;
  tuples.proto();
  for (int i = 0; i < 100'000; ++i)
    tuples.mark().op(')');
  for (int i = 0; i < 100'000; ++i)
    tuples.tuple();
  tuples.stop();
  EXPECT_TRUE(pickleFails(tuples.out, "nested MARKs"));
}

TEST_F(PyTorchCheckpointTest, MalformedPicklesAreRejected) {
  struct Case {
    std::string pickle;
    std::string phrase;
  };
  std::vector<Case> cases = {
      {"", "data.pkl: data.pkl ends without STOP (truncated?) (at offset 0)"},
      {"\x80\x02}", "data.pkl ends without STOP"},
      {"\x80\x06}.", "unsupported pickle protocol 6"},
      {"\x80\x02.", "STOP on an empty stack"},
      {"\x80\x02}}.", "STOP leaves 1 values on the stack"},
      {"\x80\x02}(.", "STOP on an empty stack (above the last MARK)"},
      {"\x80\x02(}.", "STOP with 1 MARKs open"},
      {"\x80\x02}.}", "1 bytes follow STOP"},
      {"\x80\x02}h\x05.", "BINGET of memo entry 5, which was never stored"},
      {"\x80\x02q\x00."s, "BINPUT on an empty stack"},
      {"\x80\x02t.", "TUPLE without a MARK"},
      {"\x80\x02}(K\x01u.", "odd number of items for SETITEMS"},
      {"\x80\x02}]K\x01s.", "a list cannot be a dict key (unhashable)"},
      {"\x80\x02]K\x01K\x02s.", "SETITEM on a list, not a dict"},
      {"\x80\x02}K\x01"
       "a.",
       "APPEND on a dict, not a list"},
      {"\x80\x02\x8a\x09\1\1\1\1\1\1\1\1\1.",
       "LONG1 integer of 9 bytes does not fit in 64 bits"},
      {"\x80\x02X\xff\xff\xff\x7f", "string of 2147483647 bytes is longer "
                                    "than the limit of 16777216"},
      {"\x80\x02X\x02\0\0\0\xc3(."s, "string is not valid UTF-8"},
      {"\x80\x02\x95\xff\0\0\0\0\0\0\0}."s,
       "FRAME of 255 bytes extends beyond the end of data.pkl"},
      {"\x80\x02"
       "ctorch\nFloatStorage",
       "truncated GLOBAL (data.pkl ends at 21)"},
      {"\x80\x02"
       "c" +
           std::string(300, 'a') + "\nb\n.",
       "GLOBAL line longer than 256 bytes"},
      {"\x80\x02K\x01K\x02\x93.", "STACK_GLOBAL of int 1 and int 2 instead "
                                  "of two strings"},
      {"\x80\x02K\x01Q.", "persistent id int 1 is not ('storage', type, key, "
                          "location, numel)"},
  };
  for (const Case &c : cases)
    EXPECT_TRUE(pickleFails(c.pickle, c.phrase)) << c.phrase;
}

TEST_F(PyTorchCheckpointTest, TruncatedPickleIsRejected) {
  std::string pickle = stateDictPickle({{"w", "FloatStorage", "0", 4, 0, {4}}});
  // Cut inside the BINUNICODE of "storage".
  size_t at = pickle.find("X\x07\0\0\0storage"s);
  ASSERT_NE(at, std::string::npos);
  EXPECT_TRUE(pickleFails(StringRef(pickle).take_front(at + 8),
                          "data.pkl: truncated BINUNICODE (data.pkl ends at " +
                              std::to_string(at + 8) + ") (at offset " +
                              std::to_string(at) + ")"));
  // Cut at every length: always an error, never a crash.
  for (size_t size = 0; size < pickle.size(); ++size)
    EXPECT_TRUE(pickleFails(StringRef(pickle).take_front(size), "data.pkl: "))
        << size;
}

TEST_F(PyTorchCheckpointTest, CorruptPickleFailsItsCrc) {
  std::string pickle = stateDictPickle({{"w", "FloatStorage", "0", 4, 0, {4}}});
  std::vector<ZipMember> members =
      torchMembers(pickle, {{"0", f32Bytes({1, 2, 3, 4})}});
  std::string file = buildZip(members);
  // Flip a byte of the name "w" inside data.pkl, after the CRC was computed.
  size_t at = file.find("X\x01\0\0\0w");
  ASSERT_NE(at, std::string::npos);
  file[at + 5] = 'v';
  EXPECT_TRUE(openFails(writeFile("crc.pt", file),
                        "zip entry 'archive/data.pkl' has CRC-32 0x"));
}

//===----------------------------------------------------------------------===//
// The zip archive
//===----------------------------------------------------------------------===//

TEST_F(PyTorchCheckpointTest, EscapingEntryNamesAreRejected) {
  std::string pickle = stateDictPickle({{"w", "FloatStorage", "0", 1, 0, {1}}});
  std::vector<std::pair<std::string, std::string>> names = {
      {"../x", "a '..' component"},
      {"archive/../../etc/passwd", "a '..' component"},
      {"/etc/passwd", "an absolute path"},
      {"archive\\..\\x", "a backslash"},
      {"C:/x", "a drive letter"},
      {"archive/./x", "a '.' component"},
      {"archive//x", "an empty component"},
      {std::string("archive/x\0y", 11), "a NUL byte"},
  };
  for (const auto &[name, reason] : names) {
    std::vector<ZipMember> members =
        torchMembers(pickle, {{"0", f32Bytes({1})}});
    members.push_back({name, "payload"});
    EXPECT_TRUE(
        openFails(writeFile("escape.pt", buildZip(members)),
                  "is not a safe relative path (it has " + reason + ")"))
        << reason;
  }
  // A name outside the archive folder is refused too.
  std::vector<ZipMember> members = torchMembers(pickle, {{"0", f32Bytes({1})}});
  members.push_back({"other/x", ""});
  EXPECT_TRUE(openFails(writeFile("outside.pt", buildZip(members)),
                        "zip entry 'other/x' is outside the folder "
                        "'archive/' of the other entries"));
}

TEST_F(PyTorchCheckpointTest, EntryDataOutOfFileIsRejected) {
  std::string pickle = stateDictPickle({{"w", "FloatStorage", "0", 1, 0, {1}}});
  std::vector<ZipMember> members = torchMembers(pickle, {{"0", f32Bytes({1})}});
  members[1].centralSize = members[1].centralCompressedSize = 1u << 30;
  EXPECT_TRUE(openFails(writeFile("beyond.pt", buildZip(members)),
                        "zip entry 'archive/data/0': data ["));
  EXPECT_TRUE(openFails(writeFile("beyond.pt", buildZip(members)),
                        ") extends beyond the entries, which end at offset"));
  // A local header offset past the entries.
  members = torchMembers(pickle, {{"0", f32Bytes({1})}});
  members[2].offset = 1u << 20;
  EXPECT_TRUE(openFails(writeFile("offset.pt", buildZip(members)),
                        "zip entry 'archive/version': no local header at "
                        "offset 1048576"));
  // A truncated file loses its end of central directory record.
  std::string whole = buildZip(torchMembers(pickle, {{"0", f32Bytes({1})}}));
  EXPECT_TRUE(openFails(writeFile("cut.pt", StringRef(whole).drop_back(30)),
                        "not a zip archive: no end of central directory "
                        "record (truncated file?)"));
}

TEST_F(PyTorchCheckpointTest, OverlappingEntriesAreRejected) {
  std::string pickle = stateDictPickle({{"w", "FloatStorage", "0", 1, 0, {1}}});
  std::vector<ZipMember> members = torchMembers(pickle, {{"0", f32Bytes({1})}});
  // "archive/extra"'s data embeds a complete local record of
  // "archive/inner", and the central directory points into it.
  std::string inner = localHeader("archive/inner", "hidden") + "hidden";
  uint64_t extraOffset = 0;
  {
    std::string prefix = buildZip(members);
    // The entries end where the central directory starts.
    extraOffset = support::endian::read32le(prefix.data() + prefix.size() - 6);
  }
  members.push_back({"archive/extra", inner});
  ZipMember hidden{"archive/inner", "hidden"};
  hidden.offset = extraOffset + 30 + StringRef("archive/extra").size();
  members.push_back(hidden);
  EXPECT_TRUE(openFails(writeFile("overlap.pt", buildZip(members)),
                        "zip entries 'archive/extra' ["));
  EXPECT_TRUE(openFails(writeFile("overlap.pt", buildZip(members)),
                        "and 'archive/inner' ["));
  // Two central entries for one local record: the name repeats.
  members = torchMembers(pickle, {{"0", f32Bytes({1})}});
  ZipMember twice{"archive/data.pkl", pickle};
  twice.offset = 0;
  members.push_back(twice);
  EXPECT_TRUE(openFails(writeFile("twice.pt", buildZip(members)),
                        "zip entry 'archive/data.pkl' occurs more than once"));
}

TEST_F(PyTorchCheckpointTest, CompressedEntryIsRejected) {
  std::string pickle = stateDictPickle({{"w", "FloatStorage", "0", 1, 0, {1}}});
  std::vector<ZipMember> members = torchMembers(pickle, {{"0", f32Bytes({1})}});
  members[1].method = 8;
  EXPECT_TRUE(openFails(writeFile("deflated.pt", buildZip(members)),
                        "zip entry 'archive/data/0' is compressed (method "
                        "8); re-save it with torch.save"));
}

TEST_F(PyTorchCheckpointTest, LyingSizesAreRejected) {
  std::string pickle = stateDictPickle({{"w", "FloatStorage", "0", 2, 0, {2}}});
  std::string storage = f32Bytes({1, 2});
  // Compressed size differs from the size of a stored entry.
  std::vector<ZipMember> members = torchMembers(pickle, {{"0", storage}});
  members[1].centralCompressedSize = 4;
  EXPECT_TRUE(openFails(writeFile("lie1.pt", buildZip(members)),
                        "zip entry 'archive/data/0' is stored but claims 4 "
                        "compressed bytes for 8 bytes of data"));
  // The local header disagrees with the central directory.
  members = torchMembers(pickle, {{"0", storage}});
  members[1].localSize = 4;
  EXPECT_TRUE(openFails(writeFile("lie2.pt", buildZip(members)),
                        "zip entry 'archive/data/0': local header (CRC 0x"));
  // So does its name.
  members = torchMembers(pickle, {{"0", storage}});
  members[1].localName = "archive/data/1";
  EXPECT_TRUE(openFails(writeFile("lie3.pt", buildZip(members)),
                        "zip entry 'archive/data/0': local header names it "
                        "'archive/data/1'"));
  // Sizes that agree but are too small for the data descriptor that follows.
  members = torchMembers(pickle, {{"0", storage}});
  members[1].centralSize = members[1].centralCompressedSize = 4;
  EXPECT_TRUE(openFails(writeFile("lie4.pt", buildZip(members, true)),
                        "zip entry 'archive/data/0': the data descriptor at "
                        "offset"));
  // The end record miscounts the central directory's entries.
  std::string file = buildZip(torchMembers(pickle, {{"0", storage}}));
  support::endian::write16le(&file[file.size() - 12], 4);
  support::endian::write16le(&file[file.size() - 14], 4);
  EXPECT_TRUE(openFails(writeFile("lie5.pt", file),
                        "central directory of 183 bytes is too small for 4 "
                        "entries"));
  support::endian::write16le(&file[file.size() - 12], 2);
  support::endian::write16le(&file[file.size() - 14], 2);
  EXPECT_TRUE(openFails(writeFile("lie6.pt", file),
                        "central directory has 61 bytes after its 2 "
                        "entries"));
}

TEST_F(PyTorchCheckpointTest, NonContiguousTensorIsRejected) {
  std::string path = writeTorch("transposed.pt",
                                stateDictPickle({{"w",
                                                  "FloatStorage",
                                                  "0",
                                                  6,
                                                  0,
                                                  {3, 2},
                                                  std::vector<int64_t>{1, 3}}}),
                                {{"0", f32Bytes({1, 2, 3, 4, 5, 6})}});
  EXPECT_TRUE(openFails(path, "tensor 'w': strides [1, 3] are not the "
                              "row-major strides of shape [3, 2] (not "
                              "contiguous; save tensor.contiguous() "
                              "instead)"));
}

TEST_F(PyTorchCheckpointTest, StorageTooSmallIsRejected) {
  // The view reaches past its storage.
  std::string path = writeTorch(
      "small.pt", stateDictPickle({{"w", "FloatStorage", "0", 4, 2, {3}}}),
      {{"0", f32Bytes({1, 2, 3, 4})}});
  EXPECT_TRUE(openFails(path, "tensor 'w': elements [2, 2 + 3) lie outside "
                              "its storage 'archive/data/0' of 4 elements"));
  // The storage entry is smaller than the element count data.pkl gives.
  path = writeTorch("short.pt",
                    stateDictPickle({{"w", "FloatStorage", "0", 4, 0, {4}}}),
                    {{"0", f32Bytes({1, 2, 3})}});
  EXPECT_TRUE(openFails(path, "tensor 'w': its storage 'archive/data/0' "
                              "holds 12 bytes, but data.pkl says 4 elements "
                              "of F32"));
  // One key loaded with two types.
  path = writeTorch("retyped.pt",
                    stateDictPickle({{"a", "FloatStorage", "0", 4, 0, {4}},
                                     {"b", "HalfStorage", "0", 8, 0, {8}}}),
                    {{"0", f32Bytes({1, 2, 3, 4})}});
  EXPECT_TRUE(openFails(path, "data.pkl: storage '0' is loaded as 4 elements "
                              "of F32 and as 8 elements of F16"));
}

TEST_F(PyTorchCheckpointTest, MissingStorageIsRejected) {
  std::string path =
      writeTorch("missing.pt",
                 stateDictPickle({{"w", "FloatStorage", "0", 1, 0, {1}},
                                  {"v", "FloatStorage", "7", 1, 0, {1}}}),
                 {{"0", f32Bytes({1})}});
  EXPECT_TRUE(openFails(path, "tensor 'v': its storage 'archive/data/7' is "
                              "missing from the archive"));
}

//===----------------------------------------------------------------------===//
// What data.pkl holds, and the archive around it
//===----------------------------------------------------------------------===//

TEST_F(PyTorchCheckpointTest, StateDictShapeIsChecked) {
  Pickler list;
  list.proto().op(']').stop();
  EXPECT_TRUE(pickleFails(list.out, "data.pkl holds a list, not a state_dict "
                                    "(a dict of tensors)"));
  Pickler value;
  value.proto().op('}').string("w").integer(3).op('s').stop();
  EXPECT_TRUE(pickleFails(value.out, "the state_dict entry 'w' is int 3, not "
                                     "a tensor"));
  Pickler key;
  key.proto().op('}').integer(1).op(']').op('s').stop();
  EXPECT_TRUE(
      pickleFails(key.out, "the state_dict has key int 1, not a string"));
  // Python would keep the last of two equal keys silently.
  std::string duplicate =
      stateDictPickle({{"w", "FloatStorage", "0", 4, 0, {4}},
                       {"w", "FloatStorage", "0", 4, 0, {2}}});
  EXPECT_TRUE(pickleFails(duplicate, "the state_dict has key 'w' more than "
                                     "once"));
  // A wrapper whose state_dict holds something else.
  Pickler wrapper;
  wrapper.proto()
      .op('}')
      .string("model")
      .op('}')
      .string("x")
      .op(']')
      .op('s')
      .op('s')
      .stop();
  EXPECT_TRUE(pickleFails(wrapper.out, "the state_dict under 'model' entry "
                                       "'x' is a list, not a tensor"));
}

TEST_F(PyTorchCheckpointTest, LegacyFormatIsRejected) {
  // pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2), then more pickles.
  std::string path = writeFile(
      "legacy.pt", StringRef("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a"
                             "\xa8\x50\x19.\x80\x02M\xe9\x03.",
                             21));
  EXPECT_TRUE(openFails(path, "legacy torch.save format is not supported; "
                              "re-save with torch >= 1.6"));
}

TEST_F(PyTorchCheckpointTest, OtherArchivesAreRejected) {
  std::string pickle = stateDictPickle({{"w", "FloatStorage", "0", 1, 0, {1}}});
  // TorchScript (torch.jit.save).
  std::vector<ZipMember> members = torchMembers(pickle, {{"0", f32Bytes({1})}});
  members.push_back({
      "archive/constants.pkl",
      "\x80\x02).",
  });
  EXPECT_TRUE(openFails(writeFile("script.pt", buildZip(members)),
                        "a TorchScript archive (torch.jit.save), not a "
                        "torch.save checkpoint"));
  // No data.pkl.
  EXPECT_TRUE(openFails(
      writeFile("nodata.pt", buildZip({{"archive/version", "3\n"}})),
      "no 'archive/data.pkl' in the zip archive (not a torch.save file)"));
  // Entries not in a folder.
  EXPECT_TRUE(openFails(writeFile("flat.pt", buildZip({{"data.pkl", pickle}})),
                        "zip entry 'data.pkl' is not in a folder"));
  // Big-endian data.
  members = torchMembers(pickle, {{"0", f32Bytes({1})}});
  members.push_back({"archive/byteorder", "big"});
  EXPECT_TRUE(openFails(writeFile("big.pt", buildZip(members)),
                        "big-endian checkpoints (byteorder 'big') are not "
                        "supported"));
  members.back().data = "little";
  Expected<std::unique_ptr<Checkpoint>> little =
      openCheckpoint(writeFile("little.pt", buildZip(members)));
  EXPECT_TRUE(bool(little)) << toString(little.takeError());
}

TEST_F(PyTorchCheckpointTest, RandomCorruptionNeverCrashes) {
  // Flip random bytes of a valid file, or of its data.pkl before zipping it
  // (so that the CRC matches): every result opens or fails with one line.
  std::vector<TestTensor> tensors = {{"a", "FloatStorage", "0", 6, 0, {2, 3}},
                                     {"b", "HalfStorage", "1", 4, 1, {3}},
                                     {"c", "FloatStorage", "0", 6, 3, {1, 3}}};
  std::string pickle = stateDictPickle(tensors);
  std::vector<std::pair<std::string, std::string>> storages = {
      {"0", f32Bytes({1, 2, 3, 4, 5, 6})}, {"1", u16Bytes({1, 2, 3, 4})}};
  std::string file = buildZip(torchMembers(pickle, storages), true);
  uint64_t state = 0x9e3779b97f4a7c15u;
  auto next = [&]() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (int i = 0; i < 2000; ++i) {
    bool inPickle = i % 2;
    std::string bytes = inPickle ? pickle : file;
    for (uint64_t flips = 1 + next() % 4; flips > 0; --flips)
      bytes[next() % bytes.size()] = char(next());
    std::string path = writeFile(
        "fuzz.pt",
        inPickle ? buildZip(torchMembers(bytes, storages), true) : bytes);
    Expected<std::unique_ptr<Checkpoint>> checkpoint = openCheckpoint(path);
    if (checkpoint)
      continue;
    std::string message = toString(checkpoint.takeError());
    EXPECT_TRUE(StringRef(message).starts_with(path) &&
                !StringRef(message).contains('\n'))
        << message;
  }
}

TEST_F(PyTorchCheckpointTest, PyTorchCheckpointOpenNamesTheFile) {
  SmallString<128> path(dir);
  sys::path::append(path, "absent.pt");
  Expected<std::unique_ptr<PyTorchCheckpoint>> checkpoint =
      PyTorchCheckpoint::open(path);
  ASSERT_FALSE(bool(checkpoint));
  EXPECT_TRUE(StringRef(toString(checkpoint.takeError()))
                  .starts_with((path + ": cannot open").str()));
}

} // namespace
