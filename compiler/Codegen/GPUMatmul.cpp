//===- GPUMatmul.cpp - linear layer kernels for the GPU -------------------===//
//
// attn.linear as generated kernels rather than cuBLAS calls: a matrix
// product tiled through shared memory for a step's rows, and a matrix-vector
// product for a decode step's one row. Weights are read in their storage
// layout ([in, out] or [out, in]) and element type (f32, or f16 and bf16
// widened on load); sums are in f32, then the epilogue: bias, activation,
// residual.
//
//===----------------------------------------------------------------------===//

#include "compiler/Codegen/GPUKernelBuilder.h"

#include "compiler/Conversion/AttnToLinalg/Utils.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::gpu_kernels;

/// w(i, o) of a linear's weight in its storage layout, as `type`.
static Value weightAt(OpBuilder &b, Location loc, LinearOp op, Value weight,
                      Value i, Value o, Type type) {
  bool inOut = op.getLayout() == WeightLayout::in_out;
  return loadAs(b, loc, weight, inOut ? ValueRange{i, o} : ValueRange{o, i},
                type);
}

/// The linear's epilogue applied to the product `y` at (row, feature `o`):
/// the bias, the activation, then the residual.
static Value epilogue(OpBuilder &b, Location loc, LinearOp op,
                      const KernelValues &values, Value y, Value row, Value o,
                      Type type) {
  if (op.getBias())
    y = arith::AddFOp::create(
        b, loc, y,
        loadAs(b, loc, values.binding(op.getBias()), ValueRange{o}, type));
  if (op.getActivation())
    y = geluTanh(b, loc, y);
  if (op.getResidual())
    y = arith::AddFOp::create(
        b, loc, y,
        loadAs(b, loc, values.binding(op.getResidual()), ValueRange{row, o},
               type));
  return y;
}

/// `v` split for 3xTF32: v = hi + lo up to lo's own truncation, hi and lo
/// each a tf32 (an f32 whose low 13 bits are zero). hi is v rounded to the
/// nearest tf32 (ties away from zero, as cvt.rna), so that |lo| is at most
/// half of hi's last place and truncating lo costs about 2^-23 of v;
/// infinities and NaNs are truncated instead (rounding would carry into
/// their exponent).
static std::pair<Value, Value> splitTF32(OpBuilder &b, Location loc, Value v) {
  Type i32 = b.getI32Type();
  auto constant = [&](int64_t c) {
    return arith::ConstantIntOp::create(b, loc, i32, c);
  };
  Value mask = constant(0xFFFFE000);
  Value exponent = constant(0x7F800000);
  auto bitsOf = [&](Value f) -> Value {
    return arith::BitcastOp::create(b, loc, i32, f);
  };
  auto asFloat = [&](Value bits) -> Value {
    return arith::BitcastOp::create(b, loc, v.getType(), bits);
  };
  Value bits = bitsOf(v);
  Value truncated = arith::AndIOp::create(b, loc, bits, mask);
  Value rounded = arith::AndIOp::create(
      b, loc, arith::AddIOp::create(b, loc, bits, constant(0x1000)), mask);
  Value special = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::eq,
      arith::AndIOp::create(b, loc, bits, exponent), exponent);
  Value hi =
      asFloat(arith::SelectOp::create(b, loc, special, truncated, rounded));
  // Exact in f32: hi is v to within half of hi's last place.
  Value rest = arith::SubFOp::create(b, loc, v, hi);
  return {hi, asFloat(arith::AndIOp::create(b, loc, bitsOf(rest), mask))};
}

namespace {
/// What both tiled matmul kernels share: the operands, the row tiles of the
/// block, the staging of each reduction slice into shared memory and the
/// store of a result through the epilogue.
struct MatmulTiles {
  OpBuilder &b;
  Location loc;
  LinearOp op;
  const KernelValues &values;
  const WorkRange &range;
  /// [kMatmulDepth, padded row] and [kMatmulDepth, padded feature] tiles;
  /// with `xsLo` and `wsLo` (3xTF32) they hold the values' tf32 hi halves
  /// and those the lo halves, split once where they are staged.
  Value xs, ws, xsLo, wsLo;
  Value x, w, out, rows, depth, thread, fzero;
  Type type;

