//===- Plan.cpp - programs as ordered kernel dispatches -------------------===//

#include "compiler/Codegen/Plan.h"

#include "dialects/attn/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/bit.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::attn;

int64_t Affine::maxOver(int64_t length) const {
  // A linear function on the triangle of steps peaks at one of its corners.
  return std::max({eval(1, 0), eval(length, 0), eval(1, length - 1)});
}

//===----------------------------------------------------------------------===//
// How each op is split into work items
//===----------------------------------------------------------------------===//

namespace {
/// Which axis of the result the work items walk, and which axis of each
/// tensor operand walks with it (-1: the operand is read whole).
struct SplitSpec {
  int64_t resultAxis;
  SmallVector<int64_t> operandAxes;
};
} // namespace

/// Rows for row-wise ops, heads for attention, output features for linear
/// (so that a one-token decode still spreads over every core).
static std::optional<SplitSpec> getSplitSpec(Operation *op) {
  return llvm::TypeSwitch<Operation *, std::optional<SplitSpec>>(op)
      .Case([](EmbeddingOp embedding) {
        SplitSpec spec{0, {-1, 0}};
        if (embedding.getAddend())
          spec.operandAxes.push_back(embedding.isBroadcastAddend() ? -1 : 0);
        return spec;
      })
      .Case([](LinearOp linear) {
        int64_t weightOut = linear.getLayout() == WeightLayout::in_out ? 1 : 0;
        SplitSpec spec{1, {-1, weightOut}};
        if (linear.getBias())
          spec.operandAxes.push_back(0);
        if (linear.getResidual())
          spec.operandAxes.push_back(1);
        // The norm's gamma and beta run along the input, read whole.
        if (linear.getNormGamma())
          spec.operandAxes.append({-1, -1});
        return spec;
      })
      .Case([](LayerNormOp ln) -> std::optional<SplitSpec> {
        if (ln.getType().getRank() < 2)
          return std::nullopt;
        return SplitSpec{0, {0, -1, -1}};
      })
      .Case([](GeluOp) { return SplitSpec{0, {0}}; })
      .Case([](AddOp add) {
        return SplitSpec{0, {0, add.isBroadcastAxis(0) ? -1 : 0}};
      })
      .Case([](SplitHeadsOp) { return SplitSpec{1, {0}}; })
      .Case([](MergeHeadsOp) { return SplitSpec{0, {1}}; })
      .Case<QKScoresOp, WeightedSumOp>(
          [](auto) { return SplitSpec{0, {0, 0}}; })
      .Case<ScaleOp, CausalMaskOp, MaskedSoftmaxOp>(
          [](auto) { return SplitSpec{0, {0}}; })
      .Case([](SoftmaxOp softmax) {
        int64_t axis = softmax.getAxis() == 0 ? 1 : 0;
        return SplitSpec{axis, {axis}};
      })
      .Case([](FusedAttentionOp) { return SplitSpec{0, {0, 0, 0}}; })
      .Case([](CachedAttentionOp) { return SplitSpec{0, {0, 0, 0, 0, 0}}; })
      .Default([](Operation *) { return std::nullopt; });
}

/// The results of `op` past the first, each with the operand it updates in
/// place: the kernel writes them into that operand's binding.
static SmallVector<std::pair<OpResult, OpOperand *>>
getInPlaceResults(Operation *op) {
  auto cached = dyn_cast<CachedAttentionOp>(op);
  if (!cached)
    return {};
  return {{cached->getOpResult(1), &cached.getKeyCacheMutable()},
          {cached->getOpResult(2), &cached.getValueCacheMutable()}};
}

/// Where each dynamic result size of an attn op comes from: a static size, or
/// axis `second` of tensor operand `first`.
static SmallVector<std::pair<int64_t, int64_t>> getResultSizeSources(
    Operation *op) {
  using P = std::pair<int64_t, int64_t>;
  return llvm::TypeSwitch<Operation *, SmallVector<P>>(op)
      .Case([](EmbeddingOp) { return SmallVector<P>{{1, 0}, {0, 1}}; })
      .Case([](LinearOp linear) {
        int64_t out = linear.getLayout() == WeightLayout::in_out ? 1 : 0;
        return SmallVector<P>{{0, 0}, {1, out}};
      })
      .Case([](SplitHeadsOp) { return SmallVector<P>{{-1, -1}, {0, 0}, {-1, -1}}; })
      .Case([](MergeHeadsOp) { return SmallVector<P>{{0, 1}, {-1, -1}}; })
      .Case<QKScoresOp>([](auto) { return SmallVector<P>{{0, 0}, {0, 1}, {1, 1}}; })
      .Case<WeightedSumOp, FusedAttentionOp, CachedAttentionOp>(
          [](Operation *o) {
        int64_t value = isa<WeightedSumOp>(o) ? 1 : 2;
        return SmallVector<P>{{0, 0}, {0, 1}, {value, 2}};
      })
      .Default([](Operation *o) {
        // Elementwise and row-wise ops: the first operand's sizes.
        int64_t rank = cast<RankedTensorType>(o->getResult(0).getType()).getRank();
        SmallVector<P> sources;
        for (int64_t axis = 0; axis < rank; ++axis)
          sources.push_back({0, axis});
        return sources;
      });
}

//===----------------------------------------------------------------------===//
// Planner
//===----------------------------------------------------------------------===//

