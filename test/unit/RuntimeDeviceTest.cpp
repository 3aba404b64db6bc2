//===- RuntimeDeviceTest.cpp - Kernel tables and device selection ---------===//
//
// The loader's checks of the CpuKernels and CudaKernels tables (either may be
// absent, not both), and what a session on each device says when it cannot
// run. The CUDA backend's no-GPU paths are checked where there is no GPU;
// on a machine with one, those tests are skipped (scripts/gpu-check.sh runs
// the backend there).
//
//===----------------------------------------------------------------------===//

#include "attn/runtime.h"
#include "runtime/CpuSession.h"
#include "runtime/cuda/CudaDriver.h"
#include "runtime/cuda/CudaSession.h"
#include "test/runtime/RuntimeTest.h"

#include <gmock/gmock.h>

using namespace attn::runtime;
using namespace attn::test;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {

class RuntimeDeviceTest : public RuntimeTest {
protected:
  /// The bigram model with both kernel tables.
  static ArtifactSpec withCuda() {
    ArtifactSpec spec = bigramModel();
    spec.cuda = true;
    spec.cudaKernels = cudaKernelsFor(spec);
    return spec;
  }

  /// The bigram model for CUDA only.
  static ArtifactSpec cudaOnly() {
    ArtifactSpec spec = withCuda();
    spec.cpu = false;
    return spec;
  }

  /// The message of creating a session on `device` for `spec`.
  std::string sessionError(const ArtifactSpec &spec, Device device) {
    std::shared_ptr<const Artifact> artifact = open(spec);
    if (!artifact)
      return "<not loaded>";
    SessionOptions options;
    options.device = device;
    std::unique_ptr<Session> session;
    Status status = Session::create(artifact, options, session);
    EXPECT_FALSE(status.ok()) << "a session started on "
                              << deviceName(device);
    return status.message();
  }

  std::string model() const { return path("model.attn"); }
};

TEST_F(RuntimeDeviceTest, ReadsTheOptionalLaunchLists) {
  ArtifactSpec spec = withCuda();
  spec.cudaKernels.gridY = {1, 16, 1, 1};
  spec.cudaKernels.readsStep = {1, 0, 1, 0};
  auto artifact = open(spec);
  ASSERT_TRUE(artifact);
  const CudaPlan *cuda = artifact->cuda();
  ASSERT_NE(cuda, nullptr);
  EXPECT_EQ(cuda->kernels[kMatvec].gridY, 16u);
  EXPECT_FALSE(cuda->kernels[kMatvec].readsStep);
  EXPECT_TRUE(cuda->kernels[0].readsStep);
}

TEST_F(RuntimeDeviceTest, LoadsBothKernelTables) {
  auto artifact = open(withCuda());
  ASSERT_TRUE(artifact);
  EXPECT_TRUE(artifact->hasCpuKernels());
  const CudaPlan *cuda = artifact->cuda();
  ASSERT_NE(cuda, nullptr);
  ASSERT_EQ(cuda->kernels.size(), 4u);
  EXPECT_EQ(cuda->kernels[kMatvec].name, "attn_test_matvec");
  EXPECT_EQ(cuda->kernels[kMatvec].blockSize, 128u);
  EXPECT_EQ(cuda->kernels[kMatvec].itemsPerBlock, 1u);
  // Absent optional lists: one block along y, S and T passed.
  EXPECT_EQ(cuda->kernels[kMatvec].gridY, 1u);
  EXPECT_TRUE(cuda->kernels[kMatvec].readsStep);
  ASSERT_EQ(cuda->modules.size(), 2u);
  EXPECT_EQ(cuda->modules[0].arch, "sm_80");
  EXPECT_EQ(cuda->modules[0].computeCapability, 80);
  EXPECT_EQ(cuda->modules[1].computeCapability, 90);
  EXPECT_THAT(std::string(cuda->modules[1].ptx), HasSubstr(".target sm_90"));
}

TEST_F(RuntimeDeviceTest, AnArtifactWithoutCudaKernelsHasNoCudaPlan) {
  auto artifact = open(bigramModel());
  ASSERT_TRUE(artifact);
  EXPECT_EQ(artifact->cuda(), nullptr);
  EXPECT_EQ(sessionError(bigramModel(), Device::Cuda),
            model() + ": the artifact has no CUDA kernels (compile it with "
                      "attnc --target=cuda or --target=all)");
}

TEST_F(RuntimeDeviceTest, ACudaOnlyArtifactLoadsButDoesNotRunOnTheCpu) {
  auto artifact = open(cudaOnly());
  ASSERT_TRUE(artifact);
  EXPECT_FALSE(artifact->hasCpuKernels());
  ASSERT_NE(artifact->cuda(), nullptr);
  // Dispatch.kernel indexes the CUDA list when there is no CPU one.
  EXPECT_EQ(artifact->cuda()->kernels.size(), 4u);
  std::string noCpu = model() + ": the artifact has no CPU kernels (it was "
                                "compiled for CUDA only); run it on a CUDA "
                                "device";
  EXPECT_EQ(sessionError(cudaOnly(), Device::Cpu), noCpu);
  if (!cuda::CudaSession::available())
    EXPECT_EQ(sessionError(cudaOnly(), Device::Auto), noCpu);
}

TEST_F(RuntimeDeviceTest, AutoRunsOnTheCpuWithoutAGpu) {
  if (cuda::CudaSession::available())
    GTEST_SKIP() << "a GPU is present";
  std::shared_ptr<const Artifact> artifact = open(withCuda());
  ASSERT_TRUE(artifact);
  std::unique_ptr<Session> session;
  ASSERT_TRUE(Session::create(artifact, SessionOptions(), session).ok());
  EXPECT_EQ(session->device(), Device::Cpu);
  int32_t token = kBigramVocab.size() - 2; // "hello"
  const float *logits;
  ASSERT_TRUE(session->run("prefill", &token, 1, 0, logits).ok());
  EXPECT_EQ(logits[bigramNext(token)], 10.0f);
}

TEST_F(RuntimeDeviceTest, CudaWithoutADriverIsOneLine) {
  if (cuda::CudaSession::available())
    GTEST_SKIP() << "a GPU is present";
  std::string message = sessionError(withCuda(), Device::Cuda);
  // Either no libcuda.so.1, or a driver that finds no device.
  EXPECT_THAT(message, StartsWith(model() + ": "));
  EXPECT_TRUE(message.find("cannot load the CUDA driver (libcuda.so.1)") !=
                  std::string::npos ||
              message.find("cuInit: CUDA_ERROR_") != std::string::npos)
      << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
}

TEST_F(RuntimeDeviceTest, TheCheckMacroNamesTheCallTheErrorAndTheLine) {
  using cuda::checkResult;
  EXPECT_TRUE(ATTN_CU(cuda::CUDA_SUCCESS).ok());
  // Paths are shown from the repository's runtime/ folder on.
  Status status =
      checkResult(100, "driver.cuInit(0)", "/src/runtime/cuda/X.cpp", 57);
  EXPECT_EQ(status.code(), StatusCode::Unsupported);
  // Without a loaded driver the error has no name to look up.
  EXPECT_THAT(status.message(),
              ::testing::AnyOf("cuInit: CUresult 100: unknown error "
                               "(runtime/cuda/X.cpp:57)",
                               "cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable "
                               "device is detected (runtime/cuda/X.cpp:57)"));
  EXPECT_EQ(checkResult(2, "d.cuMemAlloc(&p, n)", "x/runtime/cuda/A.cpp", 7)
                .code(),
            StatusCode::ResourceExhausted);
  EXPECT_THAT(
      checkResult(2, "d.cuMemAlloc(&p, n)", "x/runtime/cuda/A.cpp", 7)
          .message(),
      AllOf(StartsWith("cuMemAlloc: "), HasSubstr("(runtime/cuda/A.cpp:7)")));
  // Through a pointer to the table, and with "cu" inside the arguments.
  EXPECT_THAT(checkResult(2, "driver->cuDeviceGetCount(&count)",
                          "runtime/cuda/A.cpp", 9)
                  .message(),
              StartsWith("cuDeviceGetCount: "));
  EXPECT_THAT(checkResult(2, "d.cuMemcpyHtoD(cursor, source, n)",
                          "runtime/cuda/A.cpp", 9)
                  .message(),
              StartsWith("cuMemcpyHtoD: "));
}

TEST_F(RuntimeDeviceTest, RefusesAnArtifactWithoutKernels) {
  ArtifactSpec spec = bigramModel();
  spec.cpu = false;
  EXPECT_EQ(openError(spec),
            model() + ": the artifact has neither CPU nor CUDA kernels");
}

TEST_F(RuntimeDeviceTest, RefusesInconsistentCudaTables) {
  struct Case {
    void (*change)(ArtifactSpec &);
    const char *message;
  };
  const Case cases[] = {
      {[](ArtifactSpec &s) { s.cudaKernels.kernelNames.pop_back(); },
       "cuda: 3 kernels, but the CPU kernels are 4"},
      {[](ArtifactSpec &s) { s.cudaKernels.kernelNames[1] = "other"; },
       "cuda: kernel 'other' is CPU kernel 'attn_test_matvec'; the two lists must "
       "agree"},
      {[](ArtifactSpec &s) { s.cudaKernels.blockSize.pop_back(); },
       "cuda: 4 kernels but 3 entries in 'block_size'"},
      {[](ArtifactSpec &s) { s.cudaKernels.sharedMemoryBytes.clear(); },
       "cuda: 4 kernels but 0 entries in 'shared_memory_bytes'"},
      {[](ArtifactSpec &s) { s.cudaKernels.blockSize[2] = 0; },
       "cuda: kernel 'attn_test_copy_rows': block_size 0 is not in [1, 1024]"},
      {[](ArtifactSpec &s) { s.cudaKernels.blockSize[2] = 2048; },
       "cuda: kernel 'attn_test_copy_rows': block_size 2048 is not in [1, 1024]"},
      {[](ArtifactSpec &s) { s.cudaKernels.itemsPerBlock[0] = 0; },
       "cuda: kernel 'attn_test_embedding': items_per_block is 0"},
      {[](ArtifactSpec &s) { s.cudaKernels.gridY = {1, 1, 1}; },
       "cuda: 4 kernels but 3 entries in 'grid_y'"},
      {[](ArtifactSpec &s) { s.cudaKernels.gridY = {1, 0, 1, 1}; },
       "cuda: kernel 'attn_test_matvec': grid_y 0 is not in [1, 65535]"},
      {[](ArtifactSpec &s) { s.cudaKernels.gridY = {1, 1, 65536, 1}; },
       "cuda: kernel 'attn_test_copy_rows': grid_y 65536 is not in [1, "
       "65535]"},
      {[](ArtifactSpec &s) { s.cudaKernels.readsStep = {1, 0}; },
       "cuda: 4 kernels but 2 entries in 'reads_step'"},
      {[](ArtifactSpec &s) { s.cudaKernels.workspaceBytes = {0}; },
       "cuda: 4 kernels but 1 entries in 'workspace_bytes'"},
      {[](ArtifactSpec &s) {
         s.cudaKernels.workspaceBytes = {0, 0, 0, uint64_t(1) << 40};
       },
       "cuda: kernel 'attn_test_add_row_sums': workspace_bytes 1099511627776 is "
       "more than 1 GiB"},
      {[](ArtifactSpec &s) { s.cudaKernels.modules[1].arch = "sm_90a"; },
       "cuda: module arch 'sm_90a' is not sm_<number>"},
      {[](ArtifactSpec &s) { s.cudaKernels.modules[0].arch = "compute_80"; },
       "cuda: module arch 'compute_80' is not sm_<number>"},
      {[](ArtifactSpec &s) { s.cudaKernels.modules[0].ptx.clear(); },
       "cuda: the sm_80 module has no PTX"},
      {[](ArtifactSpec &s) { s.cudaKernels.modules.clear(); },
       "cuda: no PTX modules"},
  };
  for (const Case &c : cases) {
    ArtifactSpec spec = withCuda();
    c.change(spec);
    EXPECT_EQ(openError(spec), model() + ": " + c.message);
  }
}

TEST_F(RuntimeDeviceTest, TheCApiNamesAndReportsTheDevice) {
  EXPECT_STREQ(attn_device_name(ATTN_DEVICE_AUTO), "auto");
  EXPECT_STREQ(attn_device_name(ATTN_DEVICE_CPU), "cpu");
  EXPECT_STREQ(attn_device_name(ATTN_DEVICE_CUDA), "cuda");
  attn_session_options_t options;
  attn_session_options_initialize(&options);
  EXPECT_EQ(options.device, ATTN_DEVICE_AUTO);

  std::string file = write(bigramModel());
  attn_artifact_t *artifact = nullptr;
  ASSERT_EQ(attn_artifact_open(file.c_str(), &artifact), nullptr);
  attn_session_t *session = nullptr;
  // No CUDA kernels: auto is the CPU.
  ASSERT_EQ(attn_session_create(artifact, &options, &session), nullptr);
  EXPECT_EQ(attn_session_device(session), ATTN_DEVICE_CPU);
  attn_session_free(session);

  options.device = static_cast<attn_device_t>(3);
  session = nullptr;
  attn_status_t status = attn_session_create(artifact, &options, &session);
  EXPECT_EQ(attn_status_code(status), ATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(attn_status_message(status), "unknown device 3");
  EXPECT_EQ(session, nullptr);
  attn_status_free(status);

  options.device = ATTN_DEVICE_CUDA;
  status = attn_session_create(artifact, &options, &session);
  EXPECT_EQ(attn_status_code(status), ATTN_STATUS_UNSUPPORTED);
  attn_status_free(status);
  attn_artifact_free(artifact);
}

} // namespace