  MatmulTiles(OpBuilder &b, Location loc, LinearOp op,
              const KernelValues &values, const WorkRange &range, Value xs,
              Value ws, Value xsLo = Value(), Value wsLo = Value())
      : b(b), loc(loc), op(op), values(values), range(range), xs(xs), ws(ws),
        xsLo(xsLo), wsLo(wsLo),
        x(values.binding(op.getInput())), w(values.binding(op.getWeight())),
        out(values.output()), rows(dimOf(b, loc, x, 0)),
        depth(dimOf(b, loc, x, 1)),
        thread(gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x)),
        fzero(floatConstant(b, loc, op.getType().getElementType(), 0.0)),
        type(op.getType().getElementType()) {}

  Value add(Value a, Value c) { return arith::AddIOp::create(b, loc, a, c); }
  Value less(Value a, Value bound) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, a, bound);
  }

  /// body(acc) -> acc' for every reduction slice of the row tile at
  /// `rowTile`, once the slice is staged (xs[k, row] = x[rowTile + row,
  /// k0 + k], ws[k, f] = w(k0 + k, begin + f), zeros outside), between
  /// barriers; returns the accumulators after the last slice. The next
  /// slice's loads are issued before body runs, so that they are in flight
  /// while it computes (software pipelining through registers).
  SmallVector<Value>
  forEachSlice(Value rowTile, ValueRange init,
               function_ref<SmallVector<Value>(ValueRange)> body) {
    SmallVector<Value> carried(init);
    llvm::append_range(carried,
                       loadSlice(rowTile, indexConstant(b, loc, 0)));
    auto steps =
        scf::ForOp::create(b, loc, indexConstant(b, loc, 0), depth,
                           indexConstant(b, loc, kMatmulDepth), carried);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(steps.getBody());
    ValueRange args = steps.getRegionIterArgs();
    storeSlice(args.drop_front(init.size()));
    gpu::BarrierOp::create(b, loc);
    // Past the last slice every element is outside: zeros, no access.
    SmallVector<Value> next = loadSlice(
        rowTile, add(steps.getInductionVar(), indexConstant(b, loc,
                                                            kMatmulDepth)));
    SmallVector<Value> results = body(args.take_front(init.size()));
    // The next slice overwrites the tiles.
    gpu::BarrierOp::create(b, loc);
    llvm::append_range(results, next);
    scf::YieldOp::create(b, loc, results);
    b.setInsertionPointAfter(steps);
    return SmallVector<Value>(steps.getResults().take_front(init.size()));
  }

  /// out[rowTile + row, begin + f] = epilogue(acc), where both are inside.
  void store(Value rowTile, Value row, Value f, Value acc) {
    Value r = add(rowTile, row);
    emitIf(b, loc,
           arith::AndIOp::create(b, loc, less(r, rows), less(f, range.count)),
           [&] {
             Value feature = add(range.begin, f);
             memref::StoreOp::create(
                 b, loc, epilogue(b, loc, op, values, acc, r, feature, type),
                 out, ValueRange{r, feature});
           });
  }