namespace {

class Planner {
public:
  Planner(ModuleOp programs, int64_t contextLength)
      : programs(programs), contextLength(contextLength),
        kernelBuilder(programs.getContext()) {
    kernels = ModuleOp::create(UnknownLoc::get(programs.getContext()));
    kernelBuilder.setInsertionPointToEnd(kernels->getBody());
  }

  LogicalResult planProgram(func::FuncOp func);
  ModelPlan takePlan() {
    plan.kernels = std::move(kernels);
    return std::move(plan);
  }

private:
  // Symbolic values of the program being planned.
  FailureOr<Affine> getIndex(Value v, Operation *user);
  FailureOr<ViewPlan> getView(Value v, Operation *user);

  unsigned getOrCreateBuffer(StringRef name, BufferKind kind, Type elementType,
                             ArrayRef<int64_t> shape, bool transposed = false);
  unsigned allocateScratch(RankedTensorType type, ArrayRef<Affine> sizes,
                           size_t opIndex);
  ViewPlan wholeView(unsigned buffer, ArrayRef<Affine> sizes) const;

  LogicalResult planArgument(func::FuncOp func, BlockArgument arg,
                             ProgramPlan &program);
  LogicalResult planOp(Operation *op, size_t opIndex, ProgramPlan &program);
  LogicalResult planDispatch(Operation *op, size_t opIndex,
                             ProgramPlan &program);
  LogicalResult planCacheWrite(KVCacheWriteOp op, ProgramPlan &program);
  /// Checks that a cached attention's appended rows and its reads stay
  /// inside the caches at every step of `program`: the kernel indexes the
  /// whole caches, so no view check of the runtime covers them.
  LogicalResult checkCacheBounds(CachedAttentionOp op,
                                 const ProgramPlan &program);
  /// The [heads, seq, head_dim] view of `source`'s [seq, heads * head_dim]
  /// elements: split_heads as a view, and the view through which the
  /// producer of a merge_heads writes the merged buffer.
  static ViewPlan headsView(const ViewPlan &source, int64_t heads,
                            int64_t headDim);

  /// Builds (or finds) the kernel computing `op` over a range of work items
  /// of `spec`, given the views of its tensor operands and of its result.
  /// `operands` are the values the kernel reads: the op's operands, or only
  /// the rows for a KV cache write, which is a copy.
  unsigned getOrCreateKernel(Operation *op, ValueRange operands,
                             const SplitSpec &spec,
                             ArrayRef<ViewPlan> bindings,
                             ArrayRef<std::optional<Affine>> indexOperands);
  MemRefType getBindingType(const ViewPlan &view, Type elementType) const;
  void buildEntryWrapper(func::FuncOp impl, ArrayRef<MemRefType> types);

  ModuleOp programs;
  int64_t contextLength;
  ModelPlan plan;
  OwningOpRef<ModuleOp> kernels;
  OpBuilder kernelBuilder;
  llvm::StringMap<unsigned> kernelsByBody;
  llvm::StringMap<unsigned> buffersByName;

  // Per program.
  DenseMap<Value, Affine> indices;
  DenseMap<Value, ViewPlan> views;
  /// Scratch buffers free for reuse, and the op index after which each busy
  /// one is free.
  SmallVector<unsigned> freeScratch;
  DenseMap<unsigned, size_t> busyUntil;
  DenseMap<Value, size_t> lastUse;
  /// Per merge_heads whose input's producer writes the merged layout
  /// directly: the buffer of its result.
  DenseMap<Operation *, unsigned> mergedBuffers;
};

} // namespace

FailureOr<Affine> Planner::getIndex(Value v, Operation *user) {
  auto it = indices.find(v);
  if (it != indices.end())
    return it->second;
  return user->emitOpError()
         << "uses an index value that is not affine in the step sizes S and T";
}

FailureOr<ViewPlan> Planner::getView(Value v, Operation *user) {
  auto it = views.find(v);
  if (it != views.end())
    return it->second;
  return user->emitOpError() << "uses a tensor that the planner has not seen";
}

unsigned Planner::getOrCreateBuffer(StringRef name, BufferKind kind,
                                    Type elementType,
                                    ArrayRef<int64_t> shape, bool transposed) {
  auto [it, inserted] = buffersByName.try_emplace(name, plan.buffers.size());
  if (inserted)
    plan.buffers.push_back({name.str(), kind, elementType,
                            SmallVector<int64_t>(shape), transposed});
  return it->second;
}

ViewPlan Planner::wholeView(unsigned buffer, ArrayRef<Affine> sizes) const {
  ViewPlan view;
  view.buffer = buffer;
  view.sizes.assign(sizes.begin(), sizes.end());
  ArrayRef<int64_t> shape = plan.buffers[buffer].shape;
  view.strides.resize(shape.size());
  int64_t stride = 1;
  for (int64_t axis = shape.size() - 1; axis >= 0; --axis) {
    view.strides[axis] = stride;
    stride *= shape[axis];
  }
  return view;
}

