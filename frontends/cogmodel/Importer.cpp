//===- Importer.cpp - CogModel checkpoints to attn IR ---------------------===//
//
// The seed's CogModel, per token block of S new tokens after T cached ones:
//   x = embed(tokens) + pe[0]            (positional "seed": pe[:batch])
//     or embed(tokens) + pe[T : T + S]   (positional "per_position")
//   per layer:  x = x + norm1(softmax(mask(Q·Kᵀ, -1e9)) · V)   (no scale)
//   logits = decoder(norm(x[S - 1]))
//
//===----------------------------------------------------------------------===//

#include "frontends/cogmodel/Importer.h"

#include "dialects/attn/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

struct CogModelConfig {
  int64_t vocabSize, dModel, nLayers, maxLen, contextLength, stopToken;
  bool perPosition;
  double layerNormEps, finalNormEps, maskFill;
};

/// One expected checkpoint tensor.
struct WeightSpec {
  std::string name;
  SmallVector<int64_t> shape;
};

class ProgramBuilder {
public:
  ProgramBuilder(OpBuilder &b, const CogModelConfig &config,
                 ArrayRef<WeightSpec> weights)
      : b(b), loc(b.getUnknownLoc()), config(config), weights(weights) {}

  /// Builds `name` taking S = `staticS` tokens (0: dynamic).
  func::FuncOp build(StringRef name, int64_t staticS);

private:
  Value weight(StringRef name) { return weightArgs.lookup(name); }
  RankedTensorType tensor(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, b.getF32Type());
  }
  Value linear(Value x, const Twine &prefix);

  OpBuilder &b;
  Location loc;
  const CogModelConfig &config;
  ArrayRef<WeightSpec> weights;
  llvm::StringMap<Value> weightArgs;
};

} // namespace

Value ProgramBuilder::linear(Value x, const Twine &prefix) {
  int64_t d = config.dModel;
  return LinearOp::create(b, loc, tensor({ShapedType::kDynamic, d}), x,
                          weight((prefix + ".weight").str()),
                          weight((prefix + ".bias").str()),
                          WeightLayout::out_in);
}

