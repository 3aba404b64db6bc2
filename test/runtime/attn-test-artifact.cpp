//===- attn-test-artifact.cpp - Write the runtime tests' bigram model -----===//
//
// attn-test-artifact OUT.attn [--context N] [--history] [--overwrite]
//                    [--in-place] [--external] [--token ID TEXT]... [--cuda | --cuda-only]
//
// Writes the tiny bigram model of ArtifactBuilder.h, so that lit tests can
// run attn-run on a real artifact before the compiler emits them (with
// --history, the variant whose KV cache counts the tokens seen; with
// --overwrite, a last dispatch rewrites what earlier ones read; with
// --in-place, the cache rows are a Dispatch update). With
// --external the weights go to OUT.attn.safetensors next to it; --token
// changes the text of a token; --cuda adds a CudaKernels table (PTX stubs,
// see cudaKernelsFor) and --cuda-only also leaves out the CPU kernels.
//
//===----------------------------------------------------------------------===//

#include "test/runtime/ArtifactBuilder.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

int main(int argc, char **argv) {
  const char *out = nullptr;
  int64_t context = 16;
  bool external = false;
  bool cuda = false, cpu = true, history = false, overwrite = false,
       inPlace = false;
  std::vector<std::string> vocab = attn::test::kBigramVocab;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--context") == 0 && i + 1 < argc) {
      context = std::atoll(argv[++i]);
    } else if (std::strcmp(argv[i], "--external") == 0) {
      external = true;
    } else if (std::strcmp(argv[i], "--history") == 0) {
      history = true;
    } else if (std::strcmp(argv[i], "--overwrite") == 0) {
      overwrite = true;
    } else if (std::strcmp(argv[i], "--in-place") == 0) {
      inPlace = true;
    } else if (std::strcmp(argv[i], "--cuda") == 0) {
      cuda = true;
    } else if (std::strcmp(argv[i], "--cuda-only") == 0) {
      cuda = true;
      cpu = false;
    } else if (std::strcmp(argv[i], "--token") == 0 && i + 2 < argc &&
               std::atoi(argv[i + 1]) >= 0 &&
               std::atoi(argv[i + 1]) < (int)vocab.size()) {
      vocab[std::atoi(argv[i + 1])] = argv[i + 2];
      i += 2;
    } else if (!out && argv[i][0] != '-') {
      out = argv[i];
    } else {
      std::fprintf(stderr, "usage: attn-test-artifact OUT.attn [--context N] "
                           "[--history] [--overwrite] [--in-place] "
                           "[--external] "
                           "[--token ID TEXT]... "
                           "[--cuda | --cuda-only]\n");
      return 2;
    }
  }
  if (!out) {
    std::fprintf(stderr, "attn-test-artifact: no output file\n");
    return 2;
  }
  try {
    attn::test::ArtifactSpec spec =
        attn::test::bigramModel(context, history, overwrite, inPlace);
    spec.vocab = vocab;
    spec.cpu = cpu;
    spec.cuda = cuda;
    if (cuda)
      spec.cudaKernels = attn::test::cudaKernelsFor(spec);
    std::string path = out;
    if (external) {
      // Relative to the artifact's directory.
      std::string name = path.substr(path.rfind('/') + 1) + ".safetensors";
      spec.externalWeights = name;
      attn::test::BuiltArtifact built = attn::test::buildArtifact(spec);
      attn::test::writeFile(path + ".safetensors", built.safetensors);
      attn::test::writeFile(path, built.artifact);
    } else {
      attn::test::writeFile(path, attn::test::buildArtifact(spec).artifact);
    }
  } catch (const std::exception &error) {
    std::fprintf(stderr, "attn-test-artifact: %s\n", error.what());
    return 1;
  }
  return 0;
}
