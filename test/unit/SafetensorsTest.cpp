//===- SafetensorsTest.cpp - checkpoint reader tests ----------------------===//
//
// Each test writes its own safetensors file into a fresh temporary directory:
// valid files through a small writer, hostile ones from a raw header, so that
// every validation rule of the reader is exercised on a real mapped file.
//
//===----------------------------------------------------------------------===//

#include "test/unit/CheckpointTestBase.h"
#include "frontends/checkpoint/Safetensors.h"
#include "frontends/checkpoint/Checkpoint.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/bit.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace llvm;
using namespace mlir::attn;

namespace {

/// A tensor for the writer: raw little-endian bytes and header fields.
struct TestTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

/// Returns the little-endian bytes of `values`.
std::string f32Bytes(ArrayRef<float> values) {
  std::string bytes(values.size() * 4, '\0');
  for (auto [i, value] : enumerate(values))
    support::endian::write32le(&bytes[i * 4], bit_cast<uint32_t>(value));
  return bytes;
}

/// Returns the little-endian bytes of `values` (half or bfloat16 bits).
std::string u16Bytes(ArrayRef<uint16_t> values) {
  std::string bytes(values.size() * 2, '\0');
  for (auto [i, value] : enumerate(values))
    support::endian::write16le(&bytes[i * 2], value);
  return bytes;
}

class SafetensorsTest : public CheckpointTestBase {
protected:

  /// Writes a file made of the 8-byte size of `header`, `header`, and `data`.
  std::string writeRaw(StringRef fileName, StringRef header,
                       StringRef data = "") {
    char size[8];
    support::endian::write64le(size, header.size());
    return writeFile(fileName, (StringRef(size, 8) + header + data).str());
  }

  /// Writes a valid safetensors file holding `tensors` back to back in the
  /// given order, with the header padded to 8 bytes as the reference writer
  /// does. `metadata` is the JSON of `__metadata__`, if not empty.
  std::string writeSafetensors(StringRef fileName, ArrayRef<TestTensor> tensors,
                               StringRef metadata = "") {
    std::string header = "{";
    std::string data;
    for (const TestTensor &tensor : tensors) {
      header += "\"" + tensor.name + "\": {\"dtype\": \"" + tensor.dtype +
                "\", \"shape\": [";
      for (auto [i, dim] : enumerate(tensor.shape))
        header += (i ? ", " : "") + std::to_string(dim);
      header += "], \"data_offsets\": [" + std::to_string(data.size()) + ", " +
                std::to_string(data.size() + tensor.bytes.size()) + "]}, ";
      data += tensor.bytes;
    }
    if (!metadata.empty())
      header += "\"__metadata__\": " + metadata.str() + ", ";
    if (!tensors.empty() || !metadata.empty())
      header.resize(header.size() - 2);
    header += "}";
    header.resize((header.size() + 7) / 8 * 8, ' ');
    return writeRaw(fileName, header, data);
  }