func::FuncOp ProgramBuilder::build(StringRef name, int64_t staticS) {
  int64_t d = config.dModel, L = config.contextLength;
  int64_t dyn = ShapedType::kDynamic;
  auto cacheType = tensor({1, L, d});
  SmallVector<Type> argTypes = {
      RankedTensorType::get({staticS ? staticS : dyn}, b.getI32Type()),
      b.getIndexType()};
  for (const WeightSpec &w : weights)
    argTypes.push_back(tensor(w.shape));
  argTypes.append(2 * config.nLayers, cacheType);
  SmallVector<Type> resultTypes = {tensor({1, config.vocabSize})};
  resultTypes.append(2 * config.nLayers, cacheType);

  auto func = func::FuncOp::create(b, loc, name,
                                   b.getFunctionType(argTypes, resultTypes));
  Block *entry = func.addEntryBlock();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(entry);
  weightArgs.clear();
  unsigned argIndex = 2;
  for (const WeightSpec &w : weights) {
    func.setArgAttr(argIndex, AttnDialect::getWeightAttrName(),
                    b.getStringAttr(w.name));
    weightArgs[w.name] = entry->getArgument(argIndex++);
  }
  SmallVector<Value> caches;
  for (int64_t layer = 0; layer < config.nLayers; ++layer)
    for (StringRef kv : {"k", "v"}) {
      func.setArgAttr(argIndex, AttnDialect::getKVCacheAttrName(),
                      b.getStringAttr("layers." + Twine(layer) + "." + kv));
      caches.push_back(entry->getArgument(argIndex++));
    }

  Value tokens = entry->getArgument(0), T = entry->getArgument(1);
  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  Value S = tensor::DimOp::create(b, loc, tokens, c0);
  Value x = EmbeddingOp::create(b, loc, tensor({dyn, d}), weight("embed.weight"),
                                tokens);

  // The seed adds pe[:x.size(0)], where x.size(0) is the batch size: with
  // batch 1 every position gets row 0.
  Value pe = weight("pos_encoder.pe");
  Value peRows;
  SmallVector<OpFoldResult> unit = {b.getIndexAttr(1), b.getIndexAttr(1),
                                    b.getIndexAttr(1)};
  if (config.perPosition)
    peRows = tensor::ExtractSliceOp::create(
        b, loc, tensor({dyn, d}), pe,
        ArrayRef<OpFoldResult>{T, b.getIndexAttr(0), b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{S, b.getIndexAttr(1), b.getIndexAttr(d)}, unit);
  else
    peRows = tensor::ExtractSliceOp::create(
        b, loc, tensor({1, d}), pe,
        ArrayRef<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(0),
                               b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1),
                               b.getIndexAttr(d)},
        unit);
  x = AddOp::create(b, loc, x, peRows);

  Value length = arith::AddIOp::create(b, loc, T, S);
  auto headsType = tensor({1, dyn, d});
  SmallVector<Value> newCaches;
  for (int64_t layer = 0; layer < config.nLayers; ++layer) {
    std::string prefix = "layers." + std::to_string(layer);
    std::string attn = prefix + ".self_attn";
    Value q = SplitHeadsOp::create(b, loc, headsType, linear(x, attn + ".q_layer"));
    Value k = SplitHeadsOp::create(b, loc, headsType, linear(x, attn + ".k_layer"));
    Value v = SplitHeadsOp::create(b, loc, headsType, linear(x, attn + ".v_layer"));
    Value kCache = KVCacheWriteOp::create(b, loc, caches[2 * layer], k, T);
    Value vCache = KVCacheWriteOp::create(b, loc, caches[2 * layer + 1], v, T);
    newCaches.append({kCache, vCache});
    Value keys = KVCacheReadOp::create(b, loc, headsType, kCache, length);
    Value values = KVCacheReadOp::create(b, loc, headsType, vCache, length);
    auto scoresType = tensor({1, dyn, dyn});
    Value scores = QKScoresOp::create(b, loc, scoresType, q, keys);
    Value masked = CausalMaskOp::create(b, loc, scores, T,
                                        b.getF64FloatAttr(config.maskFill));
    Value probs = SoftmaxOp::create(b, loc, masked, b.getI64IntegerAttr(2));
    Value out = WeightedSumOp::create(b, loc, headsType, probs, values);
    Value merged = MergeHeadsOp::create(b, loc, tensor({dyn, d}), out);
    Value normed = LayerNormOp::create(b, loc, merged, weight(prefix + ".norm1.w"),
                                       weight(prefix + ".norm1.b"),
                                       config.layerNormEps);
    x = AddOp::create(b, loc, x, normed);
  }

  // Only the last position's logits are needed to generate.
  Value lastRow = arith::SubIOp::create(b, loc, S, c1);
  Value last = tensor::ExtractSliceOp::create(
      b, loc, tensor({1, d}), x,
      ArrayRef<OpFoldResult>{lastRow, b.getIndexAttr(0)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(d)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
  Value normed = LayerNormOp::create(b, loc, last, weight("norm.weight"),
                                     weight("norm.bias"), config.finalNormEps);
  Value logits = LinearOp::create(b, loc, tensor({1, config.vocabSize}), normed,
                                  weight("decoder.weight"),
                                  weight("decoder.bias"), WeightLayout::out_in);
  SmallVector<Value> results = {logits};
  results.append(newCaches);
  func::ReturnOp::create(b, loc, results);
  return func;
}

/// The seed's state_dict for `config`.
static std::vector<WeightSpec> expectedWeights(const CogModelConfig &config) {
  int64_t v = config.vocabSize, d = config.dModel;
  std::vector<WeightSpec> weights = {{"embed.weight", {v, d}},
                                     {"pos_encoder.pe", {config.maxLen, 1, d}}};
  for (int64_t layer = 0; layer < config.nLayers; ++layer) {
    std::string prefix = "layers." + std::to_string(layer);
    for (StringRef proj : {"q_layer", "k_layer", "v_layer"}) {
      std::string p = prefix + ".self_attn." + proj.str();
      weights.push_back({p + ".weight", {d, d}});
      weights.push_back({p + ".bias", {d}});
    }
    weights.push_back({prefix + ".norm1.w", {d}});
    weights.push_back({prefix + ".norm1.b", {d}});
  }
  weights.push_back({"norm.weight", {d}});
  weights.push_back({"norm.bias", {d}});
  weights.push_back({"decoder.weight", {v, d}});
  weights.push_back({"decoder.bias", {v}});
  return weights;
}

static std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, dim] : llvm::enumerate(shape))
    s += (i ? ", " : "") + std::to_string(dim);
  return s + "]";
}

/// Reads vocab.json: {"token": id, ...} with ids dense from 0.
static llvm::Expected<std::vector<std::string>>
readVocab(StringRef path, int64_t vocabSize) {
  llvm::Expected<Config> file = Config::read(path);
  if (!file)
    return file.takeError();
  std::vector<std::string> vocab(file->object().size());
  for (const auto &[token, idValue] : file->object()) {
    std::optional<int64_t> id = idValue.getAsInteger();
    if (!id || *id < 0 || *id >= static_cast<int64_t>(vocab.size()) ||
        !vocab[*id].empty())
      return file->error("token '" + token.str() +
                         "' needs a unique id in [0, " +
                         llvm::Twine(vocab.size()) + ")");
    vocab[*id] = token.str();
  }
  if (static_cast<int64_t>(vocab.size()) != vocabSize)
    return file->error("holds " + llvm::Twine(vocab.size()) +
                       " tokens but config.json says vocab_size " +
                       llvm::Twine(vocabSize));
  return vocab;
}

