//===- RuntimeTest.h - Fixture for the runtime's unit tests -----*- C++ -*-===//
//
// Each test gets a scratch directory for the artifacts it writes, and helpers
// to write a spec and open it.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TEST_RUNTIME_RUNTIMETEST_H
#define ATTN_TEST_RUNTIME_RUNTIMETEST_H

#include "runtime/Artifact.h"
#include "test/runtime/ArtifactBuilder.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

namespace attn::test {

class RuntimeTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "attn-runtime-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    directory_ = pattern;
  }

  void TearDown() override { std::filesystem::remove_all(directory_); }

  /// The path of `name` in the test's directory.
  std::string path(const std::string &name) const {
    return directory_ + "/" + name;
  }

  /// Writes `spec` to `name` (and its external weights next to it); returns
  /// the artifact's path.
  std::string write(const ArtifactSpec &spec,
                    const std::string &name = "model.attn") {
    BuiltArtifact built = buildArtifact(spec);
    if (!spec.externalWeights.empty())
      writeFile(path(spec.externalWeights), built.safetensors);
    writeFile(path(name), built.artifact);
    return path(name);
  }

  /// Writes and opens `spec`, failing the test if it does not load.
  std::shared_ptr<const runtime::Artifact> open(const ArtifactSpec &spec) {
    std::shared_ptr<const runtime::Artifact> artifact;
    runtime::Status status = runtime::Artifact::open(write(spec), artifact);
    EXPECT_TRUE(status.ok()) << status.message();
    return artifact;
  }

  /// The message of the error that opening the file at `file` gives.
  static std::string openError(const std::string &file) {
    std::shared_ptr<const runtime::Artifact> artifact;
    runtime::Status status = runtime::Artifact::open(file, artifact);
    EXPECT_FALSE(status.ok()) << file << " loaded";
    return status.message();
  }

  /// The message of the error that opening `spec` gives.
  std::string openError(const ArtifactSpec &spec) {
    return openError(write(spec));
  }

  std::string directory_;
};

} // namespace attn::test

#endif // ATTN_TEST_RUNTIME_RUNTIMETEST_H