private:
  /// Elements per thread of each staged tile.
  static constexpr int64_t kPerThread =
      kMatmulTile * kMatmulDepth / kMatmulThreads;

  /// fn(i, e / width, e % width) for this thread's elements e = thread +
  /// i * blockSize of a staged tile `width` wide.
  void forEachElement(int64_t width,
                      function_ref<void(int64_t, Value, Value)> fn) {
    for (int64_t i = 0; i < kPerThread; ++i) {
      Value e = add(thread, indexConstant(b, loc, i * kMatmulThreads));
      fn(i,
         arith::DivUIOp::create(b, loc, e, indexConstant(b, loc, width)),
         arith::RemUIOp::create(b, loc, e, indexConstant(b, loc, width)));
    }
  }

  /// x's elements of the [row, k] tile, then w's of the weight's tile
  /// ([k, f] for [in, out], [f, k] for [out, in]: along its contiguous
  /// axis), as each thread stages them.
  void forEachStaged(function_ref<void(int64_t, Value, Value)> xElement,
                     function_ref<void(int64_t, Value, Value)> wElement) {
    forEachElement(kMatmulDepth, xElement);
    if (op.getLayout() == WeightLayout::in_out)
      forEachElement(kMatmulTile, [&](int64_t i, Value k, Value f) {
        wElement(kPerThread + i, k, f);
      });
    else
      forEachElement(kMatmulDepth, [&](int64_t i, Value f, Value k) {
        wElement(kPerThread + i, k, f);
      });
  }

  /// `value()` where `inside`, else 0, without an access outside.
  Value loadIf(Value inside, function_ref<Value()> value) {
    auto guard = scf::IfOp::create(b, loc, TypeRange{type}, inside,
                                   /*withElseRegion=*/true);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(guard.thenBlock());
    scf::YieldOp::create(b, loc, value());
    b.setInsertionPointToStart(guard.elseBlock());
    scf::YieldOp::create(b, loc, fzero);
    return guard.getResult(0);
  }

  /// This thread's elements of slice k0, in registers: x[rowTile + row,
  /// k0 + k] and w(k0 + k, begin + f), zeros outside.
  SmallVector<Value> loadSlice(Value rowTile, Value k0) {
    SmallVector<Value> values(2 * kPerThread);
    forEachStaged(
        [&](int64_t i, Value row, Value k) {
          Value r = add(rowTile, row), kk = add(k0, k);
          values[i] = loadIf(
              arith::AndIOp::create(b, loc, less(r, rows), less(kk, depth)),
              [&] { return loadAs(b, loc, x, ValueRange{r, kk}, type); });
        },
        [&](int64_t i, Value k, Value f) {
          Value kk = add(k0, k);
          values[i] = loadIf(
              arith::AndIOp::create(b, loc, less(kk, depth),
                                    less(f, range.count)),
              [&] {
                return weightAt(b, loc, op, w, kk, add(range.begin, f), type);
              });
        });
    return values;
  }

  /// Stores loadSlice's values as xs[k, row] and ws[k, f] (split into
  /// the hi and lo tiles when there are lo tiles).
  void storeSlice(ValueRange values) {
    auto store = [&](Value v, Value hiTile, Value loTile, ValueRange idx) {
      if (!loTile) {
        memref::StoreOp::create(b, loc, v, hiTile, idx);
        return;
      }
      auto [hi, lo] = splitTF32(b, loc, v);
      memref::StoreOp::create(b, loc, hi, hiTile, idx);
      memref::StoreOp::create(b, loc, lo, loTile, idx);
    };
    forEachStaged(
        [&](int64_t i, Value row, Value k) {
          store(values[i], xs, xsLo, ValueRange{k, row});
        },
        [&](int64_t i, Value k, Value f) {
          store(values[i], ws, wsLo, ValueRange{k, f});
        });
  }
};
} // namespace

void gpu_kernels::emitMatmul(OpBuilder &b, Location loc, LinearOp op,
                             const KernelValues &values, const WorkRange &range,
                             Value xs, Value ws) {
  assert(range.blockSize == kMatmulThreads && "a matmul block is 16 x 16");
  MatmulTiles tiles(b, loc, op, values, range, xs, ws);
  constexpr int64_t side = 16; // threads along each axis of the tile
  constexpr int64_t perThread = kMatmulTile / side;
  Value tx = arith::RemUIOp::create(b, loc, tiles.thread,
                                    indexConstant(b, loc, side));
  Value ty = arith::DivUIOp::create(b, loc, tiles.thread,
                                    indexConstant(b, loc, side));
  auto offset = [&](Value base, int64_t i) {
    return tiles.add(base, indexConstant(b, loc, side * i));
  };
  range.forEachTile(b, loc, tiles.rows, kMatmulTile, [&](Value rowTile) {
    SmallVector<Value> zeros(perThread * perThread, tiles.fzero);
    SmallVector<Value> acc =
        tiles.forEachSlice(rowTile, zeros, [&](ValueRange carried) {
          // Rows ty + 16 i and features tx + 16 j of the tile: a half-warp
          // reads one broadcast x and 16 consecutive weights per step.
          SmallVector<Value> sums(carried);
          for (int64_t k = 0; k < kMatmulDepth; ++k) {
            Value kk = indexConstant(b, loc, k);
            SmallVector<Value> xk, wk;
            for (int64_t i = 0; i < perThread; ++i) {
              xk.push_back(memref::LoadOp::create(
                  b, loc, xs, ValueRange{kk, offset(ty, i)}));
              wk.push_back(memref::LoadOp::create(
                  b, loc, ws, ValueRange{kk, offset(tx, i)}));
            }
            for (int64_t i = 0; i < perThread; ++i)
              for (int64_t j = 0; j < perThread; ++j) {
                Value &a = sums[i * perThread + j];
                a = arith::AddFOp::create(
                    b, loc, a, arith::MulFOp::create(b, loc, xk[i], wk[j]));
              }
          }
          return sums;
        });
    for (int64_t i = 0; i < perThread; ++i)
      for (int64_t j = 0; j < perThread; ++j)
        tiles.store(rowTile, offset(ty, i), offset(tx, j),
                    acc[i * perThread + j]);
  });
}