unsigned Planner::allocateScratch(RankedTensorType type, ArrayRef<Affine> sizes,
                                  size_t opIndex) {
  SmallVector<int64_t> shape;
  for (const Affine &size : sizes)
    shape.push_back(size.maxOver(contextLength));
  // Reuse a free buffer of exactly this allocation: the layers of a model
  // repeat, so exact matches are the common case.
  for (auto *it = freeScratch.begin(); it != freeScratch.end(); ++it) {
    const BufferPlan &buffer = plan.buffers[*it];
    if (buffer.elementType == type.getElementType() &&
        ArrayRef<int64_t>(buffer.shape) == ArrayRef<int64_t>(shape)) {
      unsigned id = *it;
      freeScratch.erase(it);
      return id;
    }
  }
  unsigned id = plan.buffers.size();
  plan.buffers.push_back({"scratch" + std::to_string(id), BufferKind::Scratch,
                          type.getElementType(), shape});
  return id;
}

LogicalResult Planner::planArgument(func::FuncOp func, BlockArgument arg,
                                    ProgramPlan &program) {
  unsigned index = arg.getArgNumber();
  auto type = dyn_cast<RankedTensorType>(arg.getType());
  auto fail = [&](const Twine &what) {
    return func.emitOpError() << "argument #" << index << " " << what;
  };
  if (index == 0) {
    if (!type || type.getRank() != 1 ||
        !type.getElementType().isSignlessInteger(32))
      return fail("must be the token ids, tensor<?xi32>");
    program.staticS = type.isDynamicDim(0) ? 0 : type.getDimSize(0);
    program.tokens = getOrCreateBuffer("tokens", BufferKind::Tokens,
                                       type.getElementType(), {contextLength});
    Affine S = program.staticS ? Affine::constant(program.staticS)
                               : Affine{1, 0, 0};
    views[arg] = wholeView(program.tokens, {S});
    return success();
  }
  if (index == 1) {
    if (!arg.getType().isIndex())
      return fail("must be T, the number of cached tokens, of type index");
    indices[arg] = Affine{0, 1, 0};
    return success();
  }
  if (!type || !type.hasStaticShape())
    return fail("must be a tensor of static shape");
  SmallVector<Affine> sizes;
  for (int64_t size : type.getShape())
    sizes.push_back(Affine::constant(size));
  if (auto name = func.getArgAttrOfType<StringAttr>(
          index, AttnDialect::getWeightAttrName())) {
    bool transposed = static_cast<bool>(
        func.getArgAttr(index, AttnDialect::getTransposedAttrName()));
    unsigned buffer =
        getOrCreateBuffer(name, BufferKind::Weight, type.getElementType(),
                          type.getShape(), transposed);
    // The artifact stores one tensor per name for every program.
    const BufferPlan &weight = plan.buffers[buffer];
    if (weight.shape != ArrayRef<int64_t>(type.getShape()) ||
        weight.elementType != type.getElementType() ||
        weight.transposed != transposed)
      return fail("disagrees in type or 'attn.transposed' with the same "
                  "weight in an earlier program");
    views[arg] = wholeView(buffer, sizes);
    return success();
  }
  if (auto name = func.getArgAttrOfType<StringAttr>(
          index, AttnDialect::getKVCacheAttrName())) {
    views[arg] = wholeView(getOrCreateBuffer(name, BufferKind::KVCache,
                                             type.getElementType(),
                                             type.getShape()),
                           sizes);
    return success();
  }
  return fail("is neither a weight ('attn.weight') nor a KV cache "
              "('attn.kv_cache')");
}

LogicalResult Planner::planProgram(func::FuncOp func) {
  indices.clear();
  views.clear();
  freeScratch.clear();
  busyUntil.clear();
  lastUse.clear();
  mergedBuffers.clear();

  ProgramPlan program;
  program.name = func.getSymName().str();
  if (func.getNumArguments() < 2)
    return func.emitOpError() << "expects the token ids and T as its first "
                                 "two arguments";
  for (BlockArgument arg : func.getArguments())
    if (failed(planArgument(func, arg, program)))
      return failure();

  Block &body = func.front();
  SmallVector<Operation *> ops = llvm::to_vector(
      llvm::map_range(body.getOperations(), [](Operation &op) { return &op; }));
  for (auto [index, op] : llvm::enumerate(ops))
    for (Value operand : op->getOperands())
      lastUse[operand] = index;

  for (auto [index, op] : llvm::enumerate(ops)) {
    // Scratch buffers whose values are all dead become free before this op
    // allocates its result, so a dispatch never writes a scratch buffer it
    // reads (in-place updates write operands on purpose).
    for (auto it = busyUntil.begin(); it != busyUntil.end();) {
      if (it->second < index) {
        freeScratch.push_back(it->first);
        busyUntil.erase(it++);
      } else {
        ++it;
      }
    }
    if (failed(planOp(op, index, program)))
      return failure();
  }
  plan.programs.push_back(std::move(program));
  return success();
}

/// Extends the life of `view`'s scratch buffer to op `index`.
static void keepAlive(DenseMap<unsigned, size_t> &busyUntil,
                      const BufferPlan &buffer, unsigned id, size_t index) {
  if (buffer.kind != BufferKind::Scratch)
    return;
  size_t &until = busyUntil[id];
  until = std::max(until, index);
}

