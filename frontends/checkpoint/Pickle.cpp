//===- Pickle.cpp - restricted unpickler for torch.save's data.pkl --------===//

#include "frontends/checkpoint/Pickle.h"

#include "frontends/checkpoint/Messages.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/bit.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;
using namespace mlir::attn;
using namespace mlir::attn::pickle;

namespace {
/// The opcodes the machine runs (Python's Lib/pickle.py names them).
enum Opcode : uint8_t {
  MARK = '(',
  STOP = '.',
  BINFLOAT = 'G',
  BININT = 'J',
  BININT1 = 'K',
  BININT2 = 'M',
  NONE = 'N',
  BINPERSID = 'Q',
  REDUCE = 'R',
  BINUNICODE = 'X',
  EMPTY_LIST = ']',
  APPEND = 'a',
  BUILD = 'b',
  GLOBAL = 'c',
  APPENDS = 'e',
  BINGET = 'h',
  LONG_BINGET = 'j',
  BINPUT = 'q',
  LONG_BINPUT = 'r',
  SETITEM = 's',
  TUPLE = 't',
  SETITEMS = 'u',
  EMPTY_DICT = '}',
  EMPTY_TUPLE = ')',
  PROTO = 0x80,
  TUPLE1 = 0x85,
  TUPLE2 = 0x86,
  TUPLE3 = 0x87,
  NEWTRUE = 0x88,
  NEWFALSE = 0x89,
  LONG1 = 0x8a,
  SHORT_BINUNICODE = 0x8c,
  BINUNICODE8 = 0x8d,
  STACK_GLOBAL = 0x93,
  MEMOIZE = 0x94,
  FRAME = 0x95,
};
} // namespace

/// Returns the name of pickle opcode `op`, for errors; empty if `op` is not
/// one (of protocols 0 to 5).
static StringRef getOpcodeName(uint8_t op) {
  switch (op) {
  // clang-format off
  case '(': return "MARK";            case '.': return "STOP";
  case '0': return "POP";             case '1': return "POP_MARK";
  case '2': return "DUP";             case 'F': return "FLOAT";
  case 'I': return "INT";             case 'J': return "BININT";
  case 'K': return "BININT1";         case 'L': return "LONG";
  case 'M': return "BININT2";         case 'N': return "NONE";
  case 'P': return "PERSID";          case 'Q': return "BINPERSID";
  case 'R': return "REDUCE";          case 'S': return "STRING";
  case 'T': return "BINSTRING";       case 'U': return "SHORT_BINSTRING";
  case 'V': return "UNICODE";         case 'X': return "BINUNICODE";
  case 'a': return "APPEND";          case 'b': return "BUILD";
  case 'c': return "GLOBAL";          case 'd': return "DICT";
  case '}': return "EMPTY_DICT";      case 'e': return "APPENDS";
  case 'g': return "GET";             case 'h': return "BINGET";
  case 'i': return "INST";            case 'j': return "LONG_BINGET";
  case 'l': return "LIST";            case ']': return "EMPTY_LIST";
  case 'o': return "OBJ";             case 'p': return "PUT";
  case 'q': return "BINPUT";          case 'r': return "LONG_BINPUT";
  case 's': return "SETITEM";         case 't': return "TUPLE";
  case ')': return "EMPTY_TUPLE";     case 'u': return "SETITEMS";
  case 'G': return "BINFLOAT";        case 0x80: return "PROTO";
  case 0x81: return "NEWOBJ";         case 0x82: return "EXT1";
  case 0x83: return "EXT2";           case 0x84: return "EXT4";
  case 0x85: return "TUPLE1";         case 0x86: return "TUPLE2";
  case 0x87: return "TUPLE3";         case 0x88: return "NEWTRUE";
  case 0x89: return "NEWFALSE";       case 0x8a: return "LONG1";
  case 0x8b: return "LONG4";          case 'B': return "BINBYTES";
  case 'C': return "SHORT_BINBYTES";  case 0x8c: return "SHORT_BINUNICODE";
  case 0x8d: return "BINUNICODE8";    case 0x8e: return "BINBYTES8";
  case 0x8f: return "EMPTY_SET";      case 0x90: return "ADDITEMS";
  case 0x91: return "FROZENSET";      case 0x92: return "NEWOBJ_EX";
  case 0x93: return "STACK_GLOBAL";   case 0x94: return "MEMOIZE";
  case 0x95: return "FRAME";          case 0x96: return "BYTEARRAY8";
  case 0x97: return "NEXT_BUFFER";    case 0x98: return "READONLY_BUFFER";
  // clang-format on
  default:
    return "";
  }
}