void gpu_kernels::emitMatmulTensorCores(OpBuilder &b, Location loc,
                                        LinearOp op, const KernelValues &values,
                                        const WorkRange &range,
                                        ValueRange staged) {
  assert(range.blockSize == kMatmulThreads && "a matmul block is 8 warps");
  assert(staged.size() == 4 && "x and w tiles, hi and lo halves");
  MatmulTiles tiles(b, loc, op, values, range, staged[0], staged[1],
                    staged[2], staged[3]);
  MLIRContext *ctx = b.getContext();
  // mma.sync m16n8k8: 8 warps as 2 x 4, each a 32 x 16 corner of the 64 x
  // 64 tile, as 2 x 2 fragments of 16 x 8.
  constexpr int64_t fragmentsM = 2, fragmentsN = 2, mmaK = 8;
  auto constant = [&](int64_t v) { return indexConstant(b, loc, v); };
  Value lane = arith::RemUIOp::create(b, loc, tiles.thread, constant(32));
  Value warp = arith::DivUIOp::create(b, loc, tiles.thread, constant(32));
  Value group = arith::DivUIOp::create(b, loc, lane, constant(4));
  Value inGroup = arith::RemUIOp::create(b, loc, lane, constant(4));
  Value warpRow = arith::MulIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, warp, constant(4)),
      constant(16 * fragmentsM));
  Value warpColumn = arith::MulIOp::create(
      b, loc, arith::RemUIOp::create(b, loc, warp, constant(4)),
      constant(8 * fragmentsN));
  auto plus = [&](Value a, int64_t c) { return tiles.add(a, constant(c)); };
  Type f32 = b.getF32Type();
  Type fragmentType =
      LLVM::LLVMStructType::getLiteral(ctx, {f32, f32, f32, f32});
  auto mma = [&](ArrayRef<Value> a, ArrayRef<Value> bb,
                 ArrayRef<Value> c) -> SmallVector<Value> {
    Value d = NVVM::MmaOp::create(
        b, loc, fragmentType, a, bb, c, {16, 8, 8}, std::nullopt, std::nullopt,
        std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::tf32,
                                      NVVM::MMATypes::tf32},
        std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                       NVVM::MMALayout::col});
    SmallVector<Value> result;
    for (int64_t i = 0; i < 4; ++i)
      result.push_back(LLVM::ExtractValueOp::create(b, loc, d, i));
    return result;
  };
  // A fragment's registers: tile[k, index] for each position, as the i32
  // that mma.sync takes.
  Type i32 = b.getI32Type();
  auto fragment = [&](Value tile,
                      ArrayRef<std::pair<Value, Value>> positions) {
    SmallVector<Value> registers;
    for (auto [k, index] : positions)
      registers.push_back(arith::BitcastOp::create(
          b, loc, i32,
          memref::LoadOp::create(b, loc, tile, ValueRange{k, index})));
    return registers;
  };
  // [hi, lo] halves.
  Value xTiles[2] = {tiles.xs, tiles.xsLo}, wTiles[2] = {tiles.ws, tiles.wsLo};

  range.forEachTile(b, loc, tiles.rows, kMatmulTile, [&](Value rowTile) {
    SmallVector<Value> zeros(fragmentsM * fragmentsN * 4, tiles.fzero);
    SmallVector<Value> acc =
        tiles.forEachSlice(rowTile, zeros, [&](ValueRange carried) {
          SmallVector<Value> sums(carried);
          for (int64_t k0 = 0; k0 < kMatmulDepth; k0 += mmaK) {
            Value k = plus(inGroup, k0);
            Value k4 = plus(inGroup, k0 + 4);
            // A (row-major 16 x 8): (g, t), (g + 8, t), (g, t + 4),
            // (g + 8, t + 4); B (8 x 8, k by n): (t, g), (t + 4, g). Each
            // fragment twice, from the hi and the lo tiles: [half][m or n].
            SmallVector<SmallVector<Value>> a[2], bw[2];
            for (int64_t half = 0; half < 2; ++half) {
              for (int64_t m = 0; m < fragmentsM; ++m) {
                Value row = tiles.add(warpRow, plus(group, 16 * m));
                Value row8 = plus(row, 8);
                a[half].push_back(fragment(
                    xTiles[half], {{k, row}, {k, row8}, {k4, row}, {k4, row8}}));
              }
              for (int64_t n = 0; n < fragmentsN; ++n) {
                Value column = tiles.add(warpColumn, plus(group, 8 * n));
                bw[half].push_back(
                    fragment(wTiles[half], {{k, column}, {k4, column}}));
              }
            }
            constexpr int64_t hi = 0, lo = 1;
            for (int64_t m = 0; m < fragmentsM; ++m)
              for (int64_t n = 0; n < fragmentsN; ++n) {
                MutableArrayRef<Value> c(&sums[(m * fragmentsN + n) * 4], 4);
                // 3xTF32: the small cross terms first, then hi x hi (lo x lo
                // is below f32's rounding).
                SmallVector<Value> d = mma(a[lo][m], bw[hi][n], c);
                d = mma(a[hi][m], bw[lo][n], d);
                d = mma(a[hi][m], bw[hi][n], d);
                llvm::copy(d, c.begin());
              }
          }
          return sums;
        });
    // C (16 x 8): (g, 2t), (g, 2t + 1), (g + 8, 2t), (g + 8, 2t + 1).
    Value twiceInGroup = arith::MulIOp::create(b, loc, inGroup, constant(2));
    for (int64_t m = 0; m < fragmentsM; ++m)
      for (int64_t n = 0; n < fragmentsN; ++n)
        for (int64_t r = 0; r < 4; ++r) {
          Value row = tiles.add(warpRow, plus(group, 16 * m + 8 * (r / 2)));
          Value column =
              tiles.add(warpColumn, plus(twiceInGroup, 8 * n + r % 2));
          tiles.store(rowTile, row, column, acc[(m * fragmentsN + n) * 4 + r]);
        }
  });
}