  /// Writes `header` (and `dataSize` zero bytes) to `fileName` and checks
  /// that opening it fails with `phrase`.
  ::testing::AssertionResult headerFails(StringRef fileName, StringRef header,
                                         StringRef phrase,
                                         size_t dataSize = 64) {
    return openFails(writeRaw(fileName, header, std::string(dataSize, '\0')),
                     phrase);
  }

};

TEST_F(SafetensorsTest, RoundTrip) {
  std::vector<float> wteValues = {0.0f, -1.5f, 3.25f, 1e-30f, -0.0f, 7.0f};
  std::string path =
      writeSafetensors("model.safetensors",
                       {{"wte.weight", "F32", {2, 3}, f32Bytes(wteValues)},
                        {"empty", "F32", {0, 4}, ""},
                        {"ln_f.bias", "F32", {}, f32Bytes({42.0f})},
                        {"ids", "I64", {2}, std::string(16, '\x01')},
                        {"mask", "BOOL", {3}, std::string("\x01\x00\x01", 3)}});
  Expected<std::unique_ptr<Checkpoint>> checkpoint = openCheckpoint(path);
  ASSERT_TRUE(bool(checkpoint)) << toString(checkpoint.takeError());
  EXPECT_EQ((*checkpoint)->path(), path);

  // Ascending data offset, which is not name order here; the zero-size
  // tensor sits where the next one starts and sorts first there.
  std::vector<std::string> names;
  for (const TensorInfo &tensor : (*checkpoint)->tensors())
    names.push_back(tensor.name);
  EXPECT_EQ(names, (std::vector<std::string>{"wte.weight", "empty", "ln_f.bias",
                                             "ids", "mask"}));

  const TensorInfo *wte = (*checkpoint)->lookup("wte.weight");
  ASSERT_NE(wte, nullptr);
  EXPECT_EQ(wte->dtype, DType::F32);
  EXPECT_EQ(wte->shape, (SmallVector<int64_t>{2, 3}));
  EXPECT_EQ(wte->getNumElements(), 6);
  EXPECT_EQ(wte->bytes.size(), 24u);
  Expected<std::vector<float>> values = readAsF32(*wte);
  ASSERT_TRUE(bool(values)) << toString(values.takeError());
  ASSERT_EQ(values->size(), wteValues.size());
  for (auto [got, expected] : zip(*values, wteValues))
    EXPECT_EQ(bit_cast<uint32_t>(got), bit_cast<uint32_t>(expected));

  const TensorInfo *empty = (*checkpoint)->lookup("empty");
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->getNumElements(), 0);
  EXPECT_TRUE(empty->bytes.empty());
  Expected<std::vector<float>> emptyValues = readAsF32(*empty);
  ASSERT_TRUE(bool(emptyValues)) << toString(emptyValues.takeError());
  EXPECT_TRUE(emptyValues->empty());

  const TensorInfo *bias = (*checkpoint)->lookup("ln_f.bias");
  ASSERT_NE(bias, nullptr);
  EXPECT_TRUE(bias->shape.empty());
  EXPECT_EQ(bias->getNumElements(), 1);

  const TensorInfo *ids = (*checkpoint)->lookup("ids");
  ASSERT_NE(ids, nullptr);
  EXPECT_EQ(ids->dtype, DType::I64);
  EXPECT_EQ(support::endian::read64le(ids->bytes.data()), 0x0101010101010101u);

  const TensorInfo *mask = (*checkpoint)->lookup("mask");
  ASSERT_NE(mask, nullptr);
  EXPECT_EQ(mask->dtype, DType::Bool);
  EXPECT_EQ(mask->bytes, ArrayRef<uint8_t>({1, 0, 1}));

  EXPECT_EQ((*checkpoint)->lookup("wte"), nullptr);
  EXPECT_EQ((*checkpoint)->lookup(""), nullptr);
}

TEST_F(SafetensorsTest, LargeFilesAreMapped) {
  std::vector<float> values(1 << 16);
  for (auto [i, value] : enumerate(values))
    value = float(i) * 0.5f;
  std::string path = writeSafetensors(
      "large.safetensors",
      {{"w", "F32", {256, int64_t(values.size() / 256)}, f32Bytes(values)}});
  Expected<std::unique_ptr<MemoryBuffer>> buffer = mapCheckpointFile(path);
  ASSERT_TRUE(bool(buffer)) << toString(buffer.takeError());
  EXPECT_EQ((*buffer)->getBufferKind(), MemoryBuffer::MemoryBuffer_MMap);

  Expected<std::unique_ptr<Checkpoint>> checkpoint = openCheckpoint(path);
  ASSERT_TRUE(bool(checkpoint)) << toString(checkpoint.takeError());
  Expected<std::vector<float>> read = readAsF32(*(*checkpoint)->lookup("w"));
  ASSERT_TRUE(bool(read)) << toString(read.takeError());
  EXPECT_EQ(*read, values);
}

