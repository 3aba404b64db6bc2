//===- ReplayMain.cpp - Run a fuzz target on files, without libFuzzer -----===//
//
// attn-fuzz-<name>-replay PATH...
//
// Calls the target's LLVMFuzzerInitialize (if it has one), then its
// LLVMFuzzerTestOneInput once per file: each PATH is a file or a folder
// whose files (not those starting with '.') are run in name order. A bug
// the input triggers aborts, as under libFuzzer; otherwise it prints how
// many inputs ran and exits with 0.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <dirent.h>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/stat.h>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int *argc,
                                                          char ***argv);

static void collect(const std::string &path, std::vector<std::string> &files) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
    std::exit(1);
  }
  if (!S_ISDIR(info.st_mode)) {
    files.push_back(path);
    return;
  }
  std::vector<std::string> names;
  if (DIR *dir = opendir(path.c_str())) {
    while (const dirent *entry = readdir(dir))
      if (entry->d_name[0] != '.')
        names.push_back(entry->d_name);
    closedir(dir);
  }
  std::sort(names.begin(), names.end());
  for (const std::string &name : names)
    collect(path + "/" + name, files);
}

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize)
    LLVMFuzzerInitialize(&argc, &argv);
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i)
    collect(argv[i], files);
  for (const std::string &file : files) {
    std::ifstream stream(file, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(stream)),
                               std::istreambuf_iterator<char>());
    // A copy of exactly the input's size, so that AddressSanitizer sees a
    // read past its end.
    uint8_t *data = new uint8_t[bytes.size()];
    std::copy(bytes.begin(), bytes.end(), data);
    LLVMFuzzerTestOneInput(data, bytes.size());
    delete[] data;
  }
  std::printf("replayed %zu inputs\n", files.size());
  return 0;
}
