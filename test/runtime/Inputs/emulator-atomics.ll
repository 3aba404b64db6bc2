; The source of emulator-atomics-llc-sm80.ptx and -sm90.ptx, LLVM 22's
; NVPTX output as is:
;   llc -march=nvptx64 -mcpu=sm_80 -mattr=+ptx80 emulator-atomics.ll
;   llc -march=nvptx64 -mcpu=sm_90 -mattr=+ptx80 emulator-atomics.ll
; Each thread takes a ticket from three counters, out[192..194], with an
; atomicrmw add of acq_rel, seq_cst and monotonic ordering, and stores it
; at out[ticket], out[64 + ticket] and out[128 + ticket]. llc_generic's
; pointer stays generic: a select with a shared array (taken for n < 4,
; never here) hides its address space. llc_global's is a kernel pointer
; parameter, which LLVM makes a global one; it also reads its first
; counter back with an acquire load and stores whether the load saw its own
; ticket to out[195] with a monotonic store, between fences.
target triple = "nvptx64-nvidia-cuda"

@scratch = internal addrspace(3) global [4 x i32] undef

define ptx_kernel void @llc_generic(ptr %global, i64 %n) {
  %shared = addrspacecast ptr addrspace(3) @scratch to ptr
  %small = icmp ult i64 %n, 4
  %out = select i1 %small, ptr %shared, ptr %global
  %c0 = getelementptr i32, ptr %out, i64 192
  %c1 = getelementptr i32, ptr %out, i64 193
  %c2 = getelementptr i32, ptr %out, i64 194
  %t0 = atomicrmw add ptr %c0, i32 1 acq_rel
  %t1 = atomicrmw add ptr %c1, i32 1 seq_cst
  %t2 = atomicrmw add ptr %c2, i32 1 monotonic
  %i0 = zext i32 %t0 to i64
  %i1 = zext i32 %t1 to i64
  %i2 = zext i32 %t2 to i64
  %j1 = add i64 %i1, 64
  %j2 = add i64 %i2, 128
  %p0 = getelementptr i32, ptr %out, i64 %i0
  %p1 = getelementptr i32, ptr %out, i64 %j1
  %p2 = getelementptr i32, ptr %out, i64 %j2
  store i32 %t0, ptr %p0
  store i32 %t1, ptr %p1
  store i32 %t2, ptr %p2
  ret void
}

define ptx_kernel void @llc_global(ptr %out, i64 %n) {
  %c0 = getelementptr i32, ptr %out, i64 192
  %c1 = getelementptr i32, ptr %out, i64 193
  %c2 = getelementptr i32, ptr %out, i64 194
  %t0 = atomicrmw add ptr %c0, i32 1 acq_rel
  %t1 = atomicrmw add ptr %c1, i32 1 seq_cst
  %t2 = atomicrmw add ptr %c2, i32 1 monotonic
  %i0 = zext i32 %t0 to i64
  %i1 = zext i32 %t1 to i64
  %i2 = zext i32 %t2 to i64
  %j1 = add i64 %i1, 64
  %j2 = add i64 %i2, 128
  %p0 = getelementptr i32, ptr %out, i64 %i0
  %p1 = getelementptr i32, ptr %out, i64 %j1
  %p2 = getelementptr i32, ptr %out, i64 %j2
  store i32 %t0, ptr %p0
  store i32 %t1, ptr %p1
  store i32 %t2, ptr %p2
  fence syncscope("device") acq_rel
  %seen = load atomic i32, ptr %c0 acquire, align 4
  %saw = icmp ugt i32 %seen, %t0
  %flag = zext i1 %saw to i32
  %f = getelementptr i32, ptr %out, i64 195
  store atomic i32 %flag, ptr %f monotonic, align 4
  fence seq_cst
  ret void
}