LogicalResult Planner::planOp(Operation *op, size_t opIndex,
                              ProgramPlan &program) {
  auto index = [&](Value v) { return getIndex(v, op); };
  auto keep = [&](Value result, const ViewPlan &view) {
    views[result] = view;
    auto it = lastUse.find(result);
    keepAlive(busyUntil, plan.buffers[view.buffer], view.buffer,
              it == lastUse.end() ? opIndex : it->second);
  };

  if (auto constant = dyn_cast<arith::ConstantIndexOp>(op)) {
    indices[constant] = Affine::constant(constant.value());
    return success();
  }
  if (isa<arith::AddIOp, arith::SubIOp, arith::MulIOp>(op)) {
    FailureOr<Affine> lhs = index(op->getOperand(0));
    FailureOr<Affine> rhs = index(op->getOperand(1));
    if (failed(lhs) || failed(rhs))
      return failure();
    if (isa<arith::AddIOp>(op))
      indices[op->getResult(0)] = *lhs + *rhs;
    else if (isa<arith::SubIOp>(op))
      indices[op->getResult(0)] = *lhs - *rhs;
    else if (rhs->isConstant())
      indices[op->getResult(0)] = *lhs * rhs->c;
    else if (lhs->isConstant())
      indices[op->getResult(0)] = *rhs * lhs->c;
    else
      return op->emitOpError() << "multiplies two step-dependent sizes";
    return success();
  }
  if (auto dim = dyn_cast<tensor::DimOp>(op)) {
    FailureOr<ViewPlan> view = getView(dim.getSource(), op);
    std::optional<int64_t> axis = dim.getConstantIndex();
    if (failed(view) || !axis)
      return op->emitOpError() << "needs a constant axis of a planned tensor";
    indices[dim] = view->sizes[*axis];
    return success();
  }
  if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op)) {
    FailureOr<ViewPlan> source = getView(slice.getSource(), op);
    if (failed(source))
      return failure();
    if (!llvm::all_of(slice.getStaticStrides(),
                      [](int64_t s) { return s == 1; }))
      return op->emitOpError() << "only unit strides are supported";
    ViewPlan view = *source;
    llvm::SmallBitVector dropped = slice.getDroppedDims();
    view.sizes.clear();
    view.strides.clear();
    for (auto [axis, offset] : llvm::enumerate(slice.getMixedOffsets())) {
      Affine offsetValue;
      if (auto attr = dyn_cast<Attribute>(offset)) {
        offsetValue = Affine::constant(cast<IntegerAttr>(attr).getInt());
      } else {
        FailureOr<Affine> v = index(cast<Value>(offset));
        if (failed(v))
          return failure();
        offsetValue = *v;
      }
      view.offset = view.offset + offsetValue * source->strides[axis];
      if (dropped.test(axis))
        continue;
      OpFoldResult size = slice.getMixedSizes()[axis];
      if (auto attr = dyn_cast<Attribute>(size)) {
        view.sizes.push_back(Affine::constant(cast<IntegerAttr>(attr).getInt()));
      } else {
        FailureOr<Affine> v = index(cast<Value>(size));
        if (failed(v))
          return failure();
        view.sizes.push_back(*v);
      }
      view.strides.push_back(source->strides[axis]);
    }
    keep(slice.getResult(), view);
    return success();
  }
  if (auto cast = dyn_cast<tensor::CastOp>(op)) {
    // Canonicalization casts between static and dynamic sizes of one view.
    FailureOr<ViewPlan> source = getView(cast.getSource(), op);
    if (failed(source))
      return failure();
    keep(cast.getResult(), *source);
    return success();
  }
  if (auto read = dyn_cast<KVCacheReadOp>(op)) {
    FailureOr<ViewPlan> cache = getView(read.getCache(), op);
    FailureOr<Affine> length = index(read.getLength());
    if (failed(cache) || failed(length))
      return failure();
    ViewPlan view = *cache;
    view.sizes[1] = *length;
    keep(read.getResult(), view);
    return success();
  }
  if (auto write = dyn_cast<KVCacheWriteOp>(op))
    return planCacheWrite(write, program);
  // Head splits and merges are layouts, not work: a split reads its input
  // through a strided view, and a merge's input was written into the merged
  // buffer by its producer (planDispatch).
  if (auto split = dyn_cast<SplitHeadsOp>(op)) {
    FailureOr<ViewPlan> source = getView(split.getInput(), op);
    if (failed(source))
      return failure();
    RankedTensorType type = split.getType();
    // The verifier leaves head_dim free; a view needs it static.
    if (source->strides.back() == 1 && !type.isDynamicDim(2)) {
      keep(split.getResult(),
           headsView(*source, type.getDimSize(0), type.getDimSize(2)));
      return success();
    }
  }
  if (auto merge = dyn_cast<MergeHeadsOp>(op)) {
    auto it = mergedBuffers.find(merge);
    if (it != mergedBuffers.end()) {
      FailureOr<ViewPlan> heads = getView(merge.getInput(), op);
      if (failed(heads))
        return failure();
      keep(merge.getResult(),
           wholeView(it->second,
                     {heads->sizes[1],
                      Affine::constant(plan.buffers[it->second].shape[1])}));
      return success();
    }
  }
  if (auto ret = dyn_cast<func::ReturnOp>(op)) {
    if (ret.getNumOperands() < 1)
      return op->emitOpError() << "must return the logits first";
    FailureOr<ViewPlan> logits = getView(ret.getOperand(0), op);
    if (failed(logits))
      return failure();
    program.logits = *logits;
    return success();
  }
  if (isa<AttnDialect>(op->getDialect()))
    return planDispatch(op, opIndex, program);
  return op->emitOpError() << "cannot be planned: the program may only hold "
                              "attn ops, index arithmetic, tensor.dim, "
                              "tensor.extract_slice and tensor.cast";
}