/// The input row of a linear with a norm, normalized into `normalized` by
/// the whole block (RowNorm, with block reductions).
static void emitNormalizedRow(OpBuilder &b, Location loc, LinearOp op,
                              const KernelValues &values,
                              const WorkRange &range,
                              const MatVecBuffers &buffers) {
  Value x = values.binding(op.getInput());
  Value gamma = values.binding(op.getNormGamma());
  Value beta = values.binding(op.getNormBeta());
  Type type = op.getType().getElementType();
  Value zero = indexConstant(b, loc, 0);
  Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value step = indexConstant(b, loc, range.blockSize);
  Value n = dimOf(b, loc, x, 1);
  Value fzero = floatConstant(b, loc, type, 0.0);
  auto add = [&](Value p, Value q) { return addF(b, loc, p, q); };
  // The row goes to shared memory once, where the mean, the variance and
  // the normalization read it: each thread only ever touches its own
  // elements i = thread + k * blockSize there, so no barrier is needed
  // before the block reductions.
  forLoop(b, loc, thread, n, step, [&](Value i) {
    memref::StoreOp::create(b, loc,
                            loadAs(b, loc, x, ValueRange{zero, i}, type),
                            buffers.normalized, ValueRange{i});
  });
  auto input = [&](Value i) {
    return memref::LoadOp::create(b, loc, buffers.normalized, ValueRange{i});
  };
  // Each thread's share of the row, then the block's.
  RowNorm norm(
      b, loc, n, type, op.getNormEpsilon()->convertToDouble(), input,
      [&](function_ref<Value(Value)> term) {
        Value share = foldLoop(b, loc, thread, n, fzero,
                               [&](Value acc, Value i) {
                                 return add(acc, term(i));
                               },
                               step);
        return blockAllReduce(b, loc, share, add, fzero, buffers.scratch,
                              range.blockSize);
      });
  forLoop(b, loc, thread, n, step, [&](Value i) {
    Value y = norm.apply(b, loc, input(i),
                         loadAs(b, loc, gamma, ValueRange{i}, type),
                         loadAs(b, loc, beta, ValueRange{i}, type));
    memref::StoreOp::create(b, loc, y, buffers.normalized, ValueRange{i});
  });
  gpu::BarrierOp::create(b, loc);
}

int64_t gpu_kernels::getMatVecColumns(int64_t features, bool inOut) {
  int64_t columns = kMatVecColumns;
  // [in, out] keeps its 8 neighbouring features per block: they make the
  // warp's loads coalesce.
  while (!inOut && columns > 1 &&
         llvm::divideCeil(features, columns) < kMatVecMinBlocks)
    columns /= 2;
  return columns;
}

