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

#include "frontends/ProgramBuilder.h"
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
} // namespace

static Value linear(OpBuilder &b, Location loc, const Program &program,
                    Value x, int64_t out, const Twine &prefix) {
  return LinearOp::create(
      b, loc, RankedTensorType::get({ShapedType::kDynamic, out}, b.getF32Type()),
      x, program.weight((prefix + ".weight").str()),
      program.weight((prefix + ".bias").str()), WeightLayout::out_in);
}

/// Builds `name` taking S = `staticS` tokens (0: dynamic).
static void buildProgram(OpBuilder &b, StringRef name, int64_t staticS,
                         const CogModelConfig &config,
                         ArrayRef<WeightSpec> weights,
                         ImportOptions::MatrixType matrixType) {
  Location loc = b.getUnknownLoc();
  int64_t d = config.dModel;
  OpBuilder::InsertionGuard guard(b);
  Program program =
      createProgram(b, name, staticS, weights, config.nLayers, /*heads=*/1,
                    config.contextLength, d, config.vocabSize, matrixType);
  Value x = EmbeddingOp::create(
      b, loc, RankedTensorType::get({ShapedType::kDynamic, d}, b.getF32Type()),
      program.weight("embed.weight"), program.tokens, /*addend=*/Value());

  // The seed adds pe[:x.size(0)], where x.size(0) is the batch size: with
  // batch 1 every position gets row 0.
  Value pe = program.weight("pos_encoder.pe");
  Value peRows;
  if (config.perPosition) {
    peRows = positionRows(b, loc, program, pe);
  } else {
    SmallVector<OpFoldResult> zeros(3, b.getIndexAttr(0));
    SmallVector<OpFoldResult> ones(3, b.getIndexAttr(1));
    SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1), b.getIndexAttr(1),
                                       b.getIndexAttr(d)};
    peRows = tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get({1, d}, b.getF32Type()), pe, zeros,
        sizes, ones);
  }
  x = AddOp::create(b, loc, x, peRows);

  SmallVector<Value> newCaches;
  for (int64_t layer = 0; layer < config.nLayers; ++layer) {
    std::string prefix = "layers." + std::to_string(layer);
    std::string attn = prefix + ".self_attn";
    Value q = linear(b, loc, program, x, d, attn + ".q_layer");
    Value k = linear(b, loc, program, x, d, attn + ".k_layer");
    Value v = linear(b, loc, program, x, d, attn + ".v_layer");
    Value out = buildCausalAttention(b, loc, program, layer, q, k, v,
                                     /*heads=*/1, /*scale=*/1.0,
                                     config.maskFill, newCaches);
    Value normed = LayerNormOp::create(b, loc, out,
                                       program.weight(prefix + ".norm1.w"),
                                       program.weight(prefix + ".norm1.b"),
                                       config.layerNormEps);
    x = AddOp::create(b, loc, x, normed);
  }

  Value normed = LayerNormOp::create(
      b, loc, lastRow(b, loc, program, x), program.weight("norm.weight"),
      program.weight("norm.bias"), config.finalNormEps);
  Value logits = LinearOp::create(
      b, loc, RankedTensorType::get({1, config.vocabSize}, b.getF32Type()),
      normed, program.weight("decoder.weight"), program.weight("decoder.bias"),
      WeightLayout::out_in);
  finishProgram(b, program, logits, newCaches);
}

/// The seed's state_dict for `config`.
static std::vector<WeightSpec> expectedWeights(const CogModelConfig &config) {
  int64_t v = config.vocabSize, d = config.dModel;
  std::vector<WeightSpec> weights = {{"embed.weight", {v, d}, /*matrix=*/true},
                                     {"pos_encoder.pe", {config.maxLen, 1, d}}};
  for (int64_t layer = 0; layer < config.nLayers; ++layer) {
    std::string prefix = "layers." + std::to_string(layer);
    for (StringRef proj : {"q_layer", "k_layer", "v_layer"}) {
      std::string p = prefix + ".self_attn." + proj.str();
      weights.push_back({p + ".weight", {d, d}, /*matrix=*/true});
      weights.push_back({p + ".bias", {d}});
    }
    weights.push_back({prefix + ".norm1.w", {d}});
    weights.push_back({prefix + ".norm1.b", {d}});
  }
  weights.push_back({"norm.weight", {d}});
  weights.push_back({"norm.bias", {d}});
  weights.push_back({"decoder.weight", {v, d}, /*matrix=*/true});
  weights.push_back({"decoder.bias", {v}});
  return weights;
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
  llvm::Expected<double> lnEps =
      config.getPositiveNumber("layer_norm_eps", 1e-6);
  llvm::Expected<double> finalEps =
      config.getPositiveNumber("final_norm_eps", 1e-5);
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
  // A longer context would need position encodings the model lacks;
  // refusing says so, where clamping would compile something else silently.
  if (options.contextLength > c.maxLen)
    return config.error("--context-length " +
                        llvm::Twine(options.contextLength) +
                        " is more than the model's " + llvm::Twine(c.maxLen) +
                        " positions (max_len)");
  c.contextLength =
      options.contextLength > 0 ? options.contextLength : c.maxLen;
  if (c.stopToken >= c.vocabSize)
    return config.error("'stop_token_id' " + llvm::Twine(c.stopToken) +
                        " is outside the vocabulary");

  llvm::Expected<std::unique_ptr<Checkpoint>> checkpoint =
      openModelCheckpoint(dir);
  if (!checkpoint)
    return checkpoint.takeError();
  std::vector<WeightSpec> weights = expectedWeights(c);
  if (llvm::Error err = checkWeights(**checkpoint, weights, options))
    return std::move(err);

  SmallString<256> vocabPath(dir);
  llvm::sys::path::append(vocabPath, "vocab.json");
  llvm::Expected<std::vector<std::string>> vocab =
      readVocab(vocabPath, c.vocabSize);
  if (!vocab)
    return vocab.takeError();

  ImportedModel model;
  model.inputFiles = {(*checkpoint)->path().str(), vocabPath.str().str()};
  llvm::Expected<OwningOpRef<ModuleOp>> module = buildPrograms(
      context, dir, [&](OpBuilder &b, StringRef name, int64_t staticS) {
        buildProgram(b, name, staticS, c, weights, options.matrixType);
      });
  if (!module)
    return module.takeError();
  model.module = std::move(*module);

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