LogicalResult Planner::planCacheWrite(KVCacheWriteOp op,
                                      ProgramPlan &program) {
  FailureOr<ViewPlan> cache = getView(op.getCache(), op);
  FailureOr<ViewPlan> rows = getView(op.getRows(), op);
  FailureOr<Affine> position = getIndex(op.getPosition(), op);
  if (failed(cache) || failed(rows) || failed(position))
    return failure();
  // The write happens in place: nothing may read the old cache afterwards.
  if (!op.getCache().hasOneUse())
    return op.emitOpError() << "writes a KV cache that is also read elsewhere; "
                               "read the written cache instead";
  ViewPlan target = *cache;
  target.offset = target.offset + *position * cache->strides[1];
  target.sizes = rows->sizes;
  SplitSpec spec{0, {0}};
  unsigned kernel = getOrCreateKernel(op, op.getRows(), spec, {*rows, target},
                                      {std::nullopt});
  program.dispatches.push_back({kernel, {*rows, target}, /*workAxis=*/0, {}});
  views[op.getResult()] = *cache;
  return success();
}

LogicalResult Planner::checkCacheBounds(CachedAttentionOp op,
                                        const ProgramPlan &program) {
  FailureOr<Affine> position = getIndex(op.getPosition(), op);
  FailureOr<Affine> length = getIndex(op.getLength(), op);
  FailureOr<ViewPlan> keys = getView(op.getKey(), op);
  FailureOr<ViewPlan> values = getView(op.getValue(), op);
  if (failed(position) || failed(length) || failed(keys) || failed(values))
    return failure();
  // The steps of the program: S fixed or in [1, context], T in
  // [0, context - S]. An affine function peaks at the corners.
  SmallVector<std::pair<int64_t, int64_t>> corners;
  for (int64_t S : program.staticS
                       ? SmallVector<int64_t>{program.staticS}
                       : SmallVector<int64_t>{1, contextLength})
    corners.append({{S, 0}, {S, contextLength - S}});
  auto range = [&](const Affine &a) {
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (auto [S, T] : corners) {
      lo = std::min(lo, a.eval(S, T));
      hi = std::max(hi, a.eval(S, T));
    }
    return std::pair(lo, hi);
  };
  int64_t capacity = std::min(op.getKeyCache().getType().getDimSize(1),
                              op.getValueCache().getType().getDimSize(1));
  int64_t first = range(*position).first;
  int64_t end = std::max(range(*position + keys->sizes[1]).second,
                         range(*position + values->sizes[1]).second);
  int64_t read = range(*length).second;
  if (first < 0 || std::max(end, read) > capacity)
    return op.emitOpError()
           << "appends rows [" << first << ", " << end << ") and reads up to "
           << "row " << read << " of caches of " << capacity
           << " rows in a context of " << contextLength << " tokens";
  return success();
}

LogicalResult Planner::planDispatch(Operation *op, size_t opIndex,
                                    ProgramPlan &program) {
  std::optional<SplitSpec> spec = getSplitSpec(op);
  SmallVector<std::pair<OpResult, OpOperand *>> inPlace = getInPlaceResults(op);
  if (!spec || op->getNumResults() != 1 + inPlace.size())
    return op->emitOpError() << "has no CPU kernel";
  SmallVector<ViewPlan> bindings;
  SmallVector<std::optional<Affine>> indexOperands;
  // The binding of each tensor operand.
  DenseMap<unsigned, unsigned> bindingOf;
  for (OpOperand &use : op->getOpOperands()) {
    Value operand = use.get();
    if (operand.getType().isIndex()) {
      FailureOr<Affine> v = getIndex(operand, op);
      if (failed(v))
        return failure();
      indexOperands.push_back(*v);
      continue;
    }
    FailureOr<ViewPlan> view = getView(operand, op);
    if (failed(view))
      return failure();
    if (view->strides.back() != 1)
      return op->emitOpError() << "reads a view whose last axis is strided";
    bindingOf[use.getOperandNumber()] = bindings.size();
    bindings.push_back(*view);
    indexOperands.push_back(std::nullopt);
  }
  // Results written into their operand's buffer, which no later op may read
  // as it was.
  SmallVector<unsigned> updates;
  for (auto [result, operand] : inPlace) {
    if (!operand->get().hasOneUse())
      return op->emitOpError()
             << "updates operand #" << operand->getOperandNumber()
             << " in place, but it is also read elsewhere; read result #"
             << result.getResultNumber() << " instead";
    updates.push_back(bindingOf[operand->getOperandNumber()]);
  }
  if (auto cached = dyn_cast<CachedAttentionOp>(op))
    if (failed(checkCacheBounds(cached, program)))
      return failure();

  auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
  SmallVector<Affine> sizes;
  SmallVector<std::pair<int64_t, int64_t>> sources = getResultSizeSources(op);
  SmallVector<Value> tensorOperands = llvm::to_vector(llvm::make_filter_range(
      op->getOperands(), [](Value v) { return isa<RankedTensorType>(v.getType()); }));
  for (int64_t axis = 0; axis < resultType.getRank(); ++axis) {
    if (!resultType.isDynamicDim(axis)) {
      sizes.push_back(Affine::constant(resultType.getDimSize(axis)));
      continue;
    }
    auto [operand, operandAxis] = sources[axis];
    if (operand < 0)
      return op->emitOpError() << "has a dynamic result size the planner "
                                  "cannot derive";
    sizes.push_back(views[tensorOperands[operand]].sizes[operandAxis]);
  }
  // A result only a merge_heads reads is written in the merged layout,
  // [seq, heads * head_dim], through a [heads, seq, head_dim] view.
  Value resultValue = op->getResult(0);
  auto merge = resultValue.hasOneUse()
                   ? dyn_cast<MergeHeadsOp>(*resultValue.getUsers().begin())
                   : MergeHeadsOp();
  unsigned buffer;
  ViewPlan result;
  if (merge && resultType.getRank() == 3 && !resultType.isDynamicDim(0) &&
      !resultType.isDynamicDim(2)) {
    // heads * head_dim, static here even where the merge's type says `?`.
    Affine width = Affine::constant(resultType.getDimSize(0) *
                                    resultType.getDimSize(2));
    buffer = allocateScratch(merge.getType(), {sizes[1], width}, opIndex);
    result = headsView(wholeView(buffer, {sizes[1], width}),
                       resultType.getDimSize(0), resultType.getDimSize(2));
    mergedBuffers[merge] = buffer;
  } else {
    buffer = allocateScratch(resultType, sizes, opIndex);
    result = wholeView(buffer, sizes);
  }
  bindings.push_back(result);
  unsigned kernel =
      getOrCreateKernel(op, op->getOperands(), *spec, bindings, indexOperands);
  program.dispatches.push_back(
      {kernel, bindings, static_cast<unsigned>(spec->resultAxis), updates});
  views[op->getResult(0)] = result;
  // An updated operand's buffer lives as long as the result that stands
  // for it (a KV cache lives anyway; a scratch operand must not be reused).
  for (auto [update, pair] : llvm::zip_equal(updates, inPlace)) {
    const ViewPlan &view = bindings[update];
    views[pair.first] = view;
    auto use = lastUse.find(pair.first);
    keepAlive(busyUntil, plan.buffers[view.buffer], view.buffer,
              use == lastUse.end() ? opIndex : use->second);
  }
  auto it = lastUse.find(op->getResult(0));
  keepAlive(busyUntil, plan.buffers[buffer], buffer,
            it == lastUse.end() ? opIndex : it->second);
  return success();
}