namespace {
/// An allowed global.
struct AllowedGlobal {
  StringRef module;
  StringRef name;
  Global global;
  DType dtype;
};
} // namespace

static constexpr AllowedGlobal kAllowedGlobals[] = {
    {"collections", "OrderedDict", Global::OrderedDict, DType::F32},
    {"torch._utils", "_rebuild_tensor_v2", Global::RebuildTensorV2, DType::F32},
    {"torch._utils", "_rebuild_parameter", Global::RebuildParameter,
     DType::F32},
    {"torch", "FloatStorage", Global::StorageType, DType::F32},
    {"torch", "HalfStorage", Global::StorageType, DType::F16},
    {"torch", "BFloat16Storage", Global::StorageType, DType::BF16},
    {"torch", "DoubleStorage", Global::StorageType, DType::F64},
    {"torch", "LongStorage", Global::StorageType, DType::I64},
    {"torch", "IntStorage", Global::StorageType, DType::I32},
    {"torch", "ShortStorage", Global::StorageType, DType::I16},
    {"torch", "CharStorage", Global::StorageType, DType::I8},
    {"torch", "ByteStorage", Global::StorageType, DType::U8},
    {"torch", "BoolStorage", Global::StorageType, DType::Bool},
};

/// Returns the qualified name of an allowed global object.
static std::string getGlobalName(const Object &object) {
  for (const AllowedGlobal &allowed : kAllowedGlobals)
    if (allowed.global == object.global &&
        (object.global != Global::StorageType || allowed.dtype == object.dtype))
      return (allowed.module + "." + allowed.name).str();
  llvm_unreachable("every global object comes from the allow-list");
}

std::string mlir::attn::pickle::describe(const Object &object) {
  switch (object.kind) {
  case Object::Kind::None:
    return "None";
  case Object::Kind::Bool:
    return object.integer ? "True" : "False";
  case Object::Kind::Int:
    return "int " + std::to_string(object.integer);
  case Object::Kind::Float:
    return "a float";
  case Object::Kind::String:
    return "string " + quoteForMessage(object.string);
  case Object::Kind::Tuple:
    return "a tuple of " + std::to_string(object.items.size());
  case Object::Kind::List:
    return "a list";
  case Object::Kind::Dict:
    return object.ordered ? "an OrderedDict" : "a dict";
  case Object::Kind::Global:
    return "global '" + getGlobalName(object) + "'";
  case Object::Kind::Storage:
    return "a storage";
  case Object::Kind::Tensor:
    return "a tensor";
  }
  llvm_unreachable("unknown object kind");
}

namespace mlir::attn::pickle {
/// The pickle machine: one run over one data.pkl.
class Machine {
public:
  Machine(StringRef data, StringRef errorPrefix, Unpickled &result)
      : data(data), errorPrefix(errorPrefix), result(result) {}

  /// Runs to STOP.
  Error run();

private:
  Error fail(const Twine &message) const {
    return createStringError(errorPrefix + message + " (at offset " +
                             Twine(opOffset) + ")");
  }

  /// Reads `size` bytes of the current opcode's argument.
  Expected<StringRef> take(uint64_t size) {
    if (size > data.size() - position)
      return fail("truncated " + getOpcodeName(op) + " (data.pkl ends at " +
                  Twine(data.size()) + ")");
    StringRef bytes = data.substr(position, size);
    position += size;
    return bytes;
  }
  template <typename T> Expected<T> takeLE() {
    Expected<StringRef> bytes = take(sizeof(T));
    if (!bytes)
      return bytes.takeError();
    return support::endian::read<T, llvm::endianness::little>(bytes->data());
  }

  Object *make(Object::Kind kind) {
    result.objects.emplace_back(kind);
    return &result.objects.back();
  }

  /// The lowest stack index the current opcode may pop: the innermost mark.
  size_t fence() const { return marks.empty() ? 0 : marks.back(); }