TEST_F(SafetensorsTest, HalfConvertsExactly) {
  std::vector<uint16_t> bits = {
      0x3c00, // 1
      0xc000, // -2
      0x3555, // 0.333251953125, the half nearest 1/3
      0x7bff, // 65504, the largest half
      0x0400, // 2^-14, the smallest normal
      0x0001, // 2^-24, the smallest subnormal
      0x03ff, // 1023 * 2^-24, the largest subnormal
      0x8001, // -2^-24
      0x8000, // -0
      0x7c00, // +inf
      0xfc00, // -inf
  };
  std::vector<float> expected = {1.0f,
                                 -2.0f,
                                 0.333251953125f,
                                 65504.0f,
                                 0x1p-14f,
                                 0x1p-24f,
                                 1023 * 0x1p-24f,
                                 -0x1p-24f,
                                 -0.0f,
                                 std::numeric_limits<float>::infinity(),
                                 -std::numeric_limits<float>::infinity()};
  std::string path = writeSafetensors(
      "half.safetensors", {{"h", "F16", {int64_t(bits.size())}, u16Bytes(bits)},
                           {"nan", "F16", {2}, u16Bytes({0x7e00, 0xfc01})}});
  Expected<std::unique_ptr<Checkpoint>> checkpoint = openCheckpoint(path);
  ASSERT_TRUE(bool(checkpoint)) << toString(checkpoint.takeError());

  Expected<std::vector<float>> values = readAsF32(*(*checkpoint)->lookup("h"));
  ASSERT_TRUE(bool(values)) << toString(values.takeError());
  ASSERT_EQ(values->size(), expected.size());
  for (auto [got, want] : zip(*values, expected))
    EXPECT_EQ(bit_cast<uint32_t>(got), bit_cast<uint32_t>(want))
        << got << " vs " << want;

  // NaNs keep their sign and payload, shifted into the float mantissa.
  Expected<std::vector<float>> nans = readAsF32(*(*checkpoint)->lookup("nan"));
  ASSERT_TRUE(bool(nans)) << toString(nans.takeError());
  EXPECT_EQ(bit_cast<uint32_t>((*nans)[0]), 0x7fc00000u);
  EXPECT_EQ(bit_cast<uint32_t>((*nans)[1]), 0xff802000u);
  EXPECT_TRUE(std::isnan((*nans)[1]));
}

TEST_F(SafetensorsTest, BFloat16ConvertsExactly) {
  std::vector<uint16_t> bits = {
      0x3f80, // 1
      0xc040, // -3
      0x3eab, // 0.333984375, the bfloat16 nearest 1/3
      0x7f7f, // the largest bfloat16
      0x0001, // 2^-133, the smallest subnormal
      0x8000, // -0
      0x7f80, // +inf
      0xff80, // -inf
      0x7fc1, // NaN with a payload
  };
  std::string path =
      writeSafetensors("bf16.safetensors",
                       {{"b", "BF16", {int64_t(bits.size())}, u16Bytes(bits)}});
  Expected<std::unique_ptr<Checkpoint>> checkpoint = openCheckpoint(path);
  ASSERT_TRUE(bool(checkpoint)) << toString(checkpoint.takeError());
  Expected<std::vector<float>> values = readAsF32(*(*checkpoint)->lookup("b"));
  ASSERT_TRUE(bool(values)) << toString(values.takeError());
  ASSERT_EQ(values->size(), bits.size());
  EXPECT_EQ((*values)[0], 1.0f);
  EXPECT_EQ((*values)[1], -3.0f);
  EXPECT_EQ((*values)[2], 0.333984375f);
  EXPECT_EQ((*values)[3], 0x1.fep127f);
  EXPECT_EQ((*values)[4], 0x1p-133f);
  EXPECT_TRUE((*values)[5] == 0.0f && std::signbit((*values)[5]));
  EXPECT_EQ((*values)[6], std::numeric_limits<float>::infinity());
  EXPECT_EQ((*values)[7], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(bit_cast<uint32_t>((*values)[8]), 0x7fc10000u);
}

TEST_F(SafetensorsTest, ReadAsF32RejectsIntegers) {
  std::string path = writeSafetensors(
      "ints.safetensors", {{"ids", "I32", {2}, std::string(8, '\0')}});
  Expected<std::unique_ptr<Checkpoint>> checkpoint = openCheckpoint(path);
  ASSERT_TRUE(bool(checkpoint)) << toString(checkpoint.takeError());
  Expected<std::vector<float>> values =
      readAsF32(*(*checkpoint)->lookup("ids"));
  ASSERT_FALSE(bool(values));
  EXPECT_EQ(toString(values.takeError()),
            "tensor 'ids' is I32, not F32, F16 or BF16");
}

TEST_F(SafetensorsTest, MetadataIsAccepted) {
  std::string path = writeSafetensors(
      "meta.safetensors", {{"w", "F32", {1}, f32Bytes({1.0f})}},
      R"({"format": "pt", "note": "trained \"quickly\""})");
  Expected<std::unique_ptr<SafetensorsCheckpoint>> checkpoint =
      SafetensorsCheckpoint::open(path);
  ASSERT_TRUE(bool(checkpoint)) << toString(checkpoint.takeError());
  EXPECT_EQ((*checkpoint)->tensors().size(), 1u);
  EXPECT_EQ((*checkpoint)->lookup("__metadata__"), nullptr);
  const std::map<std::string, std::string> expected = {
      {"format", "pt"}, {"note", "trained \"quickly\""}};
  EXPECT_EQ((*checkpoint)->metadata(), expected);
}