ViewPlan Planner::headsView(const ViewPlan &source, int64_t heads,
                            int64_t headDim) {
  // Element (h, s, d) is source element (s, h * headDim + d).
  ViewPlan view;
  view.buffer = source.buffer;
  view.offset = source.offset;
  view.sizes = {Affine::constant(heads), source.sizes[0],
                Affine::constant(headDim)};
  view.strides = {headDim, source.strides[0], 1};
  return view;
}

//===----------------------------------------------------------------------===//
// Kernels
//===----------------------------------------------------------------------===//

MemRefType Planner::getBindingType(const ViewPlan &view,
                                   Type elementType) const {
  SmallVector<int64_t> shape;
  for (const Affine &size : view.sizes)
    shape.push_back(size.isConstant() ? size.c : ShapedType::kDynamic);
  auto layout = StridedLayoutAttr::get(elementType.getContext(), /*offset=*/0,
                                       view.strides);
  return MemRefType::get(shape, elementType, layout);
}

/// `value` (affine in S and T) as an index computed from the kernel's S and T.
static Value materialize(OpBuilder &b, Location loc, const Affine &value,
                         Value S, Value T) {
  Value result = arith::ConstantIndexOp::create(b, loc, value.c);
  auto addScaled = [&](Value symbol, int64_t k) {
    if (k == 0)
      return;
    Value term = k == 1 ? symbol
                        : arith::MulIOp::create(
                              b, loc, symbol,
                              arith::ConstantIndexOp::create(b, loc, k));
    result = arith::AddIOp::create(b, loc, result, term);
  };
  addScaled(S, value.s);
  addScaled(T, value.t);
  return result;
}

/// `source` restricted to [begin, begin + count) along `axis`.
static Value sliceTensor(OpBuilder &b, Location loc, Value source,
                         int64_t axis, Value begin, Value count) {
  auto type = cast<RankedTensorType>(source.getType());
  SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, source);
  SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
  offsets[axis] = begin;
  sizes[axis] = count;
  return tensor::ExtractSliceOp::create(b, loc, source, offsets, sizes, strides);
}

/// The largest power of two, at most kMaxOffsetAlignment, that divides the
/// byte offset of a view at `offset` elements of `elementBytes` for every S
/// and T: the gcd of its coefficients' powers of two.
static int64_t getOffsetAlignment(const Affine &offset, int64_t elementBytes) {
  constexpr int64_t kMaxOffsetAlignment = 256;
  int64_t alignment = kMaxOffsetAlignment;
  for (int64_t coefficient : {offset.s, offset.t, offset.c})
    if (coefficient != 0)
      alignment = std::min<int64_t>(
          alignment, int64_t{1} << llvm::countr_zero(static_cast<uint64_t>(
                         coefficient * elementBytes)));
  return alignment;
}

