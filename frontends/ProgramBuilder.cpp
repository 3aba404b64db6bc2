//===- ProgramBuilder.cpp - pieces shared by the importers ----------------===//

#include "frontends/ProgramBuilder.h"

#include "dialects/attn/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Verifier.h"

using namespace mlir;
using namespace mlir::attn;

static constexpr int64_t kDynamic = ShapedType::kDynamic;

std::string mlir::attn::shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, dim] : llvm::enumerate(shape))
    s += (i ? ", " : "") + std::to_string(dim);
  return s + "]";
}

llvm::Error mlir::attn::checkWeights(const Checkpoint &checkpoint,
                                     ArrayRef<WeightSpec> weights,
                                     const ImportOptions &options) {
  // The artifact writer recognizes a safetensors file by its name.
  if (options.externalWeights && !checkpoint.path().ends_with(".safetensors"))
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "--weights=external reads safetensors files, not " + checkpoint.path() +
            "; embed the weights instead (the default)");
  for (const WeightSpec &w : weights) {
    const TensorInfo *info = checkpoint.lookup(w.name);
    auto fail = [&](const Twine &what) {
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     checkpoint.path() + ": tensor '" + w.name +
                                         "' " + what);
    };
    if (!info)
      return fail("is missing");
    if (ArrayRef<int64_t>(info->shape) != ArrayRef<int64_t>(w.shape))
      return fail("has shape " + shapeString(info->shape) +
                  " but config.json implies " + shapeString(w.shape));
    if (info->dtype != DType::F32 && info->dtype != DType::F16 &&
        info->dtype != DType::BF16)
      return fail("has dtype " + getDTypeName(info->dtype) +
                  "; expected F32, F16 or BF16");
    if (options.externalWeights && info->dtype != DType::F32)
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "--weights=external reads f32 tensors: '" + w.name + "' in " +
              checkpoint.path() + " is " + getDTypeName(info->dtype) +
              "; embed the weights instead (the default)");
  }
  return llvm::Error::success();
}

static RankedTensorType f32Tensor(OpBuilder &b, ArrayRef<int64_t> shape) {
  return RankedTensorType::get(shape, b.getF32Type());
}

Program mlir::attn::createProgram(OpBuilder &b, StringRef name,
                                  int64_t staticS,
                                  ArrayRef<WeightSpec> weights,
                                  int64_t numLayers, int64_t heads,
                                  int64_t context, int64_t headDim,
                                  int64_t vocab,
                                  ImportOptions::MatrixType matrixType) {
  Location loc = b.getUnknownLoc();
  Type matrixElement = b.getF32Type();
  if (matrixType == ImportOptions::MatrixType::F16)
    matrixElement = b.getF16Type();
  else if (matrixType == ImportOptions::MatrixType::BF16)
    matrixElement = b.getBF16Type();
  auto cacheType = f32Tensor(b, {heads, context, headDim});
  SmallVector<Type> argTypes = {
      RankedTensorType::get({staticS ? staticS : kDynamic}, b.getI32Type()),
      b.getIndexType()};
  for (const WeightSpec &w : weights)
    argTypes.push_back(RankedTensorType::get(
        w.shape, w.matrix ? matrixElement : b.getF32Type()));
  argTypes.append(2 * numLayers, cacheType);
  SmallVector<Type> resultTypes = {f32Tensor(b, {1, vocab})};
  resultTypes.append(2 * numLayers, cacheType);

  Program program;
  program.func = func::FuncOp::create(b, loc, name,
                                      b.getFunctionType(argTypes, resultTypes));
  Block *entry = program.func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  unsigned argIndex = 2;
  for (const WeightSpec &w : weights) {
    program.func.setArgAttr(argIndex, AttnDialect::getWeightAttrName(),
                            b.getStringAttr(w.name));
    program.weights[w.name] = entry->getArgument(argIndex++);
  }
  for (int64_t layer = 0; layer < numLayers; ++layer)
    for (StringRef kv : {"k", "v"}) {
      program.func.setArgAttr(
          argIndex, AttnDialect::getKVCacheAttrName(),
          b.getStringAttr("layers." + Twine(layer) + "." + kv));
      program.caches.push_back(entry->getArgument(argIndex++));
    }
  program.tokens = entry->getArgument(0);
  program.past = entry->getArgument(1);
  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  program.numNew = tensor::DimOp::create(b, loc, program.tokens, c0);
  program.length =
      arith::AddIOp::create(b, loc, program.past, program.numNew);
  return program;
}