TEST_F(SafetensorsTest, EmptyHeaderObjectIsAnEmptyCheckpoint) {
  Expected<std::unique_ptr<Checkpoint>> checkpoint =
      openCheckpoint(writeSafetensors("empty.safetensors", {}));
  ASSERT_TRUE(bool(checkpoint)) << toString(checkpoint.takeError());
  EXPECT_TRUE((*checkpoint)->tensors().empty());
}

TEST_F(SafetensorsTest, GapsAndZeroSizeTensorsSharingAnOffsetAreAccepted) {
  Expected<std::unique_ptr<Checkpoint>> checkpoint = openCheckpoint(
      writeRaw("gaps.safetensors",
               R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [8, 12]},
          "z1": {"dtype": "F32", "shape": [0], "data_offsets": [8, 8]},
          "z2": {"dtype": "F32", "shape": [3, 0], "data_offsets": [8, 8]},
          "b": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}})",
               "0123456789abcdef"));
  ASSERT_TRUE(bool(checkpoint)) << toString(checkpoint.takeError());
  std::vector<std::string> names;
  for (const TensorInfo &tensor : (*checkpoint)->tensors())
    names.push_back(tensor.name);
  EXPECT_EQ(names, (std::vector<std::string>{"b", "z1", "z2", "a"}));
  EXPECT_EQ(StringRef(reinterpret_cast<const char *>(
                          (*checkpoint)->lookup("a")->bytes.data()),
                      4),
            "89ab");
}

TEST_F(SafetensorsTest, MissingFile) {
  SmallString<128> path(dir);
  sys::path::append(path, "absent.safetensors");
  EXPECT_TRUE(openFails(path, "cannot open"));
}

TEST_F(SafetensorsTest, TruncatedData) {
  std::string full = f32Bytes({1, 2, 3, 4});
  std::string valid =
      writeSafetensors("whole.safetensors", {{"w", "F32", {4}, full}});
  Expected<std::unique_ptr<MemoryBuffer>> contents = mapCheckpointFile(valid);
  ASSERT_TRUE(bool(contents)) << toString(contents.takeError());
  std::string path =
      writeFile("truncated.safetensors", (*contents)->getBuffer().drop_back(3));
  EXPECT_TRUE(openFails(path, "tensor 'w': data_offsets [0, 16) end beyond "
                              "the data section of 13 bytes"));
}

TEST_F(SafetensorsTest, ZipMagicIsReadAsPyTorch) {
  // A zip signature sends the file to the PyTorch reader, which explains why
  // this one is no archive rather than calling it a bad safetensors header.
  std::string path = writeFile("pytorch_model.bin",
                               StringRef("PK\x03\x04\x14\0\0\0archive", 15));
  EXPECT_TRUE(openFails(path, "not a zip archive: 15 bytes, fewer than an end "
                              "of central directory record"));
}

TEST_F(SafetensorsTest, FileShorterThanSizeField) {
  std::string path = writeFile("short.safetensors", "12345");
  EXPECT_TRUE(
      openFails(path, "file has 5 bytes, fewer than the 8-byte header size"));
}

TEST_F(SafetensorsTest, HeaderSizeBeyondFile) {
  char size[8];
  support::endian::write64le(size, 1000);
  std::string path =
      writeFile("cut.safetensors", StringRef(size, 8).str() + "{}");
  EXPECT_TRUE(openFails(
      path, "header size 1000 exceeds the 2 bytes after the size field"));
}