  Expected<Object *> pop() {
    if (stack.size() <= fence())
      return fail(getOpcodeName(op) + " on an empty stack" +
                  (marks.empty() ? "" : " (above the last MARK)"));
    Object *top = stack.back();
    stack.pop_back();
    return top;
  }

  /// Returns the top of the stack without popping it.
  Expected<Object *> peek() {
    if (stack.size() <= fence())
      return fail(getOpcodeName(op) + " on an empty stack" +
                  (marks.empty() ? "" : " (above the last MARK)"));
    return stack.back();
  }

  /// Pops everything above the innermost mark, and the mark.
  Expected<std::vector<Object *>> popMark() {
    if (marks.empty())
      return fail(getOpcodeName(op) + " without a MARK");
    size_t mark = marks.back();
    marks.pop_back();
    std::vector<Object *> items(stack.begin() + mark, stack.end());
    stack.resize(mark);
    return items;
  }

  /// Accounts for `count` more items in containers.
  Error addItems(size_t count) {
    if (count > kMaxContainerItems - containerItems)
      return fail("more than " + Twine(kMaxContainerItems) +
                  " items in tuples, lists and dicts");
    containerItems += count;
    return Error::success();
  }

  /// Checks that `target` is a container of `kind`.
  Error checkTarget(const Object *target, Object::Kind kind) {
    if (target->kind != kind)
      return fail(getOpcodeName(op) + " on " + describe(*target) + ", not " +
                  (kind == Object::Kind::Dict ? "a dict" : "a list"));
    return Error::success();
  }

  Error setItems(Object *target, ArrayRef<Object *> items);
  Error appendItems(Object *target, ArrayRef<Object *> items);
  Expected<Object *> resolveGlobal(StringRef module, StringRef name);
  Expected<Object *> reduce(Object *callable, Object *args);
  Expected<Object *> rebuildTensor(ArrayRef<Object *> args);
  Expected<Object *> loadStorage(Object *pid);
  Expected<StringRef> readLine();

  StringRef data;
  StringRef errorPrefix;
  Unpickled &result;
  /// The byte after the current opcode's arguments read so far.
  size_t position = 0;
  /// The current opcode and its offset.
  uint8_t op = 0;
  size_t opOffset = 0;
  std::vector<Object *> stack;
  /// Stack sizes at each open MARK.
  std::vector<size_t> marks;
  DenseMap<uint64_t, Object *> memo;
  /// Storage key -> its Storage object.
  StringMap<Object *> storages;
  size_t containerItems = 0;
};
} // namespace mlir::attn::pickle

Error Machine::setItems(Object *target, ArrayRef<Object *> items) {
  if (Error error = checkTarget(target, Object::Kind::Dict))
    return error;
  if (items.size() % 2)
    return fail("odd number of items for SETITEMS");
  for (size_t i = 0; i < items.size(); i += 2)
    if (items[i]->kind == Object::Kind::List ||
        items[i]->kind == Object::Kind::Dict)
      return fail(describe(*items[i]) + " cannot be a dict key (unhashable)");
  if (Error error = addItems(items.size()))
    return error;
  target->items.insert(target->items.end(), items.begin(), items.end());
  return Error::success();
}

Error Machine::appendItems(Object *target,
                           ArrayRef<Object *> items) {
  if (Error error = checkTarget(target, Object::Kind::List))
    return error;
  if (Error error = addItems(items.size()))
    return error;
  target->items.insert(target->items.end(), items.begin(), items.end());
  return Error::success();
}

Expected<StringRef> Machine::readLine() {
  StringRef rest = data.substr(position);
  size_t newline = rest.take_front(kMaxGlobalLineSize + 1).find('\n');
  if (newline == StringRef::npos && rest.size() <= kMaxGlobalLineSize)
    return fail("truncated GLOBAL (data.pkl ends at " + Twine(data.size()) +
                ")");
  if (newline == StringRef::npos)
    return fail("GLOBAL line longer than " + Twine(kMaxGlobalLineSize) +
                " bytes");
  position += newline + 1;
  return rest.take_front(newline);
}

Expected<Object *> Machine::resolveGlobal(StringRef module,
                                                StringRef name) {
  for (const AllowedGlobal &allowed : kAllowedGlobals) {
    if (allowed.module != module || allowed.name != name)
      continue;
    Object *object = make(Object::Kind::Global);
    object->global = allowed.global;
    object->dtype = allowed.dtype;
    return object;
  }
  return fail("global " + quoteForMessage((module + "." + name).str()) +
              " is not allowed in a checkpoint");
}

