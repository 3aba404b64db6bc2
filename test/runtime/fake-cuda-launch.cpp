//===- fake-cuda-launch.cpp - Runs one PTX kernel on the fake driver ------===//
//
//   fake-cuda-launch FILE.ptx KERNEL GX,GY,GZ BX,BY,BZ WORDS [SHARED]
//
// Loads FILE.ptx with the fake CUDA driver (FakeCuda.cpp, linked directly),
// launches KERNEL(.param .u64 out, .param .u64 words) on a grid of GX*GY*GZ
// blocks of BX*BY*BZ threads with SHARED bytes of dynamic shared memory,
// where `out` is a zeroed allocation of WORDS 32-bit words, and prints the
// words, 8 per line ("out[i]: v v v ..."). A failing driver call prints
// "error: <entry point>: <error name>" (and the JIT log for a load) and
// exits 1; the emulator has printed its diagnostic line before.
//
//===----------------------------------------------------------------------===//

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern "C" {
int cuInit(unsigned);
int cuGetErrorName(int, const char **);
int cuModuleLoadDataEx(void **, const void *, unsigned, int *, void **);
int cuModuleGetFunction(void **, void *, const char *);
int cuMemAlloc_v2(unsigned long long *, size_t);
int cuMemFree_v2(unsigned long long);
int cuMemsetD8Async(unsigned long long, unsigned char, size_t, void *);
int cuMemcpyDtoHAsync_v2(void *, unsigned long long, size_t, void *);
int cuLaunchKernel(void *, unsigned, unsigned, unsigned, unsigned, unsigned,
                   unsigned, unsigned, void *, void **, void **);
int cuModuleUnload(void *);
}

static void check(int result, const char *call) {
  if (result == 0)
    return;
  const char *name;
  cuGetErrorName(result, &name);
  printf("error: %s: %s\n", call, name);
  exit(1);
}

static bool parseDims(const char *text, unsigned dims[3]) {
  return sscanf(text, "%u,%u,%u", &dims[0], &dims[1], &dims[2]) == 3;
}

int main(int argc, char **argv) {
  unsigned grid[3], block[3];
  if ((argc != 6 && argc != 7) || !parseDims(argv[3], grid) ||
      !parseDims(argv[4], block)) {
    fprintf(stderr, "usage: fake-cuda-launch FILE.ptx KERNEL GX,GY,GZ "
                    "BX,BY,BZ WORDS [SHARED]\n");
    return 2;
  }
  std::ifstream file(argv[1]);
  std::stringstream text;
  text << file.rdbuf();
  std::string ptx = text.str();
  uint64_t words = strtoull(argv[5], nullptr, 0);
  unsigned shared = argc == 7 ? static_cast<unsigned>(atoi(argv[6])) : 0;

  check(cuInit(0), "cuInit");
  char log[512] = {};
  int options[] = {5 /* CU_JIT_ERROR_LOG_BUFFER */,
                   6 /* CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES */};
  void *values[] = {log, reinterpret_cast<void *>(sizeof(log))};
  void *module;
  int loaded = cuModuleLoadDataEx(&module, ptx.c_str(), 2, options, values);
  if (loaded != 0)
    printf("log: %s\n", log);
  check(loaded, "cuModuleLoadDataEx");
  void *function;
  check(cuModuleGetFunction(&function, module, argv[2]), "cuModuleGetFunction");
  unsigned long long out;
  check(cuMemAlloc_v2(&out, words * 4), "cuMemAlloc");
  check(cuMemsetD8Async(out, 0, words * 4, nullptr), "cuMemsetD8Async");
  void *params[] = {&out, &words};
  check(cuLaunchKernel(function, grid[0], grid[1], grid[2], block[0], block[1],
                       block[2], shared, nullptr, params, nullptr),
        "cuLaunchKernel");
  std::vector<uint32_t> host(words);
  check(cuMemcpyDtoHAsync_v2(host.data(), out, words * 4, nullptr),
        "cuMemcpyDtoHAsync");
  for (uint64_t i = 0; i < words; ++i)
    printf("%s%u%s",
           i % 8 == 0 ? ("out[" + std::to_string(i) + "]: ").c_str() : "",
           host[i], i % 8 == 7 || i + 1 == words ? "\n" : " ");
  check(cuMemFree_v2(out), "cuMemFree");
  check(cuModuleUnload(module), "cuModuleUnload");
  return 0;
}