TEST_F(SafetensorsTest, HeaderSizeOverLimit) {
  char size[8];
  support::endian::write64le(size, uint64_t(1) << 40);
  std::string path =
      writeFile("huge.safetensors", StringRef(size, 8).str() + "{}");
  EXPECT_TRUE(openFails(path, "header size 1099511627776 exceeds the limit "
                              "of 100000000 bytes"));
}

TEST_F(SafetensorsTest, HeaderNotJson) {
  EXPECT_TRUE(headerFails("bad_json.safetensors", R"({"w": {"dtype": )",
                          "header is not valid JSON"));
}

TEST_F(SafetensorsTest, HeaderNotObject) {
  EXPECT_TRUE(headerFails("array.safetensors", "[1, 2]",
                          "header is not a JSON object"));
}

TEST_F(SafetensorsTest, EntryNotObject) {
  EXPECT_TRUE(headerFails("entry.safetensors", R"({"w": [0, 4]})",
                          "tensor 'w': entry is [0,4], not an object"));
}

TEST_F(SafetensorsTest, LongValuesAreCutShortInMessages) {
  std::string text(1000, 'x');
  EXPECT_TRUE(headerFails("long.safetensors", "{\"w\": \"" + text + "\"}",
                          "tensor 'w': entry is \"" + text.substr(0, 59) +
                              "..., not an object"));
}

TEST_F(SafetensorsTest, MissingDType) {
  EXPECT_TRUE(headerFails("no_dtype.safetensors",
                          R"({"w": {"shape": [1], "data_offsets": [0, 4]}})",
                          "tensor 'w': 'dtype' is missing"));
}

TEST_F(SafetensorsTest, UnknownDType) {
  EXPECT_TRUE(headerFails(
      "dtype.safetensors",
      R"({"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}})",
      "tensor 'w': unknown dtype 'F8_E4M3'"));
}

TEST_F(SafetensorsTest, ShapeNotAList) {
  EXPECT_TRUE(headerFails(
      "shape_scalar.safetensors",
      R"({"w": {"dtype": "F32", "shape": 4, "data_offsets": [0, 16]}})",
      "tensor 'w': 'shape' is 4, not a list of non-negative integers"));
}

TEST_F(SafetensorsTest, ShapeNegative) {
  EXPECT_TRUE(headerFails(
      "shape_negative.safetensors",
      R"({"w": {"dtype": "F32", "shape": [2, -1], "data_offsets": [0, 8]}})",
      "tensor 'w': 'shape' is [2,-1], not a list of non-negative integers"));
}

TEST_F(SafetensorsTest, ShapeFractional) {
  EXPECT_TRUE(headerFails(
      "shape_fraction.safetensors",
      R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})",
      "not a list of non-negative integers"));
}

TEST_F(SafetensorsTest, DimensionOverflowsInt64) {
  EXPECT_TRUE(headerFails(
      "dim_overflow.safetensors",
      R"({"w": {"dtype": "U8", "shape": [9223372036854775808],
                "data_offsets": [0, 8]}})",
      "tensor 'w': element count of shape [9223372036854775808] overflows "
      "int64"));
}

TEST_F(SafetensorsTest, ElementCountOverflowsInt64) {
  EXPECT_TRUE(
      headerFails("numel_overflow.safetensors",
                  R"({"w": {"dtype": "U8", "shape": [4294967296, 4294967296],
                "data_offsets": [0, 8]}})",
                  "tensor 'w': element count of shape [4294967296, 4294967296] "
                  "overflows int64"));
}

TEST_F(SafetensorsTest, ByteCountOverflowsInt64) {
  EXPECT_TRUE(headerFails(
      "bytes_overflow.safetensors",
      R"({"w": {"dtype": "F64", "shape": [2147483648, 2147483648],
                "data_offsets": [0, 8]}})",
      "tensor 'w': byte count of shape [2147483648, 2147483648] of F64 "
      "overflows int64"));
}

TEST_F(SafetensorsTest, OffsetsMissing) {
  EXPECT_TRUE(headerFails("no_offsets.safetensors",
                          R"({"w": {"dtype": "F32", "shape": [1]}})",
                          "tensor 'w': 'data_offsets' is missing"));
}