llvm::Expected<ImportedModel>
mlir::attn::importCogModel(MLIRContext &context, StringRef dir,
                           const Config &config, const ImportOptions &options) {
  CogModelConfig c;
  auto readInt = [&](StringRef key, int64_t &out) -> llvm::Error {
    llvm::Expected<int64_t> v = config.getInt(key);
    if (!v)
      return v.takeError();
    out = *v;
    return llvm::Error::success();
  };
  if (llvm::Error err = readInt("vocab_size", c.vocabSize))
    return std::move(err);
  if (llvm::Error err = readInt("d_model", c.dModel))
    return std::move(err);
  if (llvm::Error err = readInt("n_layers", c.nLayers))
    return std::move(err);
  if (llvm::Error err = readInt("max_len", c.maxLen))
    return std::move(err);
  llvm::Expected<int64_t> stop = config.getInt("stop_token_id", 0, 0);
  llvm::Expected<std::string> positional = config.getString("positional");
  llvm::Expected<double> lnEps = config.getNumber("layer_norm_eps", 1e-6);
  llvm::Expected<double> finalEps = config.getNumber("final_norm_eps", 1e-5);
  llvm::Expected<double> fill = config.getNumber("mask_fill", -1e9);
  if (!stop)
    return stop.takeError();
  if (!positional)
    return positional.takeError();
  if (!lnEps)
    return lnEps.takeError();
  if (!finalEps)
    return finalEps.takeError();
  if (!fill)
    return fill.takeError();
  if (*positional != "seed" && *positional != "per_position")
    return config.error("'positional' must be \"seed\" or \"per_position\", got \"" +
                        *positional + "\"");
  c.stopToken = *stop;
  c.perPosition = *positional == "per_position";
  c.layerNormEps = *lnEps;
  c.finalNormEps = *finalEps;
  c.maskFill = *fill;
  c.contextLength = c.maxLen;
  if (options.contextLength > 0)
    c.contextLength = std::min(c.maxLen, options.contextLength);
  if (c.stopToken >= c.vocabSize)
    return config.error("'stop_token_id' " + llvm::Twine(c.stopToken) +
                        " is outside the vocabulary");

  llvm::Expected<std::unique_ptr<Checkpoint>> checkpoint =
      openModelCheckpoint(dir);
  if (!checkpoint)
    return checkpoint.takeError();
  StringRef weightsPath = (*checkpoint)->path();
  std::vector<WeightSpec> weights = expectedWeights(c);
  for (const WeightSpec &w : weights) {
    const TensorInfo *info = (*checkpoint)->lookup(w.name);
    auto fail = [&](const Twine &what) {
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     weightsPath + ": tensor '" + w.name +
                                         "' " + what);
    };
    if (!info)
      return fail("is missing");
    if (ArrayRef<int64_t>(info->shape) != ArrayRef<int64_t>(w.shape))
      return fail("has shape " + shapeString(info->shape) + " but config.json "
                  "implies " + shapeString(w.shape));
    if (info->dtype != DType::F32 && info->dtype != DType::F16 &&
        info->dtype != DType::BF16)
      return fail("has dtype " + getDTypeName(info->dtype) +
                  "; expected F32, F16 or BF16");
  }

  SmallString<256> vocabPath(dir);
  llvm::sys::path::append(vocabPath, "vocab.json");
  llvm::Expected<std::vector<std::string>> vocab =
      readVocab(vocabPath, c.vocabSize);
  if (!vocab)
    return vocab.takeError();

  context.loadDialect<AttnDialect, arith::ArithDialect, func::FuncDialect,
                      tensor::TensorDialect>();
  OpBuilder b(&context);
  ImportedModel model;
  model.module = ModuleOp::create(b.getUnknownLoc());
  b.setInsertionPointToEnd(model.module->getBody());
  ProgramBuilder programs(b, c, weights);
  programs.build("prefill", /*staticS=*/0);
  programs.build("decode", /*staticS=*/1);
  if (failed(verify(*model.module)))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "%s: the imported program does not verify",
                                   dir.str().c_str());

  model.checkpoint = std::move(*checkpoint);
  ModelSpec &spec = model.spec;
  spec.modelType = "cogmodel";
  spec.vocabSize = c.vocabSize;
  spec.contextLength = c.contextLength;
  spec.dModel = c.dModel;
  spec.nLayers = c.nLayers;
  spec.nHeads = 1;
  spec.stopToken = c.stopToken;
  spec.configJson = config.text().str();
  spec.tokenizer.kind = TokenizerSpec::Kind::Words;
  spec.tokenizer.vocab = std::move(*vocab);
  return model;
}
