//===- Importer.cpp - Hugging Face GPT-2 checkpoints to attn IR -----------===//
//
// GPT2LMHeadModel, per block of S new tokens after T cached ones:
//   x = wte[tokens] + wpe[T : T + S]
//   per layer:
//     q, k, v = split(ln_1(x) · c_attn)          (Conv1D: weight [in, out])
//     x = x + c_proj(softmax(mask(q·kᵀ / sqrt(head_dim), finfo.min)) · v)
//     x = x + c_proj(gelu_new(ln_2(x) · c_fc))
//   logits = ln_f(x[S - 1]) · wteᵀ              (lm_head tied to wte)
//
//===----------------------------------------------------------------------===//

#include "frontends/gpt2/Importer.h"

#include "frontends/ProgramBuilder.h"
#include "dialects/attn/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn;

namespace {
struct GPT2Config {
  int64_t vocabSize, nEmbd, nLayer, nHead, nPositions, nInner, contextLength;
  int64_t eosToken, bosToken;
  double layerNormEps;
  bool scaleAttnWeights;
  /// "transformer." when the checkpoint comes from GPT2LMHeadModel.
  std::string prefix;
  /// The LM head's weight: an explicit lm_head.weight, else wte (tied).
  std::string lmHead;
};
} // namespace

static RankedTensorType rows(OpBuilder &b, int64_t width) {
  return RankedTensorType::get({ShapedType::kDynamic, width}, b.getF32Type());
}

/// Conv1D: x · W + b with W stored [in, out].
static Value conv1d(OpBuilder &b, Location loc, const Program &program,
                    Value x, int64_t out, const std::string &name) {
  return LinearOp::create(b, loc, rows(b, out), x,
                          program.weight(name + ".weight"),
                          program.weight(name + ".bias"), WeightLayout::in_out);
}

static Value layerNorm(OpBuilder &b, Location loc, const Program &program,
                       Value x, const std::string &name, double eps) {
  return LayerNormOp::create(b, loc, x, program.weight(name + ".weight"),
                             program.weight(name + ".bias"), eps);
}

