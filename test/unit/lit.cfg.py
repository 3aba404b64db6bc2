# -*- Python -*-
# C++ unit tests, run by lit in the GoogleTest format.

import os

import lit.formats

config.name = "attn-unit"
config.suffixes = []
config.test_source_root = os.path.join(config.attn_obj_root, "test", "unit")
config.test_exec_root = config.test_source_root
config.test_format = lit.formats.GoogleTest(".", "Tests")

# In the sanitizer build (scripts/test.sh --sanitize) LLVM's headers,
# inlined into our instrumented code, poison allocator slabs that the
# uninstrumented libLLVM/libMLIR then fill without unpoisoning: a
# use-after-poison false positive wherever a slab happens to be started by
# our code (scripts/fuzz.sh says the same). Heap, stack and UB checks stay.
config.environment["ASAN_OPTIONS"] = (
    os.environ.get("ASAN_OPTIONS", "") + ":allow_user_poisoning=0").lstrip(":")