void mlir::attn::finishProgram(OpBuilder &b, Program &program, Value logits,
                               ValueRange newCaches) {
  SmallVector<Value> results = {logits};
  results.append(newCaches.begin(), newCaches.end());
  func::ReturnOp::create(b, b.getUnknownLoc(), results);
}

Value mlir::attn::buildCausalAttention(OpBuilder &b, Location loc,
                                       Program &program, int64_t layer,
                                       Value q, Value k, Value v,
                                       int64_t heads, double scale,
                                       double fill,
                                       SmallVectorImpl<Value> &newCaches) {
  auto hiddenType = cast<RankedTensorType>(q.getType());
  int64_t hidden = hiddenType.getDimSize(1), headDim = hidden / heads;
  auto headsType = f32Tensor(b, {heads, kDynamic, headDim});
  Value qh = SplitHeadsOp::create(b, loc, headsType, q);
  Value kh = SplitHeadsOp::create(b, loc, headsType, k);
  Value vh = SplitHeadsOp::create(b, loc, headsType, v);
  Value T = program.past;
  Value kCache =
      KVCacheWriteOp::create(b, loc, program.caches[2 * layer], kh, T);
  Value vCache =
      KVCacheWriteOp::create(b, loc, program.caches[2 * layer + 1], vh, T);
  newCaches.append({kCache, vCache});
  Value keys = KVCacheReadOp::create(b, loc, headsType, kCache, program.length);
  Value values =
      KVCacheReadOp::create(b, loc, headsType, vCache, program.length);
  Value scores = QKScoresOp::create(b, loc, f32Tensor(b, {heads, kDynamic, kDynamic}),
                                    qh, keys);
  if (scale != 1.0)
    scores = ScaleOp::create(b, loc, scores, b.getF64FloatAttr(scale));
  Value masked =
      CausalMaskOp::create(b, loc, scores, T, b.getF64FloatAttr(fill));
  Value probs = SoftmaxOp::create(b, loc, masked, b.getI64IntegerAttr(2));
  Value out = WeightedSumOp::create(b, loc, headsType, probs, values);
  return MergeHeadsOp::create(b, loc, f32Tensor(b, {kDynamic, hidden}), out);
}

Value mlir::attn::lastRow(OpBuilder &b, Location loc, Program &program,
                          Value hidden) {
  int64_t d = cast<RankedTensorType>(hidden.getType()).getDimSize(1);
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  Value last = arith::SubIOp::create(b, loc, program.numNew, c1);
  return tensor::ExtractSliceOp::create(
      b, loc, f32Tensor(b, {1, d}), hidden,
      ArrayRef<OpFoldResult>{last, b.getIndexAttr(0)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(d)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
}

Value mlir::attn::positionRows(OpBuilder &b, Location loc, Program &program,
                               Value table) {
  auto type = cast<RankedTensorType>(table.getType());
  int64_t rank = type.getRank(), d = type.getDimSize(rank - 1);
  SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes(rank, b.getIndexAttr(1));
  SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
  offsets[0] = program.past;
  sizes[0] = program.numNew;
  sizes[rank - 1] = b.getIndexAttr(d);
  return tensor::ExtractSliceOp::create(b, loc, f32Tensor(b, {kDynamic, d}),
                                        table, offsets, sizes, strides);
}

llvm::Expected<OwningOpRef<ModuleOp>> mlir::attn::buildPrograms(
    MLIRContext &context, llvm::StringRef dir,
    llvm::function_ref<void(OpBuilder &, StringRef, int64_t)> build) {
  context.loadDialect<AttnDialect, arith::ArithDialect, func::FuncDialect,
                      tensor::TensorDialect>();
  OpBuilder b(&context);
  OwningOpRef<ModuleOp> module = ModuleOp::create(b.getUnknownLoc());
  b.setInsertionPointToEnd(module->getBody());
  build(b, "prefill", /*staticS=*/0);
  build(b, "decode", /*staticS=*/1);
  if (failed(verify(*module)))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "%s: the imported program does not verify",
                                   dir.str().c_str());
  return module;
}