Expected<Object *> Machine::reduce(Object *callable,
                                         Object *args) {
  if (callable->kind != Object::Kind::Global ||
      callable->global == Global::StorageType)
    return fail("REDUCE calls " + describe(*callable) +
                ", which is not an allowed callable");
  if (args->kind != Object::Kind::Tuple)
    return fail("REDUCE calls " + describe(*callable) + " with " +
                describe(*args) + " instead of an argument tuple");
  ArrayRef<Object *> arguments = args->items;
  switch (callable->global) {
  case Global::OrderedDict: {
    if (!arguments.empty())
      return fail("OrderedDict() with arguments is not supported");
    Object *dict = make(Object::Kind::Dict);
    dict->ordered = true;
    return dict;
  }
  case Global::RebuildTensorV2:
    return rebuildTensor(arguments);
  case Global::RebuildParameter:
    // _rebuild_parameter(data, requires_grad, backward_hooks) wraps the
    // tensor in a Parameter; the data is what matters here.
    if (arguments.size() != 3 || arguments[0]->kind != Object::Kind::Tensor ||
        arguments[1]->kind != Object::Kind::Bool ||
        arguments[2]->kind != Object::Kind::Dict)
      return fail("_rebuild_parameter takes (tensor, requires_grad, "
                  "backward_hooks)");
    return arguments[0];
  case Global::StorageType:
    break;
  }
  llvm_unreachable("storage types are refused above");
}

Expected<Object *> Machine::rebuildTensor(ArrayRef<Object *> args) {
  auto bad = [&](size_t index, StringRef what, StringRef expected) {
    return fail("_rebuild_tensor_v2 argument " + Twine(index + 1) + " (" +
                what + ") is " + describe(*args[index]) + ", not " + expected);
  };
  if (args.size() != 6 && args.size() != 7)
    return fail("_rebuild_tensor_v2 takes 6 or 7 arguments, not " +
                Twine(args.size()));
  if (args[0]->kind != Object::Kind::Storage)
    return bad(0, "storage", "a storage");
  if (args[1]->kind != Object::Kind::Int || args[1]->integer < 0)
    return bad(1, "storage_offset", "a non-negative int");
  // size and stride: tuples of ints of one length.
  for (size_t index : {2, 3}) {
    Object *dims = args[index];
    StringRef what = index == 2 ? "size" : "stride";
    if (dims->kind != Object::Kind::Tuple || dims->items.size() > kMaxRank ||
        (index == 3 && dims->items.size() != args[2]->items.size()))
      return bad(index, what,
                 index == 2 ? "a tuple of at most 64 ints"
                            : "a tuple of ints as long as size");
    for (Object *dim : dims->items)
      if (dim->kind != Object::Kind::Int || (index == 2 && dim->integer < 0))
        return bad(index, what,
                   index == 2 ? "a tuple of non-negative ints"
                              : "a tuple of ints");
  }
  if (args[4]->kind != Object::Kind::Bool)
    return bad(4, "requires_grad", "a bool");
  if (args[5]->kind != Object::Kind::Dict)
    return bad(5, "backward_hooks", "a dict");
  // torch.save adds metadata only for tensors whose flags (conj, neg, ...)
  // must be restored; none of them is a plain row-major tensor.
  if (args.size() == 7 && args[6]->kind != Object::Kind::None &&
      !(args[6]->kind == Object::Kind::Dict && args[6]->items.empty()))
    return bad(6, "metadata", "None or an empty dict");

  result.tensors.emplace_back();
  pickle::Tensor &tensor = result.tensors.back();
  tensor.storage = args[0];
  tensor.storageOffset = args[1]->integer;
  for (Object *dim : args[2]->items)
    tensor.shape.push_back(dim->integer);
  for (Object *step : args[3]->items)
    tensor.stride.push_back(step->integer);
  Object *object = make(Object::Kind::Tensor);
  object->tensor = &tensor;
  return object;
}