TEST_F(SafetensorsTest, OffsetsNotTwoIntegers) {
  EXPECT_TRUE(headerFails(
      "offsets_three.safetensors",
      R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}})",
      "tensor 'w': 'data_offsets' is [0,4,8], not a list of two "
      "non-negative integers"));
  EXPECT_TRUE(headerFails(
      "offsets_string.safetensors",
      R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": ["0", 4]}})",
      "not a list of two non-negative integers"));
  EXPECT_TRUE(headerFails(
      "offsets_negative.safetensors",
      R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})",
      "not a list of two non-negative integers"));
}

TEST_F(SafetensorsTest, OffsetsReversed) {
  EXPECT_TRUE(headerFails(
      "reversed.safetensors",
      R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})",
      "tensor 'w': data_offsets [8, 4) have begin > end"));
}

TEST_F(SafetensorsTest, OffsetsBeyondDataSection) {
  EXPECT_TRUE(headerFails(
      "beyond.safetensors",
      R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [60, 76]}})",
      "tensor 'w': data_offsets [60, 76) end beyond the data section of 64 "
      "bytes"));
}

TEST_F(SafetensorsTest, ByteCountMismatch) {
  EXPECT_TRUE(headerFails(
      "model.safetensors",
      R"({"h.0.attn.c_attn.weight": {"dtype": "F32", "shape": [768, 2304],
                                     "data_offsets": [0, 100]}})",
      "model.safetensors: tensor 'h.0.attn.c_attn.weight': data_offsets "
      "[0, 100) hold 100 bytes but shape [768, 2304] of F32 needs 7077888",
      /*dataSize=*/100));
}

TEST_F(SafetensorsTest, OverlappingTensors) {
  EXPECT_TRUE(headerFails(
      "overlap.safetensors",
      R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
          "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})",
      "tensors 'a' [0, 16) and 'b' [8, 24) overlap"));
}

TEST_F(SafetensorsTest, TensorInsideAnother) {
  EXPECT_TRUE(headerFails(
      "nested.safetensors",
      R"({"a": {"dtype": "U8", "shape": [32], "data_offsets": [0, 32]},
          "c": {"dtype": "U8", "shape": [4], "data_offsets": [8, 12]}})",
      "tensors 'a' [0, 32) and 'c' [8, 12) overlap"));
}

TEST_F(SafetensorsTest, DuplicateTensorName) {
  EXPECT_TRUE(headerFails(
      "duplicate.safetensors",
      R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
          "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
      "tensor name 'w' occurs more than once"));
}

TEST_F(SafetensorsTest, DuplicateTensorNameSpelledWithEscape) {
  EXPECT_TRUE(headerFails(
      "duplicate_escape.safetensors",
      R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
          "\u0077": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
      "tensor name 'w' occurs more than once"));
}

TEST_F(SafetensorsTest, DuplicateFieldInEntry) {
  EXPECT_TRUE(
      headerFails("duplicate_field.safetensors",
                  R"({"w": {"dtype": "F32", "shape": [1], "dtype": "F16",
                "data_offsets": [0, 4]}})",
                  "tensor 'w': key 'dtype' occurs more than once"));
}

TEST_F(SafetensorsTest, DuplicateMetadataKey) {
  EXPECT_TRUE(
      headerFails("duplicate_meta.safetensors",
                  R"({"__metadata__": {"format": "pt", "format": "np"}})",
                  "__metadata__: key 'format' occurs more than once"));
}

TEST_F(SafetensorsTest, MetadataNotObject) {
  EXPECT_TRUE(headerFails("meta_list.safetensors",
                          R"({"__metadata__": ["format", "pt"]})",
                          "__metadata__ is [\"format\",\"pt\"], not an "
                          "object of strings"));
}

TEST_F(SafetensorsTest, MetadataValueNotString) {
  EXPECT_TRUE(headerFails("meta_value.safetensors",
                          R"({"__metadata__": {"format": "pt", "step": 3}})",
                          "__metadata__ value of 'step' is 3, not a string"));
}

TEST_F(SafetensorsTest, NamesWithNewlinesStayOnOneLine) {
  EXPECT_TRUE(headerFails(
      "newline.safetensors",
      R"({"a\nb": {"dtype": "F8", "shape": [1], "data_offsets": [0, 1]}})",
      "tensor 'a\\nb': unknown dtype 'F8'"));
}

} // namespace
