//===- Pickle.h - restricted unpickler of torch.save's data.pkl -*- C++ -*-===//
//
// A `torch.save` archive describes its objects in `data.pkl`, a Python pickle
// (protocol 2 unless the caller chose another). A pickle is a program for a
// stack machine that may import and call any Python function, which is why
// loading an untrusted one with Python executes code. This is not Python's
// unpickler: it runs the few opcodes a state_dict needs and knows only the
// callables torch.save uses for tensors, so nothing a file says is ever
// executed:
//
//   - GLOBAL and STACK_GLOBAL resolve only `collections.OrderedDict`,
//     `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter`
//     and the storage types `torch.FloatStorage`, `torch.HalfStorage`,
//     `torch.BFloat16Storage`, `torch.DoubleStorage`, `torch.LongStorage`,
//     `torch.IntStorage`, `torch.ShortStorage`, `torch.CharStorage`,
//     `torch.ByteStorage` and `torch.BoolStorage`; any other global (say
//     `os.system`) is an error naming it.
//   - REDUCE applies OrderedDict() (an empty dict), _rebuild_tensor_v2
//     (storage, storage_offset, size, stride, requires_grad, backward_hooks
//     [, metadata]) (a Tensor record, arguments checked) and
//     _rebuild_parameter(tensor, requires_grad, backward_hooks) (the tensor);
//     applying anything else is an error. BUILD only sets the attributes of
//     an OrderedDict (torch.save stores the state_dict's `_metadata` so),
//     which are ignored.
//   - BINPERSID takes torch's persistent id ('storage', storage type, key,
//     location, numel) to a Storage record; the caller maps the key to the
//     archive entry `data/<key>`. A key loaded twice must agree on type and
//     element count.
//   - Every other opcode is an error naming it (in hex) and its offset.
// The machine is a loop over the bytes with explicit stacks: nothing recurses
// on the file's structure, and the limits below bound the memory a hostile
// file can claim. Dictionaries keep their items in order (later duplicates
// are kept too; the caller decides what a duplicate key means).
//
// Each failure is an llvm::Error of one line: "<prefix><what is wrong> (at
// offset N)", N being the offset of the offending opcode in data.pkl.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_FRONTENDS_CHECKPOINT_PICKLE_H
#define ATTN_FRONTENDS_CHECKPOINT_PICKLE_H

#include "frontends/checkpoint/Checkpoint.h"

#include <deque>

namespace mlir::attn::pickle {

/// The most values on the stack. torch.save (Python's pickler) pushes at most
/// 1000 items (500 dict entries) at a time plus the nesting around them.
constexpr size_t kMaxStackSize = 10'000;
/// The most MARKs open at once: the nesting of tuples built from a mark and
/// of batches of dict or list items.
constexpr size_t kMaxMarkDepth = 1'000;
/// The most memo entries.
constexpr size_t kMaxMemoSize = 1'000'000;
/// The most objects created, and the most items put into tuples, lists and
/// dicts (a dict entry counts as two).
constexpr size_t kMaxObjects = 2'000'000;
constexpr size_t kMaxContainerItems = 8'000'000;
/// The longest string (in bytes) and GLOBAL line.
constexpr size_t kMaxStringSize = 16 * 1024 * 1024;
constexpr size_t kMaxGlobalLineSize = 256;
/// The most dimensions of a tensor.
constexpr size_t kMaxRank = 64;

struct Object;

/// What `torch._utils._rebuild_tensor_v2` would rebuild: a view of a storage.
/// Only the argument types are checked here; the view is checked against
/// the storage by the caller, who knows the tensor's name.
struct Tensor {
  /// A Storage object.
  const Object *storage = nullptr;
  /// In elements.
  int64_t storageOffset = 0;
  llvm::SmallVector<int64_t, 4> shape;
  llvm::SmallVector<int64_t, 4> stride;
};

/// One allowed global.
enum class Global : uint8_t {
  OrderedDict,
  RebuildTensorV2,
  RebuildParameter,
  /// A storage type; Object::dtype says which.
  StorageType,
};

/// A value of the pickle machine. The unpickler owns every object.
struct Object {
  enum class Kind : uint8_t {
    None,
    Bool,
    Int,
    Float,
    String,
    Tuple,
    List,
    Dict,
    Global,
    Storage,
    Tensor,
  };
  Kind kind;
  /// Dict: whether it is a collections.OrderedDict.
  bool ordered = false;
  /// Global: which.
  Global global = Global::OrderedDict;
  /// Global (StorageType), Storage: the element type.
  DType dtype = DType::F32;
  /// Bool, Int: the value; Storage: the element count.
  int64_t integer = 0;
  /// Float: the value.
  double real = 0;
  /// String: the UTF-8 text; Storage: the key. Points into data.pkl.
  llvm::StringRef string;
  /// Tuple, List: the elements; Dict: keys and values, alternating, in
  /// insertion order.
  std::vector<Object *> items;
  /// Tensor: the record.
  const pickle::Tensor *tensor = nullptr;

  explicit Object(Kind kind) : kind(kind) {}
};

/// Describes `object` for an error message ("a tuple", "global
/// 'torch.FloatStorage'", "string 'abc'"), without looking inside it.
std::string describe(const Object &object);

/// The objects of one unpickled data.pkl.
class Unpickled {
public:
  /// The value STOP returned.
  const Object *root() const { return rootObject; }

private:
  friend class Machine;
  std::deque<Object> objects;
  std::deque<Tensor> tensors;
  const Object *rootObject = nullptr;
};

/// Runs the restricted unpickler over `data` (which must outlive the result:
/// strings point into it). Errors start with `errorPrefix`.
llvm::Expected<std::unique_ptr<Unpickled>>
unpickle(llvm::StringRef data, llvm::StringRef errorPrefix);

} // namespace mlir::attn::pickle

#endif // ATTN_FRONTENDS_CHECKPOINT_PICKLE_H