/// Columns [index * width, (index + 1) * width) of `x` ([S, n * width]).
static Value columns(OpBuilder &b, Location loc, Value x, int64_t index,
                     int64_t width, Value numRows) {
  return tensor::ExtractSliceOp::create(
      b, loc, rows(b, width), x,
      ArrayRef<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(index * width)},
      ArrayRef<OpFoldResult>{numRows, b.getIndexAttr(width)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
}

static void buildProgram(OpBuilder &b, StringRef name, int64_t staticS,
                         const GPT2Config &c, ArrayRef<WeightSpec> weights,
                         ImportOptions::MatrixType matrixType) {
  Location loc = b.getUnknownLoc();
  int64_t d = c.nEmbd, headDim = d / c.nHead;
  OpBuilder::InsertionGuard guard(b);
  Program program = createProgram(b, name, staticS, weights, c.nLayer,
                                  c.nHead, c.contextLength, headDim,
                                  c.vocabSize, matrixType);
  const std::string &p = c.prefix;
  Value x = EmbeddingOp::create(b, loc, rows(b, d),
                                program.weight(p + "wte.weight"),
                                program.tokens, /*addend=*/Value());
  x = AddOp::create(b, loc, x,
                    positionRows(b, loc, program, program.weight(p + "wpe.weight")));

  double scale = c.scaleAttnWeights ? 1.0 / std::sqrt(double(headDim)) : 1.0;
  double fill = -std::numeric_limits<float>::max();
  SmallVector<Value> newCaches;
  for (int64_t layer = 0; layer < c.nLayer; ++layer) {
    std::string h = p + "h." + std::to_string(layer);
    Value qkv = conv1d(b, loc, program,
                       layerNorm(b, loc, program, x, h + ".ln_1", c.layerNormEps),
                       3 * d, h + ".attn.c_attn");
    Value q = columns(b, loc, qkv, 0, d, program.numNew);
    Value k = columns(b, loc, qkv, 1, d, program.numNew);
    Value v = columns(b, loc, qkv, 2, d, program.numNew);
    Value attn = buildCausalAttention(b, loc, program, layer, q, k, v, c.nHead,
                                      scale, fill, newCaches);
    x = AddOp::create(b, loc, x,
                      conv1d(b, loc, program, attn, d, h + ".attn.c_proj"));
    Value hidden = conv1d(
        b, loc, program,
        layerNorm(b, loc, program, x, h + ".ln_2", c.layerNormEps), c.nInner,
        h + ".mlp.c_fc");
    hidden = GeluOp::create(b, loc, hidden);
    x = AddOp::create(b, loc, x,
                      conv1d(b, loc, program, hidden, d, h + ".mlp.c_proj"));
  }

  Value last = layerNorm(b, loc, program, lastRow(b, loc, program, x),
                         p + "ln_f", c.layerNormEps);
  Value logits = LinearOp::create(
      b, loc, RankedTensorType::get({1, c.vocabSize}, b.getF32Type()), last,
      program.weight(c.lmHead), Value(), WeightLayout::out_in);
  finishProgram(b, program, logits, newCaches);
}

static std::vector<WeightSpec> expectedWeights(const GPT2Config &c) {
  int64_t d = c.nEmbd;
  const std::string &p = c.prefix;
  std::vector<WeightSpec> weights = {{p + "wte.weight", {c.vocabSize, d}, true},
                                     {p + "wpe.weight", {c.nPositions, d}}};
  for (int64_t layer = 0; layer < c.nLayer; ++layer) {
    std::string h = p + "h." + std::to_string(layer);
    auto add = [&](const std::string &name, ArrayRef<int64_t> weight,
                   int64_t bias) {
      // LayerNorm vectors stay f32; the Conv1D matrices may be narrowed.
      weights.push_back(
          {name + ".weight", SmallVector<int64_t>(weight), weight.size() == 2});
      weights.push_back({name + ".bias", {bias}});
    };
    add(h + ".ln_1", {d}, d);
    add(h + ".attn.c_attn", {d, 3 * d}, 3 * d);
    add(h + ".attn.c_proj", {d, d}, d);
    add(h + ".ln_2", {d}, d);
    add(h + ".mlp.c_fc", {d, c.nInner}, c.nInner);
    add(h + ".mlp.c_proj", {c.nInner, d}, d);
  }
  weights.push_back({p + "ln_f.weight", {d}});
  weights.push_back({p + "ln_f.bias", {d}});
  if (c.lmHead != p + "wte.weight")
    weights.push_back({c.lmHead, {c.vocabSize, d}, /*matrix=*/true});
  return weights;
}

/// The first of `names` that exists in `dir`.
static std::optional<std::string> findFile(StringRef dir,
                                           ArrayRef<StringRef> names) {
  for (StringRef name : names) {
    SmallString<256> path(dir);
    llvm::sys::path::append(path, name);
    if (llvm::sys::fs::exists(path))
      return std::string(path);
  }
  return std::nullopt;
}

/// vocab.json / encoder.json ({"token": id}) and merges.txt / vocab.bpe
/// ("a b" per line after a "#version" header), ids below `vocabSize`.
static llvm::Error readTokenizer(StringRef dir, int64_t vocabSize,
                                 TokenizerSpec &tokenizer,
                                 std::vector<std::string> &inputFiles) {
  auto error = [](const Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
  };
  std::optional<std::string> vocabPath =
      findFile(dir, {"vocab.json", "encoder.json"});
  std::optional<std::string> mergesPath =
      findFile(dir, {"merges.txt", "vocab.bpe"});
  if (!vocabPath || !mergesPath)
    return error(dir + ": no GPT-2 tokenizer (vocab.json + merges.txt, or "
                       "encoder.json + vocab.bpe)");
  inputFiles.push_back(*vocabPath);
  inputFiles.push_back(*mergesPath);
  llvm::Expected<Config> vocab = Config::read(*vocabPath);
  if (!vocab)
    return vocab.takeError();
  tokenizer.kind = TokenizerSpec::Kind::ByteLevelBPE;
  tokenizer.vocab.assign(vocabSize, "");
  for (const auto &[token, idValue] : vocab->object()) {
    std::optional<int64_t> id = idValue.getAsInteger();
    if (!id || *id < 0 || *id >= vocabSize)
      return vocab->error("token '" + token.str() + "' has an id outside [0, " +
                          Twine(vocabSize) + ")");
    if (!tokenizer.vocab[*id].empty())
      return vocab->error("id " + Twine(*id) + " is given to two tokens");
    tokenizer.vocab[*id] = token.str();
  }
  auto merges = llvm::MemoryBuffer::getFile(*mergesPath, /*IsText=*/true);
  if (!merges)
    return error(*mergesPath + ": " + merges.getError().message());
  SmallVector<StringRef> lines;
  (*merges)->getBuffer().split(lines, '\n', -1, /*KeepEmpty=*/false);
  for (auto [number, line] : llvm::enumerate(lines)) {
    line = line.rtrim("\r");
    if (line.empty() || (number == 0 && line.starts_with("#version")))
      continue;
    auto [left, right] = line.split(' ');
    if (left.empty() || right.empty() || right.contains(' '))
      return error(*mergesPath + ": line " + Twine(number + 1) +
                   " is not a merge \"a b\"");
    tokenizer.merges.push_back(line.str());
  }
  return llvm::Error::success();
}

llvm::Expected<ImportedModel>
mlir::attn::importGPT2(MLIRContext &context, StringRef dir,
                       const Config &config, const ImportOptions &options) {
  GPT2Config c;
  auto readInt = [&](StringRef key, int64_t &out, int64_t min,
                     std::optional<int64_t> fallback) -> llvm::Error {
    llvm::Expected<int64_t> v = fallback ? config.getInt(key, min, *fallback)
                                         : config.getInt(key, min);
    if (!v)
      return v.takeError();
    out = *v;
    return llvm::Error::success();
  };
  int64_t nCtx = 0;
  for (auto [key, out, fallback] :
       {std::tuple<StringRef, int64_t *, std::optional<int64_t>>{
            "vocab_size", &c.vocabSize, std::nullopt},
        {"n_embd", &c.nEmbd, std::nullopt},
        {"n_layer", &c.nLayer, std::nullopt},
        {"n_head", &c.nHead, std::nullopt},
        {"n_positions", &c.nPositions, std::nullopt},
        {"n_ctx", &nCtx, 0},
        {"n_inner", &c.nInner, 0},
        {"eos_token_id", &c.eosToken, 50256},
        {"bos_token_id", &c.bosToken, 50256}})
    if (llvm::Error err = readInt(key, *out, fallback ? 0 : 1, fallback))
      return std::move(err);
  if (c.nInner == 0)
    c.nInner = 4 * c.nEmbd;
  llvm::Expected<double> eps =
      config.getPositiveNumber("layer_norm_epsilon", 1e-5);
  if (!eps)
    return eps.takeError();
  c.layerNormEps = *eps;
  if (c.nEmbd % c.nHead != 0)
    return config.error("n_embd " + Twine(c.nEmbd) +
                        " is not a multiple of n_head " + Twine(c.nHead));
  if (c.eosToken >= c.vocabSize || c.bosToken >= c.vocabSize)
    return config.error("eos_token_id and bos_token_id must be below vocab_size");

  // Settings that would make a different model than we compile.
  const llvm::json::Object &object = config.object();
  auto flag = [&](StringRef key, bool fallback) {
    std::optional<bool> v = object.getBoolean(key);
    return v.value_or(fallback);
  };
  c.scaleAttnWeights = flag("scale_attn_weights", true);
  for (StringRef key : {"scale_attn_by_inverse_layer_idx",
                        "reorder_and_upcast_attn", "add_cross_attention"})
    if (flag(key, false))
      return config.error("'" + key + "' is true; attn does not support it");
  if (std::optional<StringRef> activation =
          object.getString("activation_function"))
    if (*activation != "gelu_new" && *activation != "gelu_pytorch_tanh")
      return config.error("activation_function '" + *activation +
                          "' is not supported (GPT-2 uses gelu_new)");

  // A longer context would need position embeddings the model lacks;
  // refusing says so, where clamping would compile something else silently.
  if (options.contextLength > c.nPositions)
    return config.error("--context-length " + Twine(options.contextLength) +
                        " is more than the model's " + Twine(c.nPositions) +
                        " positions (n_positions)");
  c.contextLength =
      options.contextLength > 0 ? options.contextLength : c.nPositions;

  llvm::Expected<std::unique_ptr<Checkpoint>> checkpoint =
      openModelCheckpoint(dir);
  if (!checkpoint)
    return checkpoint.takeError();
  c.prefix = (*checkpoint)->lookup("transformer.wte.weight") ? "transformer."
                                                             : "";
  c.lmHead = (*checkpoint)->lookup("lm_head.weight") ? "lm_head.weight"
                                                     : c.prefix + "wte.weight";
  std::vector<WeightSpec> weights = expectedWeights(c);
  if (llvm::Error err = checkWeights(**checkpoint, weights, options))
    return std::move(err);

  ImportedModel model;
  model.inputFiles.push_back((*checkpoint)->path().str());
  if (llvm::Error err = readTokenizer(dir, c.vocabSize, model.spec.tokenizer,
                                      model.inputFiles))
    return std::move(err);

  llvm::Expected<OwningOpRef<ModuleOp>> module = buildPrograms(
      context, dir, [&](OpBuilder &b, StringRef name, int64_t staticS) {
        buildProgram(b, name, staticS, c, weights, options.matrixType);
      });
  if (!module)
    return module.takeError();
  model.module = std::move(*module);

  model.checkpoint = std::move(*checkpoint);
  ModelSpec &spec = model.spec;
  spec.modelType = "gpt2";
  spec.vocabSize = c.vocabSize;
  spec.contextLength = c.contextLength;
  spec.dModel = c.nEmbd;
  spec.nLayers = c.nLayer;
  spec.nHeads = c.nHead;
  spec.stopToken = c.eosToken;
  spec.bosToken = c.bosToken;
  spec.configJson = config.text().str();
  return model;
}
