//===- CheckpointTestBase.h - fixture shared by checkpoint reader tests ---===//
//
// A temporary directory to write checkpoints into, and the check that a
// reader's error is one line naming the file.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TEST_UNIT_CHECKPOINTTESTBASE_H
#define ATTN_TEST_UNIT_CHECKPOINTTESTBASE_H

#include "frontends/checkpoint/Checkpoint.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

namespace mlir::attn {

class CheckpointTestBase : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("attn-checkpoint", dir));
  }
  void TearDown() override { llvm::sys::fs::remove_directories(dir); }

  /// Writes `contents` to `fileName` in the temporary directory and returns
  /// its path.
  std::string writeFile(llvm::StringRef fileName, llvm::StringRef contents) {
    llvm::SmallString<128> path(dir);
    llvm::sys::path::append(path, fileName);
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    EXPECT_FALSE(ec) << ec.message();
    os << contents;
    return std::string(path);
  }

  /// Checks that opening `path` fails with one line naming the file and
  /// containing `phrase`.
  ::testing::AssertionResult openFails(llvm::StringRef path,
                                       llvm::StringRef phrase) {
    llvm::Expected<std::unique_ptr<Checkpoint>> checkpoint =
        openCheckpoint(path);
    if (checkpoint)
      return ::testing::AssertionFailure() << path.str() << " opened";
    std::string message = llvm::toString(checkpoint.takeError());
    llvm::StringRef text(message);
    if (!text.starts_with(path) || !text.contains(phrase) ||
        text.contains('\n'))
      return ::testing::AssertionFailure()
             << "message '" << message << "' is not one line starting with '"
             << path.str() << "' and containing '" << phrase.str() << "'";
    return ::testing::AssertionSuccess();
  }

  llvm::SmallString<128> dir;
};

} // namespace mlir::attn

#endif // ATTN_TEST_UNIT_CHECKPOINTTESTBASE_H