Expected<Object *> Machine::loadStorage(Object *pid) {
  const auto &items = pid->items;
  if (pid->kind != Object::Kind::Tuple || items.size() != 5 ||
      items[0]->kind != Object::Kind::String || items[0]->string != "storage")
    return fail("persistent id " + describe(*pid) +
                " is not ('storage', type, key, location, numel)");
  if (items[1]->kind != Object::Kind::Global ||
      items[1]->global != Global::StorageType)
    return fail("storage type is " + describe(*items[1]) +
                ", not a storage type");
  if (items[2]->kind != Object::Kind::String || items[2]->string.empty() ||
      items[2]->string.contains('/'))
    return fail("storage key is " + describe(*items[2]) +
                ", not a non-empty string without '/'");
  if (items[3]->kind != Object::Kind::String)
    return fail("storage location is " + describe(*items[3]) +
                ", not a string");
  if (items[4]->kind != Object::Kind::Int || items[4]->integer < 0)
    return fail("storage element count is " + describe(*items[4]) +
                ", not a non-negative int");
  StringRef key = items[2]->string;
  DType dtype = items[1]->dtype;
  int64_t numel = items[4]->integer;

  auto [it, inserted] = storages.try_emplace(key, nullptr);
  if (!inserted) {
    Object *storage = it->second;
    if (storage->dtype != dtype || storage->integer != numel)
      return fail("storage " + quoteForMessage(key) + " is loaded as " +
                  Twine(storage->integer) + " elements of " +
                  getDTypeName(storage->dtype) + " and as " + Twine(numel) +
                  " elements of " + getDTypeName(dtype));
    return storage;
  }
  Object *storage = make(Object::Kind::Storage);
  storage->dtype = dtype;
  storage->string = key;
  storage->integer = numel;
  it->second = storage;
  return storage;
}