unsigned Planner::getOrCreateKernel(
    Operation *op, ValueRange operands, const SplitSpec &spec,
    ArrayRef<ViewPlan> bindings,
    ArrayRef<std::optional<Affine>> indexOperands) {
  MLIRContext *ctx = op->getContext();
  Location loc = op->getLoc();
  OpBuilder &b = kernelBuilder;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(kernels->getBody());

  Type elementType = getElementTypeOrSelf(op->getResult(0).getType());
  SmallVector<MemRefType> bindingTypes;
  SmallVector<Type> argTypes;
  size_t tensorIndex = 0;
  for (Value operand : operands) {
    if (operand.getType().isIndex())
      continue;
    bindingTypes.push_back(getBindingType(
        bindings[tensorIndex++], getElementTypeOrSelf(operand.getType())));
  }
  bindingTypes.push_back(getBindingType(bindings.back(), elementType));
  argTypes.append(bindingTypes.begin(), bindingTypes.end());
  Type indexType = b.getIndexType();
  argTypes.append(4, indexType);

  auto func = func::FuncOp::create(b, loc, "kernel",
                                   b.getFunctionType(argTypes, {}));
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  unsigned numBindings = bindingTypes.size();
  // What every dispatch of the kernel guarantees (the alignment is part of
  // the body, so kernels of differently aligned bindings are not shared).
  for (auto [i, type] : llvm::enumerate(bindingTypes))
    func.setArgAttr(
        i, AttnDialect::getAlignmentAttrName(),
        b.getI64IntegerAttr(getOffsetAlignment(
            bindings[i].offset, llvm::divideCeil(type.getElementTypeBitWidth(), 8))));
  Value S = entry->getArgument(numBindings), T = entry->getArgument(numBindings + 1);
  Value begin = entry->getArgument(numBindings + 2);
  Value count = arith::SubIOp::create(b, loc, entry->getArgument(numBindings + 3),
                                      begin);

  // The op applied to this range of work items, on tensors. An operand
  // updated in place is writable, so that bufferization writes the update
  // into its binding; `updated` maps it to that binding and its split axis.
  SmallVector<std::pair<OpResult, OpOperand *>> inPlace =
      getInPlaceResults(op);
  DenseMap<Value, std::pair<unsigned, int64_t>> updated;
  for (auto [result, operand] : inPlace)
    updated[operand->get()] = {};
  IRMapping mapping;
  tensorIndex = 0;
  for (auto [operand, indexValue] : llvm::zip_equal(operands, indexOperands)) {
    if (indexValue) {
      mapping.map(operand, materialize(b, loc, *indexValue, S, T));
      continue;
    }
    unsigned argIndex = tensorIndex;
    auto memrefType = bindingTypes[argIndex];
    auto it = updated.find(operand);
    Value tensor = bufferization::ToTensorOp::create(
        b, loc, RankedTensorType::get(memrefType.getShape(), memrefType.getElementType()),
        entry->getArgument(argIndex), /*restrict=*/true,
        /*writable=*/it != updated.end());
    int64_t axis = spec.operandAxes[tensorIndex++];
    if (it != updated.end())
      it->second = {argIndex, axis};
    mapping.map(operand,
                axis < 0 ? tensor : sliceTensor(b, loc, tensor, axis, begin, count));
  }
  Value result;
  if (isa<KVCacheWriteOp>(op)) {
    // A cache write is a copy of the rows into the cache's view.
    result = mapping.lookup(cast<KVCacheWriteOp>(op).getRows());
  } else {
    Operation *clone = b.clone(*op, mapping);
    auto type = cast<RankedTensorType>(op->getResult(0).getType());
    Type newType;
    if (isa<GeluOp, ScaleOp, SoftmaxOp, LayerNormOp, AddOp, CausalMaskOp,
            MaskedSoftmaxOp>(op)) {
      // The result has the type of the first input: keep that relation.
      newType = mapping.lookup(op->getOperand(0)).getType();
    } else {
      SmallVector<int64_t> shape(type.getShape());
      shape[spec.resultAxis] = ShapedType::kDynamic;
      newType = RankedTensorType::get(shape, elementType);
    }
    clone->getResult(0).setType(newType);
    result = clone->getResult(0);
    for (auto [inPlaceResult, operand] : inPlace)
      clone->getResult(inPlaceResult.getResultNumber())
          .setType(mapping.lookup(operand->get()).getType());
  }
  // `value` stored into the range [begin, end) along `axis` of binding
  // `argIndex`. An in-place result's store is a copy of the binding onto
  // itself once bufferized, which canonicalization erases.
  auto store = [&](Value value, unsigned argIndex, int64_t axis) {
    Value target = entry->getArgument(argIndex);
    int64_t rank = bindingTypes[argIndex].getRank();
    SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes = memref::getMixedSizes(b, loc, target);
    SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
    offsets[axis] = begin;
    sizes[axis] = count;
    Value slice =
        memref::SubViewOp::create(b, loc, target, offsets, sizes, strides);
    auto materializeOp =
        bufferization::MaterializeInDestinationOp::create(b, loc, value, slice);
    materializeOp.setRestrict(true);
    materializeOp.setWritable(true);
  };
  store(result, numBindings - 1, spec.resultAxis);
  if (!inPlace.empty()) {
    Operation *clone = result.getDefiningOp();
    for (auto [inPlaceResult, operand] : inPlace) {
      auto [argIndex, axis] = updated.lookup(operand->get());
      store(clone->getResult(inPlaceResult.getResultNumber()), argIndex, axis);
    }
  }
  func::ReturnOp::create(b, loc);

  // Identical kernels (the same op on the same shapes in every layer) share
  // one function.
  std::string key;
  llvm::raw_string_ostream os(key);
  func.print(os, OpPrintingFlags().printGenericOpForm().elideLargeElementsAttrs());
  auto [it, inserted] = kernelsByBody.try_emplace(key, plan.kernelNames.size());
  if (!inserted) {
    func.erase();
    return it->second;
  }
  std::string name = "k" + std::to_string(plan.kernelNames.size()) + "_" +
                     op->getName().stripDialect().str();
  func.setSymName(name + "_impl");
  func.setPrivate();
  buildEntryWrapper(func, bindingTypes);
  plan.kernelNames.push_back(name);
  (void)ctx;
  return it->second;
}