/// Elements of the reduction axis that a one-row linear's thread reads per
/// load of `weight`: kMatVecLoadBytes' worth where an [out, in] weight's
/// rows are contiguous, whole multiples of them, and start aligned (the
/// binding's alignment and the row stride), else one.
static int64_t getMatVecLanes(LinearOp op, const KernelValues &values,
                              MemRefType weight) {
  int64_t bytes = llvm::divideCeil(weight.getElementTypeBitWidth(), 8);
  if (op.getLayout() == WeightLayout::in_out ||
      kMatVecLoadBytes % bytes != 0 ||
      values.alignment(op.getWeight()) < kMatVecLoadBytes)
    return 1;
  int64_t lanes = kMatVecLoadBytes / bytes;
  auto [strides, offset] = weight.getStridesAndOffset();
  if ((strides[0] * bytes) % kMatVecLoadBytes != 0 ||
      weight.getDimSize(1) % lanes != 0)
    return 1;
  return lanes;
}

void gpu_kernels::emitMatVec(OpBuilder &b, Location loc, LinearOp op,
                             const KernelValues &values, const WorkRange &range,
                             const MatVecBuffers &buffers) {
  Value x = values.binding(op.getInput()), w = values.binding(op.getWeight());
  Value out = values.output();
  Type type = op.getType().getElementType();
  bool inOut = op.getLayout() == WeightLayout::in_out;
  Value partials = buffers.partials;
  int64_t columns = cast<MemRefType>(partials.getType()).getDimSize(1);
  int64_t slices = range.blockSize / columns;
  Value zero = indexConstant(b, loc, 0);
  if (op.getNormGamma())
    emitNormalizedRow(b, loc, op, values, range, buffers);
  auto weightType = cast<MemRefType>(w.getType());
  int64_t lanes = getMatVecLanes(op, values, weightType);
  auto vectorOf = [&](Type element) {
    return VectorType::get({lanes}, element);
  };
  // `lanes` elements of `memref` from `idx` on, as f32 lanes: one load of
  // `alignment` bytes (an element's where not known better).
  auto loadLanes = [&](Value memref, ValueRange idx, int64_t alignment) {
    auto memrefType = cast<MemRefType>(memref.getType());
    Type element = memrefType.getElementType();
    int64_t bytes = llvm::divideCeil(memrefType.getElementTypeBitWidth(), 8);
    Value v = vector::LoadOp::create(
        b, loc, vectorOf(element), memref, idx, /*nontemporal=*/false,
        llvm::MaybeAlign(std::max(bytes, std::min(alignment,
                                                  lanes * bytes))));
    if (element != type)
      v = arith::ExtFOp::create(b, loc, vectorOf(type), v);
    return v;
  };
  // Elements [i, i + lanes) of the (normalized) input row; a chunk's byte
  // offset in the row is a multiple of the weight's load.
  auto inputAt = [&](Value i) -> Value {
    if (buffers.normalized)
      return loadLanes(buffers.normalized, ValueRange{i}, kMatVecLoadBytes);
    return loadLanes(x, ValueRange{zero, i}, values.alignment(op.getInput()));
  };
  Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  // [in, out]: features fastest across threads; [out, in]: reduction fastest.
  Value fastSize = indexConstant(b, loc, inOut ? columns : slices);
  Value fast = arith::RemUIOp::create(b, loc, thread, fastSize);
  Value slow = arith::DivUIOp::create(b, loc, thread, fastSize);
  Value column = inOut ? fast : slow, slice = inOut ? slow : fast;
  Value feature = arith::AddIOp::create(b, loc, range.begin, column);
  Value hasFeature = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                           column, range.count);
  Value fzero = floatConstant(b, loc, type, 0.0);
  Value lanesZero = arith::ConstantOp::create(
      b, loc, cast<TypedAttr>(b.getZeroAttr(vectorOf(type))));
  // The reduction is the weight's static input axis in chunks of `lanes`:
  // thread `slice` takes chunk c = slice + j * slices for j < steps,
  // `unroll` at a time with independent loads, so that enough bytes are in
  // flight to stream the weights at the memory's rate. Chunks past the end
  // are clamped (a valid load) and their products dropped.
  // Weights are arguments of static shape (the planner requires it).
  int64_t depth = weightType.getDimSize(inOut ? 0 : 1);
  assert(!ShapedType::isDynamic(depth) && "a weight of dynamic shape");
  int64_t chunks = depth / lanes;
  int64_t steps = llvm::divideCeil(chunks, slices);
  int64_t unroll = std::clamp<int64_t>(kMatVecUnrollLanes / lanes, 1,
                                       std::min(kMatVecUnroll, steps));
  Value last = indexConstant(b, loc, chunks - 1);
  auto partial = scf::IfOp::create(b, loc, TypeRange{type}, hasFeature,
                                   /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(partial.thenBlock());
    SmallVector<Value> inits(unroll, lanesZero);
    auto loop = scf::ForOp::create(
        b, loc, zero, indexConstant(b, loc, steps),
        indexConstant(b, loc, unroll), inits);
    b.setInsertionPointToStart(loop.getBody());
    SmallVector<Value> sums;
    for (int64_t u = 0; u < unroll; ++u) {
      Value j = arith::AddIOp::create(b, loc, loop.getInductionVar(),
                                      indexConstant(b, loc, u));
      Value c = arith::AddIOp::create(
          b, loc, slice,
          arith::MulIOp::create(b, loc, j, indexConstant(b, loc, slices)));
      Value i = arith::MulIOp::create(b, loc,
                                      arith::MinUIOp::create(b, loc, c, last),
                                      indexConstant(b, loc, lanes));
      Value weights = loadLanes(
          w, inOut ? ValueRange{i, feature} : ValueRange{feature, i},
          values.alignment(op.getWeight()));
      Value product = arith::MulFOp::create(b, loc, inputAt(i), weights);
      Value inside =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, c,
                                indexConstant(b, loc, chunks));
      sums.push_back(arith::AddFOp::create(
          b, loc, loop.getRegionIterArgs()[u],
          arith::SelectOp::create(b, loc, inside, product, lanesZero)));
    }
    scf::YieldOp::create(b, loc, sums);
    b.setInsertionPointAfter(loop);
    Value total = loop.getResult(0);
    for (int64_t u = 1; u < unroll; ++u)
      total = arith::AddFOp::create(b, loc, total, loop.getResult(u));
    scf::YieldOp::create(
        b, loc,
        ValueRange{vector::ReductionOp::create(
            b, loc, vector::CombiningKind::ADD, total)});
    b.setInsertionPointToStart(partial.elseBlock());
    scf::YieldOp::create(b, loc, ValueRange{fzero});
  }
  // [out, in]: a feature's slices are whole warps (lanes are neighbouring
  // slices), which add their lanes' sums by shuffles, so that the last step
  // adds slices / 32 partials instead of slices.
  int64_t stored = slices;
  if (!inOut && slices % kWarpSize == 0) {
    stored = slices / kWarpSize;
    Value sum = warpAllReduce(
        b, loc, partial.getResult(0),
        [&](Value p, Value q) { return addF(b, loc, p, q); });
    Value warpSlice = arith::DivUIOp::create(b, loc, slice,
                                             indexConstant(b, loc, kWarpSize));
    Value lane = arith::RemUIOp::create(b, loc, slice,
                                        indexConstant(b, loc, kWarpSize));
    emitIf(b, loc,
           arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lane, zero),
           [&] {
             memref::StoreOp::create(b, loc, sum, partials,
                                     ValueRange{warpSlice, column});
           });
  } else {
    memref::StoreOp::create(b, loc, partial.getResult(0), partials,
                            ValueRange{slice, column});
  }
  gpu::BarrierOp::create(b, loc);
  Value first = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, thread,
                                      indexConstant(b, loc, columns));
  Value firstWithFeature = arith::AndIOp::create(
      b, loc, first,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, thread,
                            range.count));
  emitIf(b, loc, firstWithFeature, [&] {
    Value sum = foldLoop(b, loc, zero, indexConstant(b, loc, stored), fzero,
                         [&](Value a, Value k) -> Value {
                           Value p = memref::LoadOp::create(
                               b, loc, partials, ValueRange{k, thread});
                           return arith::AddFOp::create(b, loc, a, p);
                         });
    Value o = arith::AddIOp::create(b, loc, range.begin, thread);
    memref::StoreOp::create(b, loc,
                            epilogue(b, loc, op, values, sum, zero, o, type),
                            out, ValueRange{zero, o});
  });
}