Error Machine::run() {
  // Each opcode creates at most one object and pushes at most one value, so
  // checking the limits once per opcode bounds them.
  while (true) {
    if (result.objects.size() >= kMaxObjects)
      return fail("more than " + Twine(kMaxObjects) + " objects");
    if (stack.size() > kMaxStackSize)
      return fail("more than " + Twine(kMaxStackSize) + " values on the stack");
    opOffset = position;
    if (position == data.size())
      return fail("data.pkl ends without STOP (truncated?)");
    op = uint8_t(data[position++]);

    switch (op) {
    case PROTO: {
      Expected<uint8_t> version = takeLE<uint8_t>();
      if (!version)
        return version.takeError();
      if (*version > 5)
        return fail("unsupported pickle protocol " + Twine(unsigned(*version)));
      break;
    }
    case FRAME: {
      // A framing hint for buffered readers; the data is all here.
      Expected<uint64_t> size = takeLE<uint64_t>();
      if (!size)
        return size.takeError();
      if (*size > data.size() - position)
        return fail("FRAME of " + Twine(*size) +
                    " bytes extends beyond the end of data.pkl");
      break;
    }
    case STOP: {
      Expected<Object *> value = pop();
      if (!value)
        return value.takeError();
      if (!marks.empty())
        return fail("STOP with " + Twine(marks.size()) + " MARKs open");
      if (!stack.empty())
        return fail("STOP leaves " + Twine(stack.size()) +
                    " values on the stack");
      if (position != data.size())
        return fail(Twine(data.size() - position) + " bytes follow STOP");
      result.rootObject = *value;
      return Error::success();
    }
    case MARK:
      if (marks.size() >= kMaxMarkDepth)
        return fail("more than " + Twine(kMaxMarkDepth) + " nested MARKs");
      marks.push_back(stack.size());
      break;
    case EMPTY_DICT:
      stack.push_back(make(Object::Kind::Dict));
      break;
    case EMPTY_LIST:
      stack.push_back(make(Object::Kind::List));
      break;
    case EMPTY_TUPLE:
      stack.push_back(make(Object::Kind::Tuple));
      break;
    case NONE:
      stack.push_back(make(Object::Kind::None));
      break;
    case NEWTRUE:
    case NEWFALSE: {
      Object *value = make(Object::Kind::Bool);
      value->integer = op == NEWTRUE;
      stack.push_back(value);
      break;
    }
    case BININT:
    case BININT1:
    case BININT2: {
      int64_t value;
      if (op == BININT) {
        Expected<int32_t> read = takeLE<int32_t>();
        if (!read)
          return read.takeError();
        value = *read;
      } else if (op == BININT1) {
        Expected<uint8_t> read = takeLE<uint8_t>();
        if (!read)
          return read.takeError();
        value = *read;
      } else {
        Expected<uint16_t> read = takeLE<uint16_t>();
        if (!read)
          return read.takeError();
        value = *read;
      }
      Object *object = make(Object::Kind::Int);
      object->integer = value;
      stack.push_back(object);
      break;
    }
    case LONG1: {
      // A little-endian two's complement integer of n bytes.
      Expected<uint8_t> size = takeLE<uint8_t>();
      if (!size)
        return size.takeError();
      if (*size > 8)
        return fail("LONG1 integer of " + Twine(unsigned(*size)) +
                    " bytes does not fit in 64 bits");
      Expected<StringRef> bytes = take(*size);
      if (!bytes)
        return bytes.takeError();
      uint64_t bits = 0;
      for (size_t i = 0; i < *size; ++i)
        bits |= uint64_t(uint8_t((*bytes)[i])) << (8 * i);
      if (*size > 0 && *size < 8 && ((*bytes)[*size - 1] & 0x80))
        bits |= ~uint64_t(0) << (8 * *size); // Sign-extend.
      Object *object = make(Object::Kind::Int);
      object->integer = int64_t(bits);
      stack.push_back(object);
      break;
    }
    case BINFLOAT: {
      Expected<StringRef> bytes = take(8);
      if (!bytes)
        return bytes.takeError();
      Object *object = make(Object::Kind::Float);
      object->real = bit_cast<double>(support::endian::read64be(bytes->data()));
      stack.push_back(object);
      break;
    }
    case BINUNICODE:
    case SHORT_BINUNICODE:
    case BINUNICODE8: {
      uint64_t size;
      if (op == BINUNICODE) {
        Expected<uint32_t> read = takeLE<uint32_t>();
        if (!read)
          return read.takeError();
        size = *read;
      } else if (op == SHORT_BINUNICODE) {
        Expected<uint8_t> read = takeLE<uint8_t>();
        if (!read)
          return read.takeError();
        size = *read;
      } else {
        Expected<uint64_t> read = takeLE<uint64_t>();
        if (!read)
          return read.takeError();
        size = *read;
      }
      if (size > kMaxStringSize)
        return fail("string of " + Twine(size) +
                    " bytes is longer than the limit of " +
                    Twine(kMaxStringSize));
      Expected<StringRef> text = take(size);
      if (!text)
        return text.takeError();
      if (!json::isUTF8(*text))
        return fail("string is not valid UTF-8");
      Object *object = make(Object::Kind::String);
      object->string = *text;
      stack.push_back(object);
      break;
    }
    case TUPLE: {
      Expected<std::vector<Object *>> items = popMark();
      if (!items)
        return items.takeError();
      if (Error error = addItems(items->size()))
        return error;
      Object *tuple = make(Object::Kind::Tuple);
      tuple->items = std::move(*items);
      stack.push_back(tuple);
      break;
    }
    case TUPLE1:
    case TUPLE2:
    case TUPLE3: {
      size_t count = op - TUPLE1 + 1;
      std::vector<Object *> items(count);
      for (size_t i = count; i-- > 0;) {
        Expected<Object *> item = pop();
        if (!item)
          return item.takeError();
        items[i] = *item;
      }
      if (Error error = addItems(count))
        return error;
      Object *tuple = make(Object::Kind::Tuple);
      tuple->items = std::move(items);
      stack.push_back(tuple);
      break;
    }
    case SETITEM: {
      Expected<Object *> value = pop();
      if (!value)
        return value.takeError();
      Expected<Object *> key = pop();
      if (!key)
        return key.takeError();
      Expected<Object *> dict = peek();
      if (!dict)
        return dict.takeError();
      if (Error error = setItems(*dict, {*key, *value}))
        return error;
      break;
    }
    case SETITEMS:
    case APPENDS: {
      Expected<std::vector<Object *>> items = popMark();
      if (!items)
        return items.takeError();
      Expected<Object *> target = peek();
      if (!target)
        return target.takeError();
      if (Error error = op == SETITEMS ? setItems(*target, *items)
                                       : appendItems(*target, *items))
        return error;
      break;
    }
    case APPEND: {
      Expected<Object *> value = pop();
      if (!value)
        return value.takeError();
      Expected<Object *> list = peek();
      if (!list)
        return list.takeError();
      if (Error error = appendItems(*list, *value))
        return error;
      break;
    }
    case BINPUT:
    case LONG_BINPUT:
    case MEMOIZE: {
      uint64_t index = memo.size();
      if (op == BINPUT) {
        Expected<uint8_t> read = takeLE<uint8_t>();
        if (!read)
          return read.takeError();
        index = *read;
      } else if (op == LONG_BINPUT) {
        Expected<uint32_t> read = takeLE<uint32_t>();
        if (!read)
          return read.takeError();
        index = *read;
      }
      Expected<Object *> top = peek();
      if (!top)
        return top.takeError();
      if (memo.size() >= kMaxMemoSize && !memo.count(index))
        return fail("more than " + Twine(kMaxMemoSize) + " memo entries");
      memo[index] = *top;
      break;
    }
    case BINGET:
    case LONG_BINGET: {
      uint64_t index;
      if (op == BINGET) {
        Expected<uint8_t> read = takeLE<uint8_t>();
        if (!read)
          return read.takeError();
        index = *read;
      } else {
        Expected<uint32_t> read = takeLE<uint32_t>();
        if (!read)
          return read.takeError();
        index = *read;
      }
      auto it = memo.find(index);
      if (it == memo.end())
        return fail(getOpcodeName(op) + " of memo entry " + Twine(index) +
                    ", which was never stored");
      stack.push_back(it->second);
      break;
    }
    case GLOBAL: {
      Expected<StringRef> module = readLine();
      if (!module)
        return module.takeError();
      Expected<StringRef> name = readLine();
      if (!name)
        return name.takeError();
      Expected<Object *> global = resolveGlobal(*module, *name);
      if (!global)
        return global.takeError();
      stack.push_back(*global);
      break;
    }
    case STACK_GLOBAL: {
      Expected<Object *> name = pop();
      if (!name)
        return name.takeError();
      Expected<Object *> module = pop();
      if (!module)
        return module.takeError();
      if ((*module)->kind != Object::Kind::String ||
          (*name)->kind != Object::Kind::String)
        return fail("STACK_GLOBAL of " + describe(**module) + " and " +
                    describe(**name) + " instead of two strings");
      Expected<Object *> global =
          resolveGlobal((*module)->string, (*name)->string);
      if (!global)
        return global.takeError();
      stack.push_back(*global);
      break;
    }
    case REDUCE: {
      Expected<Object *> args = pop();
      if (!args)
        return args.takeError();
      Expected<Object *> callable = pop();
      if (!callable)
        return callable.takeError();
      Expected<Object *> value = reduce(*callable, *args);
      if (!value)
        return value.takeError();
      stack.push_back(*value);
      break;
    }
    case BUILD: {
      // Python sets the state as the object's attributes; torch.save gives a
      // state_dict its `_metadata` so. Nothing here reads attributes.
      Expected<Object *> state = pop();
      if (!state)
        return state.takeError();
      Expected<Object *> target = peek();
      if (!target)
        return target.takeError();
      if ((*target)->kind != Object::Kind::Dict || !(*target)->ordered)
        return fail("BUILD on " + describe(**target) +
                    " (only an OrderedDict's attributes can be set)");
      if ((*state)->kind != Object::Kind::None &&
          (*state)->kind != Object::Kind::Dict)
        return fail("BUILD with " + describe(**state) +
                    " as the state of an OrderedDict, not a dict");
      break;
    }
    case BINPERSID: {
      Expected<Object *> pid = pop();
      if (!pid)
        return pid.takeError();
      Expected<Object *> storage = loadStorage(*pid);
      if (!storage)
        return storage.takeError();
      stack.push_back(*storage);
      break;
    }
    default: {
      std::string hex = "0x" + utohexstr(op, /*LowerCase=*/true, 2);
      StringRef name = getOpcodeName(op);
      if (name.empty())
        return fail("unknown opcode " + hex);
      return fail("opcode " + hex + " (" + name +
                  ") is not supported in a checkpoint");
    }
    }
  }
}

Expected<std::unique_ptr<Unpickled>>
mlir::attn::pickle::unpickle(StringRef data, StringRef errorPrefix) {
  auto result = std::make_unique<Unpickled>();
  Machine machine(data, errorPrefix, *result);
  if (Error error = machine.run())
    return std::move(error);
  return std::move(result);
}