/// The C entry point of kernel_abi.h: reads each attn_memref
/// { void *data; int64_t sizes[4]; int64_t strides[4]; } into a memref
/// descriptor and calls the kernel.
void Planner::buildEntryWrapper(func::FuncOp impl,
                                ArrayRef<MemRefType> types) {
  MLIRContext *ctx = impl.getContext();
  Location loc = impl.getLoc();
  OpBuilder b(ctx);
  b.setInsertionPointAfter(impl);
  auto ptrType = LLVM::LLVMPointerType::get(ctx);
  Type i64 = b.getI64Type();
  StringRef implName = impl.getSymName();
  auto wrapper = func::FuncOp::create(
      b, loc, implName.drop_back(strlen("_impl")),
      b.getFunctionType({ptrType, i64, i64, i64, i64}, {}));
  Block *entry = wrapper.addEntryBlock();
  b.setInsertionPointToStart(entry);
  SmallVector<Value> args;
  for (auto [i, type] : llvm::enumerate(types))
    args.push_back(
        loadKernelBinding(b, loc, entry->getArgument(0), i, type));
  for (unsigned i = 1; i <= 4; ++i)
    args.push_back(arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                              entry->getArgument(i)));
  func::CallOp::create(b, loc, impl, args);
  func::ReturnOp::create(b, loc);
}

FailureOr<ModelPlan> mlir::attn::buildModelPlan(ModuleOp programs,
                                                int64_t contextLength) {
  Planner planner(programs, contextLength);
  for (StringRef name : {"prefill", "decode"}) {
    auto func = programs.lookupSymbol<func::FuncOp>(name);
    if (!func)
      return programs.emitError() << "has no '" << name << "' function";
    if (failed(planner.planProgram(func)))
      return failure();
  }
  return FailureOr<ModelPlan>(planner.takePlan());
}

Value mlir::attn::buildMemRefDescriptor(OpBuilder &b, Location loc, Value data,
                                        MemRefType type,
                                        function_ref<Value(int64_t)> size) {
  MLIRContext *ctx = b.getContext();
  auto ptrType = LLVM::LLVMPointerType::get(ctx);
  Type i64 = b.getI64Type();
  auto constant = [&](int64_t v) -> Value {
    return LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(v));
  };
  int64_t rank = type.getRank();
  auto arrayType = LLVM::LLVMArrayType::get(i64, rank);
  auto descriptorType = LLVM::LLVMStructType::getLiteral(
      ctx, {ptrType, ptrType, i64, arrayType, arrayType});
  Value descriptor = LLVM::UndefOp::create(b, loc, descriptorType);
  descriptor = LLVM::InsertValueOp::create(b, loc, descriptor, data,
                                           ArrayRef<int64_t>{0});
  descriptor = LLVM::InsertValueOp::create(b, loc, descriptor, data,
                                           ArrayRef<int64_t>{1});
  descriptor = LLVM::InsertValueOp::create(b, loc, descriptor, constant(0),
                                           ArrayRef<int64_t>{2});
  auto [strides, offset] = type.getStridesAndOffset();
  (void)offset;
  for (int64_t axis = 0; axis < rank; ++axis) {
    assert(!ShapedType::isDynamic(strides[axis]) && "plan strides are constant");
    Value extent = type.isDynamicDim(axis) ? size(axis)
                                           : constant(type.getDimSize(axis));
    descriptor = LLVM::InsertValueOp::create(b, loc, descriptor, extent,
                                             ArrayRef<int64_t>{3, axis});
    descriptor =
        LLVM::InsertValueOp::create(b, loc, descriptor, constant(strides[axis]),
                                    ArrayRef<int64_t>{4, axis});
  }
  return UnrealizedConversionCastOp::create(b, loc, type, descriptor)
      .getResult(0);
}

Value mlir::attn::loadKernelBinding(OpBuilder &b, Location loc, Value bindings,
                                    int64_t index, MemRefType type) {
  // Fields of attn_memref, counted in 8-byte words: data, sizes[4],
  // strides[4].
  constexpr int64_t kMaxRank = 4, kWords = 1 + 2 * kMaxRank;
  auto ptrType = LLVM::LLVMPointerType::get(b.getContext());
  Type i64 = b.getI64Type();
  auto word = [&](int64_t field) -> Value {
    return LLVM::GEPOp::create(b, loc, ptrType, i64, bindings,
                               ArrayRef<LLVM::GEPArg>{index * kWords + field});
  };
  Value data = LLVM::LoadOp::create(b, loc, ptrType, word(0));
  return buildMemRefDescriptor(b, loc, data, type, [&](int64_t axis) -> Value {
    return LLVM::LoadOp::create(b, loc, i64, word(1 + axis));
  });
}
