//===- Passes.td - attn code generation passes --------------*- tablegen -*-===//

#ifndef ATTN_COMPILER_CODEGEN_PASSES_TD
#define ATTN_COMPILER_CODEGEN_PASSES_TD

include "mlir/Pass/PassBase.td"

def MemRefCopyToLinalg : Pass<"attn-memref-copy-to-linalg"> {
  let summary = "Turn memref.copy into linalg.copy so that it becomes loops";
  let description = [{
    The LLVM lowering of a `memref.copy` between strided views calls
    `memrefCopy` from MLIR's C runner utilities, a library the attn runtime
    does not link. As a `linalg.copy` the copy becomes plain loops in the
    kernel instead.

    Before:
    ```mlir
    memref.copy %src, %dst : memref<1x?x32xf32, strided<[2048, 32, 1]>> to memref<1x?x32xf32, strided<[2048, 32, 1], offset: ?>>
    ```
    After:
    ```mlir
    linalg.copy ins(%src : memref<1x?x32xf32, strided<[2048, 32, 1]>>) outs(%dst : memref<1x?x32xf32, strided<[2048, 32, 1], offset: ?>>)
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def TileContractions : Pass<"attn-tile-contractions"> {
  let summary = "Block the rows of matmul-like contractions for cache reuse";
  let description = [{
    A contraction with loops (rows, k, columns), such as `attn.linear` with
    a GPT-2 `[in, out]` weight after `attn-lower-to-linalg`, reads the whole
    weight once per row: a 512-token prefill streams a 768x2304 weight 512
    times. This pass tiles the row loop by `row-tile` and moves the
    reduction outside the rows of a tile, so that each weight row is loaded
    once per tile and reused from L1 for all of its rows, with the columns
    still innermost and contiguous.

    Before (loops s, i, o):
    ```mlir
    %r = linalg.generic {iterator_types = ["parallel", "reduction", "parallel"]} ...
    ```
    After:
    ```mlir
    %r = scf.for %s0 = %c0 to %rows step %c16 iter_args(%acc = %init) {
      // loops i, s, o over rows [s0, s0 + 16)
      %t = linalg.generic {iterator_types = ["reduction", "parallel", "parallel"]} ...
    }
    ```
  }];
  let options = [
    Option<"rowTile", "row-tile", "int64_t", /*default=*/"16",
           "Rows per tile">,
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
}

def ApproximateMath : Pass<"attn-approximate-math"> {
  let summary = "Replace math.tanh and math.exp by polynomial approximations";
  let description = [{
    `math.tanh` (GELU) and `math.exp` (softmax, attention) otherwise become
    calls to libm's `tanhf` and `expf`: a call per element, which keeps the
    loops around them scalar. GELU alone then took a quarter of a GPT-2
    prefill. MLIR's polynomial approximations (range reduction, then a
    polynomial; exact at 0, and exp of -inf is 0, as the online softmax
    needs) are plain arithmetic that LLVM vectorizes. Their error, a few
    ulps, is far inside the 1e-4 the models are held to.

    Before:
    ```mlir
    %t = math.tanh %x : f32
    ```
    After:
    ```mlir
    // clamp, then a rational polynomial of %x in arith ops
    %t = arith.divf %p, %q : f32
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

def PromoteKernelAllocs : Pass<"attn-promote-kernel-allocs",
                               "::mlir::func::FuncOp"> {
  let summary = "Put a kernel's small static temporaries on the stack";
  let description = [{
    A kernel's tile buffers (the flash kernel's [key-tile] scores and
    [value-dim] accumulator) are allocated once at its entry and threaded
    through its loops. Upstream `promote-buffers-to-stack` keeps them on the
    heap because they flow through `scf.yield`; but a kernel returns nothing,
    so no buffer it allocates can outlive its frame. This pass turns every
    `memref.alloc` of static shape and at most `max-bytes` bytes in the entry
    block of a function without results into a `memref.alloca` (and drops
    its deallocations): no `malloc` per dispatch. Run it after bufferization,
    before the deallocation pipeline.

    Before:
    ```mlir
    func.func private @k6_fused_attention_impl(...) {
      %scores = memref.alloc() {alignment = 64 : i64} : memref<64xf32>
      %r = scf.for ... iter_args(%s = %scores) -> (memref<64xf32>) { ... }
    ```
    After:
    ```mlir
    func.func private @k6_fused_attention_impl(...) {
      %scores = memref.alloca() {alignment = 64 : i64} : memref<64xf32>
      %r = scf.for ... iter_args(%s = %scores) -> (memref<64xf32>) { ... }
    ```
  }];
  let options = [
    Option<"maxBytes", "max-bytes", "int64_t", /*default=*/"65536",
           "Largest buffer put on the stack">,
  ];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def RegisterTileContractions : Pass<"attn-register-tile-contractions"> {
  let summary = "Compute matmul output tiles in registers across the k loop";
  let description = [{
    A linear with a `[out, in]` weight lowers to loops (s, o, k): one dot
    product per output element, two loads per multiply-add, and each row of
    X and W reloaded for every output. This pass splits the output into
    `row-tile` x `column-tile` tiles and computes each tile in one k loop
    whose accumulators are loop-carried scalars: each loaded element of X is
    used `column-tile` times and each of W `row-tile` times. LLVM's loop
    vectorizer turns the k loop into vector loads and as many vector
    accumulators as the tile has elements, summed once at the end (the
    body's `reassoc` fast-math flag allows it). The rows past the last full
    tile (all of a one-token decode) run in 1 x `remainder-column-tile`
    tiles: one load of x per several weight rows, and several weight streams
    in flight. Columns past the last full tile keep the original loops.

    The tiles run a block of columns at a time, as many as
    `column-block-bytes` of weight rows hold, for every row tile: the block
    stays in L2 while the rows go by, where a row-major order streamed the
    whole weight from L3 or memory once per row tile (GPT-2 124M, 512-token
    prefill on Zen 5: c_fc 88 -> 78 ms, c_attn 61 -> 57 ms). Within a row
    tile the k loop runs in chunks of `k-block`, each over all the block's
    column tiles, so that the tile's chunk of X stays in L1 from one column
    tile to the next; the accumulators pass through the output between
    chunks (the 3072-deep MLP c_proj in the same prefill: 113 -> 79 ms).

    It matches `linalg.generic` on memrefs with maps (s, k), (o, k) ->
    (s, o), iterators (parallel, parallel, reduction), and inputs whose rows
    are contiguous; the body (multiply-add, with a widening of f16/bf16
    weights) is cloned per tile element.

    Before:
    ```mlir
    linalg.generic {indexing_maps = [(s, o, k) -> (s, k), (s, o, k) -> (o, k), (s, o, k) -> (s, o)],
                    iterator_types = ["parallel", "parallel", "reduction"]}
        ins(%x, %w : memref<?x768xf32, strided<[768, 1]>>, memref<2304x768xf32, strided<[768, 1]>>)
        outs(%c : memref<?x2304xf32, strided<[2304, 1]>>) { ... }
    ```
    After (row-tile 4, column-tile 4):
    ```mlir
    scf.for %b0 = %c0 to %fullCols step %blockCols {
     scf.for %s0 = %c0 to %fullRows step %c4 {
     scf.for %k0 = %c0 to %c768 step %c1024 {
      scf.for %o0 = %b0 to %blockEnd step %c4 {
        %acc0 = memref.load %c[%s0, %o0] ...      // 16 accumulators
        %r:16 = scf.for %k = %k0 to %kEnd step %c1 iter_args(%a0 = %acc0, ...) {
          %x0 = memref.load %x[%s0, %k] ...       // 4 + 4 loads, 16 multiply-adds
        }
        memref.store %r#0, %c[%s0, %o0] ...
      }
     }
     }
    }
    linalg.generic ...   // columns [fullCols, cols) of rows [0, fullRows)
    ...                  // rows [fullRows, rows), in 1 x 8 tiles
    ```
  }];
  let options = [
    Option<"rowTile", "row-tile", "int64_t", /*default=*/"4",
           "Output rows per register tile">,
    Option<"columnTile", "column-tile", "int64_t", /*default=*/"4",
           "Output columns per register tile">,
    Option<"rowRemainderColumnTile", "remainder-column-tile", "int64_t",
           /*default=*/"8",
           "Output columns per 1-row tile for the rows past the last full "
           "tile">,
    Option<"columnBlockBytes", "column-block-bytes", "int64_t",
           /*default=*/"524288",
           "Weight bytes per block of columns, which every row tile reuses "
           "(about half a core's L2)">,
    Option<"kBlock", "k-block", "int64_t", /*default=*/"1024",
           "Reduction elements per chunk, which a row tile's column tiles "
           "share from L1">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
}

def KernelsToGPU : Pass<"attn-kernels-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Rewrite the planner's kernels as GPU kernels with the "
                "attn_memref launch ABI";
  let description = [{
    Replaces every planned kernel, `kN_<op>_impl` (an attn op on tensor
    views of memref bindings over work items [begin, end)) and its C entry
    `kN_<op>`, by a `gpu.func @kN_<op>` in `gpu.module @attn_kernels` with
    the CUDA ABI of `runtime/schema/artifact.fbs`: a device pointer to the
    dispatch's `attn_memref` array, S, T, the number of work items and a
    device pointer to the dispatch's workspace.
    Block (b, y) handles work items [b * items_per_block, min(work, (b + 1)
    * items_per_block)) with `block-size` threads (linears: 256, the flash
    kernel: at most 64),
    y < `attn.grid_y` splitting their tiles. The kernels compute what
    `attn-lower-to-linalg` computes for the CPU, element by element in f32:

    - elementwise ops, gathers, head split/merge, KV cache writes and the
      unfused attention's contractions: one output element per thread
      iteration, the last axis across neighbouring threads;
    - layer norms and softmaxes: one row per warp, reductions by shuffles;
    - `attn.linear`: a matrix product tiled through shared memory (64
      features per block, 64 rows and 16 reduction steps per tile, the row
      tiles spread over 16 blocks along y) on tensor cores (mma.sync
      m16n8k8 in 3xTF32: near-f32 accuracy) or, with `tensor-cores=false`, 4 x 4
      outputs per thread on the f32 pipelines; or for
      one row (decode) a matrix-vector product with the reduction split
      across the block (with a norm, the block first normalizes the row
      into shared memory), an [out, in] weight read 16 bytes per load
      (`vector.load`) where its binding's `attn.alignment` and its row
      length allow;
    - `attn.fused_attention`: a flash kernel, a block per (head, group of
      64-query tiles), one query per thread, keys and values in tiles
      through shared memory, the online
      softmax in registers; for one query (decode) the keys spread over the
      block and the softmax states merge by shuffles and shared memory;
      with fewer than 128 heads each head's keys also split over blocks
      along y (flash-decoding), the last block of a head to finish merging
      the blocks' states from the workspace.

    Each kernel carries its launch geometry: `known_block_size`,
    `attn.items_per_block`, `attn.shared_memory_bytes` (dynamic shared
    memory; the tiles are static) and, where above 1, `attn.grid_y`; and
    where it needs one, `attn.workspace_bytes`.

    Before:
    ```mlir
    func.func private @k1_gelu_impl(%in: memref<?x16xf32, strided<[16, 1]>>,
        %out: memref<?x16xf32, strided<[16, 1]>>, %S: index, %T: index,
        %begin: index, %end: index) {
      ... attn.gelu ... bufferization.materialize_in_destination ...
    }
    func.func @k1_gelu(%bindings: !llvm.ptr, %S: i64, %T: i64, %begin: i64,
                       %end: i64) { ... }
    ```
    After:
    ```mlir
    gpu.module @attn_kernels {
      gpu.func @k1_gelu(%bindings: !llvm.ptr, %S: i64, %T: i64, %work: i64,
                        %workspace: !llvm.ptr)
          kernel attributes {attn.items_per_block = 16 : i64,
                             attn.shared_memory_bytes = 0 : i64,
                             known_block_size = array<i32: 256, 1, 1>} {
        // loads of the attn_memrefs, then
        scf.for %e = %thread to %n step %c256 { ... math.tanh ... }
        gpu.return
      }
    }
    ```
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256",
           "Threads per block (a power of two in [32, 1024])">,
    Option<"tensorCores", "tensor-cores", "bool", /*default=*/"true",
           "Matrix products on tensor cores (mma.sync, 3xTF32; sm_80 and "
           "newer) rather than the f32 pipelines">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::NVVM::NVVMDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect"];
}

def GPUMathToNVVM : Pass<"attn-gpu-math-to-nvvm"> {
  let summary = "Lower f32 math.exp, math.tanh and math.sqrt to PTX "
                "instructions instead of libdevice calls";
  let description = [{
    `convert-gpu-to-nvvm` lowers math ops to calls into libdevice
    (`__nv_expf`, `__nv_tanhf`, `__nv_sqrtf`), a bitcode library that only
    a CUDA toolkit installs; PTX that calls it cannot be loaded without it
    being linked. The attn kernels use only these three functions on f32,
    so this pass gives them PTX instructions: `exp(x)` is
    `ex2.approx.ftz.f32(x * log2(e))` (as CUDA's `__expf`), `tanh` is
    expanded to `exp` with its sign kept, `sqrt` is the correctly rounded
    `sqrt.rn.f32`. Run it inside `gpu.module` before `convert-gpu-to-nvvm`.

    Before:
    ```mlir
    %y = math.exp %x : f32
    ```
    After:
    ```mlir
    %c = arith.constant 1.44269502 : f32
    %0 = arith.mulf %x, %c : f32
    %y = nvvm.inline_ptx "ex2.approx.ftz.f32 $0, $1;" ro(%0 : f32) -> f32
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::NVVM::NVVMDialect"];
}

#endif // ATTN_COMPILER_CODEGEN_PASSES_TD
