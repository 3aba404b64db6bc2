//===- PtxEmulator.cpp - Runs PTX kernels on the CPU, checking them -------===//
//
// Parsing (a lexer, a statement parser, then a decoder from the parsed
// statements to Instr) and execution (Runner: blocks, threads, the
// synchronization points) of PtxEmulator.h.
//
//===----------------------------------------------------------------------===//

#include "PtxEmulator.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <unordered_map>

namespace attn::ptxemu {

/// The inter-block race check's record of a 4-byte word of global memory,
/// or of a byte (see Runner::globalRaceCheck). Each field is an access: a
/// tick of the race clock (Allocations::clock_; 0, or older than the
/// launch's first tick, is none) with the bytes of the word it touched (a
/// byte's record has all four bits). Zeroed memory is a word no launch
/// touched.
struct RaceRecord {
  /// The last write, atom, red or strong store; kStrongBit marks the last
  /// three.
  uint32_t write;
  /// The latest plain read since that write.
  uint32_t read;
  /// A plain read since that write by another block than `read`'s, before
  /// it: one that no fence released, where there was one, so that two
  /// fields stand for the reads of any number of blocks.
  uint32_t earlier;
};

/// The parts of a RaceRecord field: ticks stay below kTickLimit.
constexpr unsigned kTickBits = 27;
constexpr uint32_t kTickLimit = 1u << kTickBits;
constexpr uint32_t kAllBytes = 0xf;
constexpr uint32_t kStrongBit = 1u << 31;
constexpr uint32_t tickOf(uint32_t field) { return field & (kTickLimit - 1); }
constexpr uint32_t bytesOf(uint32_t field) {
  return field >> kTickBits & kAllBytes;
}
constexpr uint32_t field(uint32_t tick, uint32_t bytes) {
  return tick | bytes << kTickBits;
}

/// The emulator's access to Allocations' race records.
class RaceRecords {
public:
  /// The clock of `memory`'s race check.
  static uint32_t &clock(Allocations &memory) { return memory.clock_; }
  /// The records of the allocation holding [address, address + size),
  /// made on first use, its extent [lo, hi), and `shift`: 2 where a record
  /// stands for a 4-byte word, 0 for a byte. Null if there is none.
  static RaceRecord *find(Allocations &memory, uint64_t address, uint64_t size,
                          uint64_t &lo, uint64_t &hi, unsigned &shift) {
    Allocations::Range *range = memory.findRange(address, size, lo, hi);
    if (!range)
      return nullptr;
    if (!range->records)
      range->records = allocate(count(lo, range->size, 2));
    shift = range->bytes ? 0 : 2;
    return range->records;
  }
  /// Gives the allocation at `lo` (in word records) a record per byte, of
  /// the accesses of its word records from `launchTick` on that touched
  /// the byte.
  static RaceRecord *splitBytes(Allocations &memory, uint64_t lo,
                                uint32_t launchTick) {
    Allocations::Range &range = memory.ranges_.at(lo);
    RaceRecord *words = range.records;
    RaceRecord *bytes = allocate(count(lo, range.size, 0));
    uint64_t first = lo & ~3ull;
    for (uint64_t i = 0, n = count(lo, range.size, 2); i < n; ++i) {
      const RaceRecord &w = words[i];
      for (unsigned b = 0; b < 4; ++b) {
        uint64_t byte = first + i * 4 + b;
        if (byte < lo || byte >= lo + range.size)
          continue;
        auto part = [&](uint32_t f) -> uint32_t {
          if (tickOf(f) < launchTick || !(bytesOf(f) >> b & 1))
            return 0;
          return field(tickOf(f), kAllBytes) | (f & kStrongBit);
        };
        bytes[byte - lo] = {part(w.write), part(w.read), part(w.earlier)};
      }
    }
    std::free(words);
    range.records = bytes;
    range.bytes = true;
    return bytes;
  }
  /// Forgets every record (when the clock is to start again at 0).
  static void clear(Allocations &memory) {
    for (auto &[base, range] : memory.ranges_)
      if (range.records)
        memset(range.records, 0,
               count(base, range.size, range.bytes ? 0 : 2) *
                   sizeof(RaceRecord));
    memory.clock_ = 0;
  }

private:
  /// The records of the allocation at `base` of `size` bytes: one per byte
  /// (`shift` 0) or per 4-byte word it touches (2).
  static uint64_t count(uint64_t base, uint64_t size, unsigned shift) {
    return ((base + size + (1u << shift) - 1) >> shift) - (base >> shift);
  }
  static RaceRecord *allocate(uint64_t count) {
    // calloc: the pages of a large allocation that no kernel touches are
    // never written.
    auto *records =
        static_cast<RaceRecord *>(std::calloc(count, sizeof(RaceRecord)));
    if (!records)
      throw std::bad_alloc();
    return records;
  }
};

Allocations::Allocations() = default;

Allocations::~Allocations() {
  for (auto &[base, range] : ranges_)
    std::free(range.records);
}

void Allocations::add(uint64_t base, uint64_t size) {
  Range &range = ranges_[base];
  std::free(range.records);
  range = Range();
  range.size = size;
}

bool Allocations::remove(uint64_t base) {
  auto it = ranges_.find(base);
  if (it == ranges_.end())
    return false;
  std::free(it->second.records);
  ranges_.erase(it);
  return true;
}

Allocations::Range *Allocations::findRange(uint64_t address, uint64_t size,
                                           uint64_t &lo, uint64_t &hi) {
  auto it = ranges_.upper_bound(address);
  if (it == ranges_.begin())
    return nullptr;
  --it;
  if (address + size < address || address + size > it->first + it->second.size)
    return nullptr;
  lo = it->first;
  hi = it->first + it->second.size;
  return &it->second;
}

bool Allocations::find(uint64_t address, uint64_t size, uint64_t &lo,
                       uint64_t &hi) const {
  return const_cast<Allocations *>(this)->findRange(address, size, lo, hi);
}

namespace {

//===----------------------------------------------------------------------===//
// Decoded instructions
//===----------------------------------------------------------------------===//

/// Register slot 0 is where writes to the sink `_` go; a source operand
/// with no register is an immediate.
constexpr uint32_t kNoReg = ~0u;
constexpr uint32_t kSinkReg = 0;

/// Generic addresses of the block's shared memory: far above any host
/// (user space) address, so that a generic access is either shared or
/// checked against the allocations.
constexpr uint64_t kSharedGeneric = 0x1000000000000000ull;
constexpr uint64_t kSharedGenericEnd = kSharedGeneric + (1ull << 32);

/// What registers start as, and what fresh shared memory is filled with, so
/// that a missing initialization shows: the low word is an f32 NaN.
constexpr uint64_t kGarbageRegister = 0xfff5a5a5fff5a5a5ull;
constexpr uint8_t kGarbageShared = 0xff;

enum class Op : uint8_t {
  // Integers, of `bits` with `isSigned`.
  IAdd,
  ISub,
  IMulLo,
  IMulHi,
  IMulWide,
  IMadLo,
  IMadHi,
  IMadWide,
  IDiv,
  IRem,
  INeg,
  IAbs,
  IMin,
  IMax,
  And,
  Or,
  Xor,
  Not,
  CNot,
  Shl,
  Shr,
  Bfe,
  Popc,
  Clz,
  // Floats: F is f32, D is f64.
  FAdd,
  FSub,
  FMul,
  FDiv,
  FFma,
  FNeg,
  FAbs,
  FMin,
  FMax,
  FRcp,
  FSqrt,
  FRsqrt,
  FEx2,
  FLg2,
  FSin,
  FCos,
  FTanh,
  DAdd,
  DSub,
  DMul,
  DDiv,
  DFma,
  DNeg,
  DAbs,
  DMin,
  DMax,
  DRcp,
  DSqrt,
  SetpI,
  SetpF,
  SetpD,
  Selp,
  Mov,
  MovPack,
  MovUnpack,
  Cvt,
  CvtTf32, // cvt.rna{.satfinite}.tf32.f32 (.satfinite: kSat)
  CvtaToShared,
  CvtaShared,
  LdGlobal,
  LdShared,
  LdParam,
  LdGeneric,
  StGlobal,
  StShared,
  StGeneric,
  // atom and red (d is the sink), of `rmw`.
  AtomGlobal,
  AtomShared,
  AtomGeneric,
  // A device-scope fence (membar.gl, membar.sys, fence{.sc,.acq_rel} at
  // .gpu or .sys): the inter-block race check's release and acquire; the
  // narrower ones are Nop.
  Fence,
  Bra,
  Exit,
  BarSync,
  WarpSync,
  Nop,
};

/// The read-modify-write operation of atom and red: Add of integers, FAdd
/// of f32, DAdd of f64; Min and Max of `bits` with `isSigned`; Cas writes
/// s[1] where the old value is s[0].
enum class Rmw : uint8_t {
  Add,
  FAdd,
  DAdd,
  Inc,
  Dec,
  Min,
  Max,
  And,
  Or,
  Xor,
  Exch,
  Cas,
};

/// Comparisons of setp.
enum class Cmp : uint8_t {
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,
  Lo,
  Ls,
  Hi,
  Hs,
  Equ,
  Neu,
  Ltu,
  Leu,
  Gtu,
  Geu,
  Num,
  Nan,
};

/// The combining operation of setp.<cmp>.<bool>.
enum class BoolOp : uint8_t { None, And, Or, Xor };

/// What a warp synchronization (Op::WarpSync) does once its lanes are all
/// there: shfl.sync's modes; None is bar.warp.sync (synchronization only);
/// Mma is mma.sync (the whole warp, its operands in Kernel::mmas).
enum class Shfl : uint8_t { None, Up, Down, Bfly, Idx, Mma };

enum class Ty : uint8_t {
  None,
  B8,
  B16,
  B32,
  B64,
  U8,
  U16,
  U32,
  U64,
  S8,
  S16,
  S32,
  S64,
  F16,
  BF16,
  F32,
  F64,
  Pred,
};

unsigned bitsOf(Ty t) {
  switch (t) {
  case Ty::B8:
  case Ty::U8:
  case Ty::S8:
    return 8;
  case Ty::B16:
  case Ty::U16:
  case Ty::S16:
  case Ty::F16:
  case Ty::BF16:
    return 16;
  case Ty::B32:
  case Ty::U32:
  case Ty::S32:
  case Ty::F32:
    return 32;
  case Ty::B64:
  case Ty::U64:
  case Ty::S64:
  case Ty::F64:
    return 64;
  case Ty::Pred:
    return 1;
  case Ty::None:
    return 0;
  }
  return 0;
}
bool isSignedTy(Ty t) {
  return t == Ty::S8 || t == Ty::S16 || t == Ty::S32 || t == Ty::S64;
}
bool isUnsignedTy(Ty t) {
  return t == Ty::U8 || t == Ty::U16 || t == Ty::U32 || t == Ty::U64;
}
bool isBitTy(Ty t) {
  return t == Ty::B8 || t == Ty::B16 || t == Ty::B32 || t == Ty::B64;
}
bool isIntTy(Ty t) { return isSignedTy(t) || isUnsignedTy(t) || isBitTy(t); }
bool isFloatTy(Ty t) {
  return t == Ty::F16 || t == Ty::BF16 || t == Ty::F32 || t == Ty::F64;
}

Ty parseTy(const std::string &s) {
  static const std::unordered_map<std::string, Ty> kTypes = {
      {"b8", Ty::B8},    {"b16", Ty::B16},   {"b32", Ty::B32}, {"b64", Ty::B64},
      {"u8", Ty::U8},    {"u16", Ty::U16},   {"u32", Ty::U32}, {"u64", Ty::U64},
      {"s8", Ty::S8},    {"s16", Ty::S16},   {"s32", Ty::S32}, {"s64", Ty::S64},
      {"f16", Ty::F16},  {"bf16", Ty::BF16}, {"f32", Ty::F32}, {"f64", Ty::F64},
      {"pred", Ty::Pred}};
  auto it = kTypes.find(s);
  return it == kTypes.end() ? Ty::None : it->second;
}

uint64_t maskOf(unsigned bits) {
  return bits >= 64 ? ~0ull : (1ull << bits) - 1;
}
int64_t sext(uint64_t v, unsigned bits) {
  if (bits >= 64)
    return static_cast<int64_t>(v);
  unsigned shift = 64 - bits;
  return static_cast<int64_t>(v << shift) >> shift;
}

/// A source or destination: a register slot, or (sources) an immediate.
struct Operand {
  uint32_t reg = kNoReg;
  uint64_t imm = 0;
};

/// Instruction flags.
enum : uint8_t {
  kFtz = 1,        // .ftz
  kNaN = 2,        // min/max .NaN
  kSat = 4,        // cvt .sat
  kSignLoad = 8,   // ld of a signed type: sign-extend into the register
  kWidePred = 16,  // setp writing p|q, shfl writing its predicate
  kReduction = 32, // red rather than atom (for messages: the same Op)
};

/// How a global access takes part in the inter-block race check
/// (Instr::sync): morally strong with the accesses of other blocks (atom
/// and red, ld and st .relaxed, .acquire, .release or .volatile, at .gpu or
/// .sys scope, the default scope of atom and red), and with acquire or
/// release semantics at that scope.
enum : uint8_t {
  kStrong = 1,
  kAcquire = 2, // ld.acquire, atom.acquire and atom.acq_rel
  kRelease = 4, // st.release, atom and red .release and .acq_rel
};

/// One decoded instruction.
struct Instr {
  Op op = Op::Nop;
  uint8_t bits = 0;      // the operation's width
  bool isSigned = false; // the operation's integers are signed
  uint8_t flags = 0;
  uint8_t sync = 0; // ld/st/atom/red: kStrong, kAcquire, kRelease
  uint8_t vec = 1;  // ld/st: the elements; MovPack: the parts
  Cmp cmp = Cmp::Eq;
  BoolOp boolOp = BoolOp::None;
  Shfl shfl = Shfl::None;
  Rmw rmw = Rmw::Add;
  Ty dstTy = Ty::None, srcTy = Ty::None; // cvt
  char rounding = 0;     // cvt: 'n', 'z', 'm', 'p' (.rn, ...), 0 if none
  bool roundInt = false; // cvt: .rni/.rzi/.rmi/.rpi
  bool guardNegated = false;
  uint32_t guard = kNoReg;
  uint64_t mask = 0;        // maskOf(bits)
  uint64_t dstMask = ~0ull; // ld: the destination registers' width
  Operand d[4];             // destinations
  Operand s[4];             // sources
  int64_t offset = 0;       // ld/st/atom/red: added to s[3] (the base register)
  uint32_t target = 0;      // bra; mma.sync: its index in Kernel::mmas
  uint32_t line = 0;
  uint32_t barrier = 0; // bar.sync's barrier

  Instr() {
    // Instructions without a destination write the sink.
    for (Operand &o : d)
      o.reg = kSinkReg;
  }
};

/// The register slots of an mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
/// {d0..d3}, {a0..a3}, {b0, b1}, {c0..c3}: more than Instr holds.
struct MmaOperands {
  uint32_t d[4], a[4], b[2], c[4];
};

/// A special register's value, stored in a register slot per thread.
enum class Special : uint8_t {
  TidX,
  TidY,
  TidZ,
  NtidX,
  NtidY,
  NtidZ,
  CtaidX,
  CtaidY,
  CtaidZ,
  NctaidX,
  NctaidY,
  NctaidZ,
  LaneId,
  WarpId,
  NwarpId,
};

/// PTX's special registers that kernels read.
const std::unordered_map<std::string, Special> &specialRegisters() {
  static const std::unordered_map<std::string, Special> kSpecials = {
      {"%tid.x", Special::TidX},       {"%tid.y", Special::TidY},
      {"%tid.z", Special::TidZ},       {"%ntid.x", Special::NtidX},
      {"%ntid.y", Special::NtidY},     {"%ntid.z", Special::NtidZ},
      {"%ctaid.x", Special::CtaidX},   {"%ctaid.y", Special::CtaidY},
      {"%ctaid.z", Special::CtaidZ},   {"%nctaid.x", Special::NctaidX},
      {"%nctaid.y", Special::NctaidY}, {"%nctaid.z", Special::NctaidZ},
      {"%laneid", Special::LaneId},    {"%warpid", Special::WarpId},
      {"%nwarpid", Special::NwarpId}};
  return kSpecials;
}

} // namespace

/// A decoded kernel.
struct Kernel {
  std::string name;
  std::vector<Instr> code;
  /// The operands of the kernel's mma.sync instructions (Instr::target).
  std::vector<MmaOperands> mmas;
  uint32_t registers = 1; // slots, the sink included
  std::vector<std::pair<uint32_t, Special>> specials;
  ParamLayout params;
  unsigned staticSharedBytes = 0;
  unsigned dynamicSharedAlign = 16;
  /// .maxntid / .reqntid, or 0.
  unsigned maxThreads = 0;
  Dim3 requiredBlock;
  bool hasRequiredBlock = false;
};

const ParamLayout &paramLayout(const Kernel &kernel) { return kernel.params; }

Module::Module() = default;
Module::~Module() = default;

const Kernel *Module::kernel(const std::string &name) const {
  for (const auto &k : kernels_)
    if (k->name == name)
      return k.get();
  return nullptr;
}

namespace {

//===----------------------------------------------------------------------===//
// Lexer
//===----------------------------------------------------------------------===//

struct Token {
  enum Kind { Ident, Number, String, Punct, End } kind = End;
  std::string text;
  unsigned line = 0;
};

/// Splits PTX into tokens: identifiers (with dots, '%' and '$': opcodes,
/// directives, registers such as %tid.x), numbers (0f3F800000, 0x10, 1.5),
/// strings and single punctuation characters. Comments are dropped.
std::vector<Token> lex(const char *text) {
  std::vector<Token> tokens;
  unsigned line = 1;
  const char *p = text;
  auto identStart = [](char c) {
    return isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '$' ||
           c == '%' || c == '.';
  };
  auto identChar = [](char c) {
    return isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' ||
           c == '%' || c == '.' || c == ':';
  };
  while (*p) {
    char c = *p;
    if (c == '\n') {
      ++line;
      ++p;
    } else if (isspace(static_cast<unsigned char>(c))) {
      ++p;
    } else if (c == '/' && p[1] == '/') {
      while (*p && *p != '\n')
        ++p;
    } else if (c == '/' && p[1] == '*') {
      p += 2;
      while (*p && !(p[0] == '*' && p[1] == '/')) {
        line += *p == '\n';
        ++p;
      }
      if (*p)
        p += 2;
    } else if (identStart(c)) {
      const char *start = p++;
      // "::" belongs to qualifiers such as .L2::evict_last; a single ':'
      // ends a label.
      while (identChar(*p) && !(*p == ':' && p[1] != ':' && p[-1] != ':'))
        ++p;
      tokens.push_back({Token::Ident, std::string(start, p), line});
    } else if (isdigit(static_cast<unsigned char>(c))) {
      const char *start = p++;
      while (isalnum(static_cast<unsigned char>(*p)) || *p == '.')
        ++p;
      tokens.push_back({Token::Number, std::string(start, p), line});
    } else if (c == '"') {
      const char *start = ++p;
      while (*p && *p != '"' && *p != '\n')
        ++p;
      tokens.push_back({Token::String, std::string(start, p), line});
      if (*p == '"')
        ++p;
    } else {
      tokens.push_back({Token::Punct, std::string(1, c), line});
      ++p;
    }
  }
  tokens.push_back({Token::End, "", line});
  return tokens;
}

//===----------------------------------------------------------------------===//
// Parser
//===----------------------------------------------------------------------===//

/// An operand as written.
struct RawOperand {
  enum Kind { Reg, Imm, Symbol, Address, Vector, Sink } kind = Imm;
  std::string name;               // Reg, Symbol; Address: the register
  std::string second;             // Reg: q of p|q
  bool negated = false;           // !%p, or a negative immediate
  std::string number;             // Imm
  std::string symbol;             // Address: a symbol
  int64_t offset = 0;             // Address
  std::vector<std::string> elems; // Vector ("_" for a sink)
};

struct RawInstr {
  std::string opcode;
  std::string guard;
  bool guardNegated = false;
  std::vector<RawOperand> operands;
  unsigned line = 0;
};

/// Where a register name lives: one name, or a range %r<N> (%r0...).
struct RegRange {
  uint32_t base;
  uint32_t count; // 0 for a single name
  unsigned bits;
};

struct SharedVar {
  unsigned offset = 0;
  bool dynamic = false;
};

/// Thrown by the parser and decoder; caught by Module::parse.
struct ParseError {
  std::string message;
};

[[noreturn]] void failAt(unsigned line, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
void failAt(unsigned line, const char *format, ...) {
  char text[512];
  va_list args;
  va_start(args, format);
  vsnprintf(text, sizeof(text), format, args);
  va_end(args);
  throw ParseError{"line " + std::to_string(line) + ": " + text};
}

[[noreturn]] void unsupported(const RawInstr &raw) {
  failAt(raw.line, "unsupported instruction '%s'", raw.opcode.c_str());
}

/// The modifiers of an opcode (its dot-separated parts after the first),
/// consumed as the decoder recognizes them: what is left is unsupported.
class Modifiers {
public:
  explicit Modifiers(const std::string &opcode) {
    size_t start = 0;
    while (start <= opcode.size()) {
      size_t dot = opcode.find('.', start);
      if (dot == std::string::npos)
        dot = opcode.size();
      parts_.push_back(opcode.substr(start, dot - start));
      start = dot + 1;
    }
    base_ = parts_.front();
    parts_.erase(parts_.begin());
  }
  const std::string &base() const { return base_; }
  /// Removes `part`; whether it was there.
  bool take(const char *part) {
    auto it = std::find(parts_.begin(), parts_.end(), part);
    if (it == parts_.end())
      return false;
    parts_.erase(it);
    return true;
  }
  /// Removes and returns the first of `options` present, or "".
  std::string takeOneOf(std::initializer_list<const char *> options) {
    for (const char *option : options)
      if (take(option))
        return option;
    return "";
  }
  /// Removes the types, in order.
  std::vector<Ty> takeTypes() {
    std::vector<Ty> types;
    for (auto it = parts_.begin(); it != parts_.end();) {
      Ty t = parseTy(*it);
      if (t == Ty::None) {
        ++it;
        continue;
      }
      types.push_back(t);
      it = parts_.erase(it);
    }
    return types;
  }
  bool empty() const { return parts_.empty(); }

private:
  std::string base_;
  std::vector<std::string> parts_;
};

class Parser {
public:
  explicit Parser(const char *text) : tokens_(lex(text)) {}

  void parseModule(std::vector<std::unique_ptr<Kernel>> &kernels);

private:
  const Token &peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  const Token &next() {
    const Token &t = peek();
    if (pos_ < tokens_.size() - 1)
      ++pos_;
    return t;
  }
  bool isPunct(const char *p, size_t ahead = 0) const {
    return peek(ahead).kind == Token::Punct && peek(ahead).text == p;
  }
  bool accept(const char *p) {
    if (!isPunct(p))
      return false;
    next();
    return true;
  }
  void expect(const char *p) {
    if (!accept(p))
      failAt(peek().line, "expected '%s', got '%s'", p, peek().text.c_str());
  }
  std::string expectIdent() {
    if (peek().kind != Token::Ident)
      failAt(peek().line, "expected a name, got '%s'", peek().text.c_str());
    return next().text;
  }
  uint64_t expectInteger() {
    if (peek().kind != Token::Number)
      failAt(peek().line, "expected a number, got '%s'", peek().text.c_str());
    const Token &t = next();
    char *end;
    uint64_t v = strtoull(t.text.c_str(), &end, 0);
    if (*end && strcmp(end, "U") != 0)
      failAt(t.line, "bad integer '%s'", t.text.c_str());
    return v;
  }

  void parseSharedVar(bool isExtern,
                      std::vector<std::pair<std::string, SharedVar>> &vars,
                      unsigned &size, unsigned &dynamicAlign);
  void parseEntry(std::vector<std::unique_ptr<Kernel>> &kernels);
  void parseParams(Kernel &kernel,
                   std::unordered_map<std::string, unsigned> &params);
  void parseRegDecl(std::unordered_map<std::string, RegRange> &regs,
                    uint32_t &slots);
  RawOperand parseOperand();

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  /// Module-scope shared variables, first in every kernel's window.
  std::vector<std::pair<std::string, SharedVar>> moduleShared_;
  unsigned moduleSharedBytes_ = 0;
  unsigned moduleDynamicAlign_ = 16;
};

unsigned alignTo(unsigned value, unsigned align) {
  return align ? (value + align - 1) / align * align : value;
}

void Parser::parseSharedVar(
    bool isExtern, std::vector<std::pair<std::string, SharedVar>> &vars,
    unsigned &size, unsigned &dynamicAlign) {
  unsigned line = peek().line;
  unsigned align = 0;
  Ty type = Ty::None;
  while (peek().kind == Token::Ident && peek().text[0] == '.') {
    std::string d = next().text;
    if (d == ".align")
      align = static_cast<unsigned>(expectInteger());
    else if ((type = parseTy(d.substr(1))) == Ty::None)
      failAt(line, "unsupported .shared qualifier '%s'", d.c_str());
  }
  if (type == Ty::None || type == Ty::Pred)
    failAt(line, "a .shared variable needs a type");
  std::string name = expectIdent();
  unsigned elem = std::max(1u, bitsOf(type) / 8);
  align = std::max(align, elem);
  uint64_t count = 1;
  bool unsized = false;
  while (accept("[")) {
    if (accept("]")) {
      unsized = true;
      continue;
    }
    count *= expectInteger();
    expect("]");
  }
  if (isPunct("="))
    failAt(line, "initialized .shared variables are not supported");
  expect(";");
  SharedVar var;
  if (unsized) {
    if (!isExtern)
      failAt(line, "a .shared array without a size must be .extern");
    var.dynamic = true;
    dynamicAlign = std::max(dynamicAlign, align);
  } else {
    if (count * elem > (1u << 20))
      failAt(line, ".shared variable '%s' is too large", name.c_str());
    size = alignTo(size, align);
    var.offset = size;
    size += static_cast<unsigned>(count * elem);
  }
  vars.emplace_back(name, var);
}

void Parser::parseParams(Kernel &kernel,
                         std::unordered_map<std::string, unsigned> &params) {
  expect("(");
  if (accept(")"))
    return;
  do {
    unsigned line = peek().line;
    if (expectIdent() != ".param")
      failAt(line, "expected .param");
    unsigned align = 0;
    Ty type = Ty::None;
    while (peek().kind == Token::Ident && peek().text[0] == '.') {
      std::string d = next().text;
      if (d == ".align")
        align = static_cast<unsigned>(expectInteger());
      else if (d == ".ptr" || d == ".global" || d == ".shared" ||
               d == ".const" || d == ".local")
        continue;
      else if ((type = parseTy(d.substr(1))) == Ty::None || type == Ty::Pred)
        failAt(line, "unsupported .param qualifier '%s'", d.c_str());
    }
    if (type == Ty::None)
      failAt(line, "a .param needs a type");
    std::string name = expectIdent();
    unsigned elem = std::max(1u, bitsOf(type) / 8);
    uint64_t count = 1;
    if (accept("[")) {
      count = expectInteger();
      expect("]");
    }
    if (count * elem > 4096)
      failAt(line, ".param '%s' is too large", name.c_str());
    ParamLayout &layout = kernel.params;
    unsigned offset = alignTo(layout.bytes, std::max(align, elem));
    layout.offsets.push_back(offset);
    layout.sizes.push_back(static_cast<unsigned>(count * elem));
    layout.bytes = offset + static_cast<unsigned>(count * elem);
    params[name] = offset;
  } while (accept(","));
  expect(")");
}

void Parser::parseRegDecl(std::unordered_map<std::string, RegRange> &regs,
                          uint32_t &slots) {
  unsigned line = peek().line;
  std::string typeName = expectIdent();
  unsigned bits;
  if (typeName == ".f16x2" || typeName == ".bf16x2")
    bits = 32;
  else if (typeName.size() < 2 ||
           (bits = bitsOf(parseTy(typeName.substr(1)))) == 0)
    failAt(line, "bad register type '%s'", typeName.c_str());
  do {
    std::string name = expectIdent();
    if (name[0] != '%')
      failAt(line, "register names start with %%: '%s'", name.c_str());
    uint32_t count = 0;
    if (accept("<")) {
      count = static_cast<uint32_t>(expectInteger());
      expect(">");
      if (count > (1u << 20))
        failAt(line, "too many registers");
    }
    if (regs.count(name))
      failAt(line, "register '%s' declared twice", name.c_str());
    regs[name] = {slots, count, bits};
    slots += std::max(count, 1u);
  } while (accept(","));
  expect(";");
}

RawOperand Parser::parseOperand() {
  RawOperand op;
  unsigned line = peek().line;
  if (accept("[")) {
    op.kind = RawOperand::Address;
    bool negative = false;
    for (;;) {
      const Token &t = next();
      if (t.kind == Token::Number) {
        char *end;
        uint64_t v = strtoull(t.text.c_str(), &end, 0);
        if (*end)
          failAt(line, "bad address offset '%s'", t.text.c_str());
        op.offset +=
            negative ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
      } else if (t.kind == Token::Ident && t.text[0] == '%') {
        if (!op.name.empty() || negative)
          failAt(line, "unsupported address");
        op.name = t.text;
      } else if (t.kind == Token::Ident) {
        if (!op.symbol.empty() || negative)
          failAt(line, "unsupported address");
        op.symbol = t.text;
      } else {
        failAt(line, "bad address near '%s'", t.text.c_str());
      }
      negative = false;
      if (accept("]"))
        break;
      if (accept("-")) {
        negative = true;
      } else {
        expect("+");
        negative = accept("-");
      }
    }
    return op;
  }
  if (accept("{")) {
    op.kind = RawOperand::Vector;
    do
      op.elems.push_back(expectIdent());
    while (accept(","));
    expect("}");
    return op;
  }
  if (accept("!"))
    op.negated = true;
  if (accept("-")) {
    if (peek().kind != Token::Number)
      failAt(line, "bad operand");
    op.negated = true;
  }
  const Token &t = next();
  if (t.kind == Token::Number) {
    op.kind = RawOperand::Imm;
    op.number = t.text;
    return op;
  }
  if (t.kind != Token::Ident)
    failAt(line, "bad operand '%s'", t.text.c_str());
  if (t.text == "_") {
    op.kind = RawOperand::Sink;
  } else if (t.text[0] == '%') {
    op.kind = RawOperand::Reg;
    op.name = t.text;
    if (accept("|"))
      op.second = expectIdent();
  } else {
    op.kind = RawOperand::Symbol;
    op.name = t.text;
  }
  return op;
}

//===----------------------------------------------------------------------===//
// Decoder
//===----------------------------------------------------------------------===//

/// The state space of a memory access; Generic where it names none.
enum class Space : uint8_t { Generic, Global, Shared, Param };

/// Removes the state space qualifier of ld, st, atom or red from `mods`.
Space takeSpace(const RawInstr &raw, Modifiers &mods) {
  std::string space = mods.takeOneOf(
      {"global", "shared", "param", "local", "const", "shared::cta"});
  if (space == "local" || space == "const")
    unsupported(raw);
  return space == "global"  ? Space::Global
         : space == "param" ? Space::Param
         : space.empty()    ? Space::Generic
                            : Space::Shared;
}

/// Turns the parsed statements of one kernel into its Instr.
class Decoder {
public:
  Decoder(Kernel &kernel, std::unordered_map<std::string, RegRange> &regs,
          const std::unordered_map<std::string, unsigned> &params,
          const std::unordered_map<std::string, SharedVar> &shared,
          const std::unordered_map<std::string, uint32_t> &labels,
          unsigned dynamicOffset)
      : kernel_(kernel), regs_(regs), params_(params), shared_(shared),
        labels_(labels), dynamicOffset_(dynamicOffset) {}

  Instr decode(const RawInstr &raw);

private:
  /// The slot of register `name` (a special register gets one on first
  /// use); sets `bits` to its width.
  uint32_t reg(const std::string &name, unsigned line,
               unsigned *bits = nullptr);
  Operand dst(const RawOperand &op, unsigned line);
  Operand src(const RawOperand &op, Ty type, unsigned line);
  uint64_t immediate(const RawOperand &op, Ty type, unsigned line);
  /// A symbol's address in its state space.
  bool symbolAddress(const std::string &name, uint64_t &address);
  void expectCount(const RawInstr &raw, size_t count) {
    if (raw.operands.size() != count)
      failAt(raw.line, "'%s' takes %zu operands", raw.opcode.c_str(), count);
  }
  /// Sets in.s[3] (the base register) and in.offset from `address`, the
  /// [address] operand of an access to `space`.
  void decodeAddress(const RawInstr &raw, const RawOperand &address,
                     Space space, Instr &in);
  void decodeMemory(const RawInstr &raw, Modifiers &mods, Instr &in,
                    bool isLoad);
  void decodeAtomic(const RawInstr &raw, Modifiers &mods, Instr &in);
  void decodeCvt(const RawInstr &raw, Modifiers &mods, Instr &in);

  Kernel &kernel_;
  std::unordered_map<std::string, RegRange> &regs_;
  const std::unordered_map<std::string, unsigned> &params_;
  const std::unordered_map<std::string, SharedVar> &shared_;
  const std::unordered_map<std::string, uint32_t> &labels_;
  unsigned dynamicOffset_;
};

uint32_t Decoder::reg(const std::string &name, unsigned line, unsigned *bits) {
  auto found = regs_.find(name);
  if (found != regs_.end() && found->second.count == 0) {
    if (bits)
      *bits = found->second.bits;
    return found->second.base;
  }
  const auto &kSpecials = specialRegisters();
  auto special = kSpecials.find(name);
  if (special != kSpecials.end()) {
    uint32_t slot = kernel_.registers++;
    regs_[name] = {slot, 0, 32};
    kernel_.specials.emplace_back(slot, special->second);
    if (bits)
      *bits = 32;
    return slot;
  }
  // %r57 in %r<65>.
  size_t digits = name.size();
  while (digits > 0 && isdigit(static_cast<unsigned char>(name[digits - 1])))
    --digits;
  if (digits < name.size() && digits > 0) {
    auto range = regs_.find(name.substr(0, digits));
    // No leading zeros: %r01 is not %r1.
    if (range != regs_.end() && range->second.count != 0 &&
        (name[digits] != '0' || digits + 1 == name.size())) {
      unsigned long index = strtoul(name.c_str() + digits, nullptr, 10);
      if (index < range->second.count) {
        if (bits)
          *bits = range->second.bits;
        return range->second.base + static_cast<uint32_t>(index);
      }
    }
  }
  failAt(line, "undeclared register '%s'", name.c_str());
}

Operand Decoder::dst(const RawOperand &op, unsigned line) {
  Operand o;
  if (op.kind == RawOperand::Sink) {
    o.reg = kSinkReg;
    return o;
  }
  if (op.kind != RawOperand::Reg || op.negated || !op.second.empty())
    failAt(line, "expected a destination register");
  if (specialRegisters().count(op.name))
    failAt(line, "'%s' is read-only", op.name.c_str());
  o.reg = reg(op.name, line);
  return o;
}

bool Decoder::symbolAddress(const std::string &name, uint64_t &address) {
  auto shared = shared_.find(name);
  if (shared != shared_.end()) {
    address = shared->second.dynamic ? dynamicOffset_ : shared->second.offset;
    return true;
  }
  auto param = params_.find(name);
  if (param != params_.end()) {
    address = param->second;
    return true;
  }
  return false;
}

uint64_t Decoder::immediate(const RawOperand &op, Ty type, unsigned line) {
  const std::string &text = op.number;
  uint64_t value;
  bool isFloat = type == Ty::F32 || type == Ty::F64;
  if (text.size() == 10 && (text[1] == 'f' || text[1] == 'F') &&
      text[0] == '0') {
    uint32_t bits =
        static_cast<uint32_t>(strtoul(text.c_str() + 2, nullptr, 16));
    float f;
    memcpy(&f, &bits, 4);
    if (op.negated)
      f = -f;
    if (type == Ty::F64) {
      double d = f;
      memcpy(&value, &d, 8);
    } else {
      memcpy(&bits, &f, 4);
      value = bits;
    }
    return value;
  }
  if (text.size() == 18 && (text[1] == 'd' || text[1] == 'D') &&
      text[0] == '0') {
    uint64_t bits = strtoull(text.c_str() + 2, nullptr, 16);
    double d;
    memcpy(&d, &bits, 8);
    if (op.negated)
      d = -d;
    if (type == Ty::F32) {
      float f = static_cast<float>(d);
      uint32_t b;
      memcpy(&b, &f, 4);
      return b;
    }
    memcpy(&value, &d, 8);
    return value;
  }
  bool decimalFloat = text.find_first_of(".eE") != std::string::npos &&
                      text.compare(0, 2, "0x") != 0 &&
                      text.compare(0, 2, "0X") != 0;
  if (decimalFloat || isFloat) {
    if (!isFloat)
      failAt(line, "a float literal '%s' for an integer operand", text.c_str());
    char *end;
    double d = decimalFloat
                   ? strtod(text.c_str(), &end)
                   : static_cast<double>(strtoull(text.c_str(), &end, 0));
    if (*end && strcmp(end, "U") != 0)
      failAt(line, "bad number '%s'", text.c_str());
    if (op.negated)
      d = -d;
    if (type == Ty::F32) {
      float f = static_cast<float>(d);
      uint32_t b;
      memcpy(&b, &f, 4);
      return b;
    }
    memcpy(&value, &d, 8);
    return value;
  }
  char *end;
  value = strtoull(text.c_str(), &end, 0);
  if (*end && strcmp(end, "U") != 0)
    failAt(line, "bad number '%s'", text.c_str());
  if (op.negated)
    value = 0 - value;
  return value & maskOf(bitsOf(type) == 0 ? 64 : bitsOf(type));
}

Operand Decoder::src(const RawOperand &op, Ty type, unsigned line) {
  Operand o;
  switch (op.kind) {
  case RawOperand::Reg:
    if (op.negated || !op.second.empty())
      failAt(line, "unexpected '!' or '|'");
    o.reg = reg(op.name, line);
    return o;
  case RawOperand::Imm:
    o.imm = immediate(op, type, line);
    return o;
  case RawOperand::Symbol:
    if (op.name == "WARP_SZ") {
      o.imm = 32;
      return o;
    }
    if (!symbolAddress(op.name, o.imm))
      failAt(line, "unknown symbol '%s'", op.name.c_str());
    return o;
  default:
    failAt(line, "bad source operand");
  }
}

void Decoder::decodeAddress(const RawInstr &raw, const RawOperand &address,
                            Space space, Instr &in) {
  if (address.kind != RawOperand::Address)
    failAt(raw.line, "expected an address");
  in.s[3].reg = address.name.empty() ? kNoReg : reg(address.name, raw.line);
  in.offset = address.offset;
  if (address.symbol.empty())
    return;
  uint64_t symbol;
  if (!symbolAddress(address.symbol, symbol))
    failAt(raw.line, "unknown symbol '%s'", address.symbol.c_str());
  bool isParam = params_.count(address.symbol) != 0;
  bool sharedOk = space == Space::Shared || space == Space::Generic;
  if (isParam != (space == Space::Param) || (!isParam && !sharedOk))
    failAt(raw.line, "'%s' is not in the access's state space",
           address.symbol.c_str());
  // A shared variable named in a generic access is its generic address.
  if (space == Space::Generic)
    symbol += kSharedGeneric;
  in.offset += static_cast<int64_t>(symbol);
}

void Decoder::decodeMemory(const RawInstr &raw, Modifiers &mods, Instr &in,
                           bool isLoad) {
  Space space = takeSpace(raw, mods);
  // Threads run one at a time, so the memory order needs nothing here; the
  // inter-block race check takes strong accesses at device scope as
  // atomics (.volatile is .relaxed.sys), and .acquire and .release at that
  // scope as its acquire and release.
  if (mods.take("volatile")) {
    in.sync = kStrong;
  } else if (mods.take("weak")) {
  } else if (std::string sem =
                 mods.takeOneOf({"relaxed", isLoad ? "acquire" : "release"});
             !sem.empty()) {
    std::string scope = mods.takeOneOf({"cta", "gpu", "sys"});
    if (scope.empty())
      unsupported(raw);
    if (scope != "cta")
      in.sync = kStrong | (sem == "acquire"   ? kAcquire
                           : sem == "release" ? kRelease
                                              : 0);
  }
  mods.takeOneOf({"ca", "cg", "cs", "lu", "cv", "wb", "wt"});
  if (isLoad)
    mods.take("nc");
  mods.takeOneOf({"L1::evict_normal", "L1::evict_unchanged", "L1::evict_first",
                  "L1::evict_last", "L1::no_allocate"});
  mods.takeOneOf({"L2::evict_normal", "L2::evict_first", "L2::evict_last"});
  mods.takeOneOf({"L2::64B", "L2::128B", "L2::256B"});
  std::string vec = mods.takeOneOf({"v2", "v4"});
  in.vec = vec == "v2" ? 2 : vec == "v4" ? 4 : 1;
  std::vector<Ty> types = mods.takeTypes();
  if (types.size() != 1 || !mods.empty() || types[0] == Ty::Pred ||
      types[0] == Ty::None)
    unsupported(raw);
  Ty type = types[0];
  in.bits = static_cast<uint8_t>(bitsOf(type));
  in.mask = maskOf(in.bits);
  in.isSigned = isSignedTy(type);
  if (in.isSigned)
    in.flags |= kSignLoad;
  if (space == Space::Param && !isLoad)
    unsupported(raw); // a kernel's parameters are read-only
  switch (space) {
  case Space::Global:
    in.op = isLoad ? Op::LdGlobal : Op::StGlobal;
    break;
  case Space::Shared:
    in.op = isLoad ? Op::LdShared : Op::StShared;
    break;
  case Space::Param:
    in.op = Op::LdParam;
    break;
  case Space::Generic:
    in.op = isLoad ? Op::LdGeneric : Op::StGeneric;
    break;
  }
  expectCount(raw, 2);
  const RawOperand &value = raw.operands[isLoad ? 0 : 1];
  decodeAddress(raw, raw.operands[isLoad ? 1 : 0], space, in);
  std::vector<RawOperand> elems;
  if (in.vec > 1) {
    if (value.kind != RawOperand::Vector || value.elems.size() != in.vec)
      failAt(raw.line, "expected a vector of %u", in.vec);
    for (const std::string &e : value.elems) {
      RawOperand r;
      r.kind = e == "_" ? RawOperand::Sink : RawOperand::Reg;
      r.name = e;
      elems.push_back(r);
    }
  } else {
    elems.push_back(value);
  }
  in.dstMask = ~0ull;
  for (unsigned i = 0; i < in.vec; ++i) {
    if (isLoad) {
      in.d[i] = dst(elems[i], raw.line);
      unsigned bits = 64;
      if (elems[i].kind == RawOperand::Reg)
        reg(elems[i].name, raw.line, &bits);
      if (bits < in.bits)
        failAt(raw.line, "a %u-bit load into a %u-bit register", in.bits, bits);
      // Every element's register has the same width in generated PTX; the
      // narrowest decides the sign-extension mask.
      in.dstMask = std::min(in.dstMask, maskOf(bits));
    } else {
      in.s[i] = src(elems[i], type, raw.line);
    }
  }
}

void Decoder::decodeAtomic(const RawInstr &raw, Modifiers &mods, Instr &in) {
  bool isRed = mods.base() == "red";
  // A thread runs alone and an atomic is one step of it: every memory
  // order and scope holds already. red has no acquire side. The
  // inter-block race check takes an atomic at device scope (.gpu, the
  // default, or .sys) as morally strong with other blocks' atomics, and
  // its semantics at that scope as its acquire and release; one of a
  // narrower scope (.cta, and .cluster: a launch has clusters of one
  // block) as a plain access there.
  std::string sem =
      mods.takeOneOf({"relaxed", "acquire", "release", "acq_rel"});
  std::string scope = mods.takeOneOf({"cta", "cluster", "gpu", "sys"});
  if (scope != "cta" && scope != "cluster") {
    in.sync = kStrong;
    if (sem == "acquire" || sem == "acq_rel")
      in.sync |= kAcquire;
    if (sem == "release" || sem == "acq_rel")
      in.sync |= kRelease;
  }
  Space space = takeSpace(raw, mods);
  std::string op = mods.takeOneOf(
      {"add", "inc", "dec", "min", "max", "and", "or", "xor", "exch", "cas"});
  std::vector<Ty> types = mods.takeTypes();
  if (op.empty() || types.size() != 1 || !mods.empty() ||
      space == Space::Param ||
      (isRed && (sem == "acquire" || sem == "acq_rel" || op == "exch" ||
                 op == "cas")))
    unsupported(raw);
  Ty type = types[0];
  auto typeIn = [type](std::initializer_list<Ty> allowed) {
    return std::find(allowed.begin(), allowed.end(), type) != allowed.end();
  };
  // The scalar forms of the PTX ISA's table of atom operations and types,
  // but for those with .b16, .b128, .f16, .bf16 (and their .noftz).
  bool ok;
  if (op == "add")
    ok = typeIn({Ty::U32, Ty::S32, Ty::U64, Ty::F32, Ty::F64});
  else if (op == "inc" || op == "dec")
    ok = type == Ty::U32;
  else if (op == "min" || op == "max")
    ok = typeIn({Ty::U32, Ty::S32, Ty::U64, Ty::S64});
  else // and, or, xor, exch, cas
    ok = typeIn({Ty::B32, Ty::B64});
  if (!ok)
    unsupported(raw);
  static const std::unordered_map<std::string, Rmw> kRmws = {
      {"add", Rmw::Add}, {"inc", Rmw::Inc},   {"dec", Rmw::Dec},
      {"min", Rmw::Min}, {"max", Rmw::Max},   {"and", Rmw::And},
      {"or", Rmw::Or},   {"xor", Rmw::Xor},   {"exch", Rmw::Exch},
      {"cas", Rmw::Cas}};
  in.rmw = type == Ty::F32   ? Rmw::FAdd
           : type == Ty::F64 ? Rmw::DAdd
                             : kRmws.at(op);
  in.op = space == Space::Global   ? Op::AtomGlobal
          : space == Space::Shared ? Op::AtomShared
                                   : Op::AtomGeneric;
  if (isRed)
    in.flags |= kReduction;
  in.bits = static_cast<uint8_t>(bitsOf(type));
  in.mask = maskOf(in.bits);
  in.isSigned = isSignedTy(type);
  // atom d, [a], b{, c}; red [a], b: red is atom with the sink for d.
  size_t first = isRed ? 0 : 1;
  expectCount(raw, first + (in.rmw == Rmw::Cas ? 3 : 2));
  if (!isRed)
    in.d[0] = dst(raw.operands[0], raw.line);
  decodeAddress(raw, raw.operands[first], space, in);
  in.s[0] = src(raw.operands[first + 1], type, raw.line);
  if (in.rmw == Rmw::Cas)
    in.s[1] = src(raw.operands[first + 2], type, raw.line);
}

void Decoder::decodeCvt(const RawInstr &raw, Modifiers &mods, Instr &in) {
  std::string round =
      mods.takeOneOf({"rn", "rz", "rm", "rp", "rni", "rzi", "rmi", "rpi"});
  if (mods.take("ftz"))
    in.flags |= kFtz;
  if (mods.take("sat"))
    in.flags |= kSat;
  std::vector<Ty> types = mods.takeTypes();
  if (types.size() != 2 || !mods.empty())
    unsupported(raw);
  in.dstTy = types[0];
  in.srcTy = types[1];
  if (in.dstTy == Ty::Pred || in.srcTy == Ty::Pred)
    unsupported(raw);
  bool dstF = isFloatTy(in.dstTy), srcF = isFloatTy(in.srcTy);
  in.roundInt = round.size() == 3;
  in.rounding = round.empty() ? 0 : round[1];
  // What the emulator implements: integer conversions (.sat included);
  // exact widening float conversions; narrowing and integer-to-float ones
  // rounding to nearest even; float-to-integer ones with an integer
  // rounding; and float rounding to an integral value.
  bool ok;
  if (!dstF && !srcF)
    ok = round.empty();
  else if (dstF && srcF && bitsOf(in.dstTy) > bitsOf(in.srcTy))
    ok = round.empty() && !(in.flags & kSat);
  else if (dstF && srcF && in.dstTy == in.srcTy)
    ok = in.roundInt && !(in.flags & kSat);
  else if (dstF && srcF)
    ok = round == "rn" && !(in.flags & kSat) &&
         !(in.dstTy == Ty::F16 && in.srcTy == Ty::BF16) &&
         !(in.dstTy == Ty::BF16 && in.srcTy == Ty::F16);
  else if (dstF)
    ok = round == "rn" && !(in.flags & kSat) &&
         (in.dstTy == Ty::F32 || in.dstTy == Ty::F64);
  else
    ok = in.roundInt && (in.srcTy == Ty::F32 || in.srcTy == Ty::F64);
  if (!ok)
    unsupported(raw);
  in.op = Op::Cvt;
  in.bits = static_cast<uint8_t>(bitsOf(in.dstTy));
  in.mask = maskOf(in.bits);
  expectCount(raw, 2);
  in.d[0] = dst(raw.operands[0], raw.line);
  in.s[0] = src(raw.operands[1], in.srcTy, raw.line);
}

Cmp parseCmp(const std::string &s, bool &ok) {
  static const std::unordered_map<std::string, Cmp> kCmps = {
      {"eq", Cmp::Eq},   {"ne", Cmp::Ne},   {"lt", Cmp::Lt},
      {"le", Cmp::Le},   {"gt", Cmp::Gt},   {"ge", Cmp::Ge},
      {"lo", Cmp::Lo},   {"ls", Cmp::Ls},   {"hi", Cmp::Hi},
      {"hs", Cmp::Hs},   {"equ", Cmp::Equ}, {"neu", Cmp::Neu},
      {"ltu", Cmp::Ltu}, {"leu", Cmp::Leu}, {"gtu", Cmp::Gtu},
      {"geu", Cmp::Geu}, {"num", Cmp::Num}, {"nan", Cmp::Nan}};
  auto it = kCmps.find(s);
  ok = it != kCmps.end();
  return ok ? it->second : Cmp::Eq;
}

Instr Decoder::decode(const RawInstr &raw) {
  Instr in;
  in.line = raw.line;
  if (!raw.guard.empty()) {
    unsigned bits;
    in.guard = reg(raw.guard, raw.line, &bits);
    if (bits != 1)
      failAt(raw.line, "guard '%s' is not a predicate", raw.guard.c_str());
    in.guardNegated = raw.guardNegated;
  }
  Modifiers mods(raw.opcode);
  const std::string &base = mods.base();
  const std::vector<RawOperand> &ops = raw.operands;

  // The single type of most instructions, set on `in`.
  auto oneType = [&](Ty &type) {
    std::vector<Ty> types = mods.takeTypes();
    if (types.size() != 1)
      unsupported(raw);
    type = types[0];
    in.bits = static_cast<uint8_t>(bitsOf(type));
    in.mask = maskOf(in.bits);
    in.isSigned = isSignedTy(type);
  };
  auto done = [&]() {
    if (!mods.empty())
      unsupported(raw);
  };
  // d = op(sources...) with every source of `type`.
  auto simple = [&](Ty type, size_t sources) {
    expectCount(raw, sources + 1);
    in.d[0] = dst(ops[0], raw.line);
    for (size_t i = 0; i < sources; ++i)
      in.s[i] = src(ops[i + 1], type, raw.line);
  };

  static const std::unordered_map<std::string, Op> kIntOps = {
      {"add", Op::IAdd}, {"sub", Op::ISub}, {"div", Op::IDiv},
      {"rem", Op::IRem}, {"neg", Op::INeg}, {"abs", Op::IAbs},
      {"min", Op::IMin}, {"max", Op::IMax}, {"popc", Op::Popc},
      {"clz", Op::Clz}};
  static const std::unordered_map<std::string, std::pair<Op, Op>> kFloatOps = {
      {"add", {Op::FAdd, Op::DAdd}},    {"sub", {Op::FSub, Op::DSub}},
      {"mul", {Op::FMul, Op::DMul}},    {"div", {Op::FDiv, Op::DDiv}},
      {"fma", {Op::FFma, Op::DFma}},    {"mad", {Op::FFma, Op::DFma}},
      {"neg", {Op::FNeg, Op::DNeg}},    {"abs", {Op::FAbs, Op::DAbs}},
      {"min", {Op::FMin, Op::DMin}},    {"max", {Op::FMax, Op::DMax}},
      {"rcp", {Op::FRcp, Op::DRcp}},    {"sqrt", {Op::FSqrt, Op::DSqrt}},
      {"rsqrt", {Op::FRsqrt, Op::Nop}}, {"ex2", {Op::FEx2, Op::Nop}},
      {"lg2", {Op::FLg2, Op::Nop}},     {"sin", {Op::FSin, Op::Nop}},
      {"cos", {Op::FCos, Op::Nop}},     {"tanh", {Op::FTanh, Op::Nop}}};

  if (kFloatOps.count(base) || kIntOps.count(base) || base == "mul" ||
      base == "mad") {
    std::vector<Ty> peekTypes = Modifiers(raw.opcode).takeTypes();
    bool isFloat = peekTypes.size() == 1 && isFloatTy(peekTypes[0]);
    Ty type;
    if (isFloat) {
      auto it = kFloatOps.find(base);
      if (it == kFloatOps.end())
        unsupported(raw);
      oneType(type);
      if (type != Ty::F32 && type != Ty::F64)
        unsupported(raw); // f16/bf16 arithmetic
      in.op = type == Ty::F32 ? it->second.first : it->second.second;
      if (in.op == Op::Nop)
        unsupported(raw);
      std::string round = mods.takeOneOf({"rn", "rz", "rm", "rp"});
      bool approx = mods.take("approx");
      bool full = mods.take("full");
      if (mods.take("ftz"))
        in.flags |= kFtz;
      if (mods.take("NaN"))
        in.flags |= kNaN;
      if ((round != "" && round != "rn") || mods.take("sat") ||
          mods.take("xorsign") || mods.take("abs"))
        unsupported(raw);
      // The transcendental functions exist as .approx only; div, rcp and
      // sqrt need a rounding or .approx (.full for div).
      bool transcendental = base == "rsqrt" || base == "ex2" || base == "lg2" ||
                            base == "sin" || base == "cos" || base == "tanh";
      if (transcendental ? !approx || !round.empty()
          : (base == "div" || base == "rcp" || base == "sqrt")
              ? (round.empty() == !(approx || full)) || (full && base != "div")
              : approx || full)
        unsupported(raw);
      if ((in.flags & kNaN) && base != "min" && base != "max")
        unsupported(raw);
      if ((base == "fma" || base == "mad") && round.empty())
        unsupported(raw);
      done();
      size_t sources = (base == "fma" || base == "mad") ? 3
                       : (base == "neg" || base == "abs" || base == "rcp" ||
                          base == "sqrt" || transcendental)
                           ? 1
                           : 2;
      simple(type, sources);
      return in;
    }
    oneType(type);
    if (!isIntTy(type))
      unsupported(raw);
    if (base == "mul" || base == "mad") {
      std::string mode = mods.takeOneOf({"lo", "hi", "wide"});
      if (mode.empty() || (mode == "wide" && in.bits == 64) || in.bits < 16)
        unsupported(raw);
      bool mad = base == "mad";
      in.op = mode == "lo"   ? (mad ? Op::IMadLo : Op::IMulLo)
              : mode == "hi" ? (mad ? Op::IMadHi : Op::IMulHi)
                             : (mad ? Op::IMadWide : Op::IMulWide);
      done();
      simple(type, mad ? 3 : 2);
      if (mode == "wide" && mad) {
        // The addend is as wide as the result.
        Ty wide = in.isSigned ? (in.bits == 32 ? Ty::S64 : Ty::S32)
                              : (in.bits == 32 ? Ty::U64 : Ty::U32);
        in.s[2] = src(ops[3], wide, raw.line);
      }
      return in;
    }
    in.op = kIntOps.at(base);
    bool bitCount = in.op == Op::Popc || in.op == Op::Clz;
    // popc and clz take .b32/.b64; the arithmetic takes .u/.s types.
    if (bitCount ? !isBitTy(type) || in.bits < 32
                 : isBitTy(type) || in.bits < 16)
      unsupported(raw);
    if ((in.op == Op::INeg || in.op == Op::IAbs) && !in.isSigned)
      unsupported(raw);
    done();
    simple(type, (in.op == Op::INeg || in.op == Op::IAbs || in.op == Op::Popc ||
                  in.op == Op::Clz)
                     ? 1
                     : 2);
    if (in.op == Op::Popc || in.op == Op::Clz)
      in.mask = maskOf(32); // the count is a .u32
    return in;
  }

  if (base == "and" || base == "or" || base == "xor" || base == "not" ||
      base == "cnot") {
    Ty type;
    oneType(type);
    if (!isBitTy(type) && type != Ty::Pred)
      unsupported(raw);
    done();
    in.op = base == "and"   ? Op::And
            : base == "or"  ? Op::Or
            : base == "xor" ? Op::Xor
            : base == "not" ? Op::Not
                            : Op::CNot;
    if (in.op == Op::CNot && type == Ty::Pred)
      unsupported(raw);
    simple(type, in.op == Op::Not || in.op == Op::CNot ? 1 : 2);
    return in;
  }

  if (base == "shl" || base == "shr") {
    Ty type;
    oneType(type);
    if (!isIntTy(type) || in.bits < 16 || (base == "shl" && !isBitTy(type)))
      unsupported(raw);
    done();
    in.op = base == "shl" ? Op::Shl : Op::Shr;
    expectCount(raw, 3);
    in.d[0] = dst(ops[0], raw.line);
    in.s[0] = src(ops[1], type, raw.line);
    in.s[1] = src(ops[2], Ty::U32, raw.line);
    return in;
  }

  if (base == "bfe") {
    Ty type;
    oneType(type);
    if (type != Ty::U32 && type != Ty::S32 && type != Ty::U64 &&
        type != Ty::S64)
      unsupported(raw);
    done();
    in.op = Op::Bfe;
    expectCount(raw, 4);
    in.d[0] = dst(ops[0], raw.line);
    in.s[0] = src(ops[1], type, raw.line);
    in.s[1] = src(ops[2], Ty::U32, raw.line);
    in.s[2] = src(ops[3], Ty::U32, raw.line);
    return in;
  }

  if (base == "setp") {
    std::vector<Ty> types = mods.takeTypes();
    if (types.size() != 1 || types[0] == Ty::Pred)
      unsupported(raw);
    Ty type = types[0];
    in.bits = static_cast<uint8_t>(bitsOf(type));
    in.mask = maskOf(in.bits);
    in.isSigned = isSignedTy(type);
    if (mods.take("ftz"))
      in.flags |= kFtz;
    std::string boolOp = mods.takeOneOf({"and", "or", "xor"});
    in.boolOp = boolOp == "and"   ? BoolOp::And
                : boolOp == "or"  ? BoolOp::Or
                : boolOp == "xor" ? BoolOp::Xor
                                  : BoolOp::None;
    std::string cmpName = mods.takeOneOf(
        {"eq", "ne", "lt", "le", "gt", "ge", "lo", "ls", "hi", "hs", "equ",
         "neu", "ltu", "leu", "gtu", "geu", "num", "nan"});
    bool ok;
    in.cmp = parseCmp(cmpName, ok);
    done();
    if (!ok)
      unsupported(raw);
    bool isFloat = type == Ty::F32 || type == Ty::F64;
    if (isFloatTy(type) && !isFloat)
      unsupported(raw); // f16 compares
    bool unsignedOnly = in.cmp == Cmp::Lo || in.cmp == Cmp::Ls ||
                        in.cmp == Cmp::Hi || in.cmp == Cmp::Hs;
    bool floatOnly = in.cmp >= Cmp::Equ;
    if ((isFloat && unsignedOnly) || (!isFloat && floatOnly) ||
        (isBitTy(type) && in.cmp != Cmp::Eq && in.cmp != Cmp::Ne) ||
        (!isFloat && (in.flags & kFtz)))
      unsupported(raw);
    in.op = type == Ty::F32   ? Op::SetpF
            : type == Ty::F64 ? Op::SetpD
                              : Op::SetpI;
    expectCount(raw, in.boolOp == BoolOp::None ? 3 : 4);
    const RawOperand &p = ops[0];
    if (p.kind != RawOperand::Reg)
      failAt(raw.line, "expected a predicate");
    in.d[0].reg = reg(p.name, raw.line);
    if (!p.second.empty()) {
      in.flags |= kWidePred;
      in.d[1].reg = p.second == "_" ? kSinkReg : reg(p.second, raw.line);
    }
    in.s[0] = src(ops[1], type, raw.line);
    in.s[1] = src(ops[2], type, raw.line);
    if (in.boolOp != BoolOp::None) {
      RawOperand c = ops[3];
      if (c.kind != RawOperand::Reg)
        failAt(raw.line, "expected a predicate");
      in.s[2].reg = reg(c.name, raw.line);
      // A negated combining predicate: stored as the immediate 1 to xor.
      in.s[3].imm = c.negated ? 1 : 0;
    }
    return in;
  }

  if (base == "selp") {
    Ty type;
    oneType(type);
    done();
    in.op = Op::Selp;
    expectCount(raw, 4);
    in.d[0] = dst(ops[0], raw.line);
    in.s[0] = src(ops[1], type, raw.line);
    in.s[1] = src(ops[2], type, raw.line);
    in.s[2] = src(ops[3], Ty::Pred, raw.line);
    if (in.s[2].reg == kNoReg)
      failAt(raw.line, "selp needs a predicate register");
    return in;
  }

  if (base == "mov") {
    Ty type;
    oneType(type);
    done();
    expectCount(raw, 2);
    if (ops[1].kind == RawOperand::Vector ||
        ops[0].kind == RawOperand::Vector) {
      bool pack = ops[1].kind == RawOperand::Vector;
      const RawOperand &vector = pack ? ops[1] : ops[0];
      size_t parts = vector.elems.size();
      if ((parts != 2 && parts != 4) || in.bits / parts < 8 || isFloatTy(type))
        unsupported(raw);
      in.op = pack ? Op::MovPack : Op::MovUnpack;
      in.vec = static_cast<uint8_t>(parts);
      for (size_t i = 0; i < parts; ++i) {
        RawOperand e;
        e.kind = vector.elems[i] == "_" ? RawOperand::Sink : RawOperand::Reg;
        e.name = vector.elems[i];
        if (pack)
          in.s[i] = src(e, Ty::B64, raw.line);
        else
          in.d[i] = dst(e, raw.line);
      }
      if (pack)
        in.d[0] = dst(ops[0], raw.line);
      else
        in.s[0] = src(ops[1], type, raw.line);
      return in;
    }
    in.op = Op::Mov;
    simple(type, 1);
    return in;
  }

  if (base == "cvt" && (raw.opcode == "cvt.rna.tf32.f32" ||
                        raw.opcode == "cvt.rna.satfinite.tf32.f32")) {
    // f32 to tf32 in a .b32 register: rounded to nearest, ties away from
    // zero, to the upper 19 bits; the low 13 bits are zero.
    in.op = Op::CvtTf32;
    if (mods.take("satfinite"))
      in.flags |= kSat;
    in.bits = 32;
    in.mask = maskOf(32);
    expectCount(raw, 2);
    in.d[0] = dst(ops[0], raw.line);
    in.s[0] = src(ops[1], Ty::F32, raw.line);
    return in;
  }

  if (base == "cvt") {
    decodeCvt(raw, mods, in);
    return in;
  }

  if (base == "cvta") {
    bool to = mods.take("to");
    std::string space = mods.takeOneOf(
        {"global", "shared", "param", "local", "const", "shared::cta"});
    Ty type;
    oneType(type);
    done();
    if (space.empty() || (type != Ty::U64 && type != Ty::U32) ||
        space == "local" || space == "const" || space == "param")
      unsupported(raw);
    // Global addresses are the same generic and global.
    in.op = space == "global" ? Op::Mov
            : to              ? Op::CvtaToShared
                              : Op::CvtaShared;
    simple(type, 1);
    return in;
  }

  if (base == "ld" || base == "st") {
    decodeMemory(raw, mods, in, base == "ld");
    return in;
  }

  if (base == "atom" || base == "red") {
    decodeAtomic(raw, mods, in);
    return in;
  }

  if (base == "bra") {
    mods.take("uni");
    done();
    expectCount(raw, 1);
    if (ops[0].kind != RawOperand::Symbol)
      failAt(raw.line, "bra needs a label");
    auto target = labels_.find(ops[0].name);
    if (target == labels_.end())
      failAt(raw.line, "unknown label '%s'", ops[0].name.c_str());
    in.op = Op::Bra;
    in.target = target->second;
    return in;
  }

  if (base == "ret" || base == "exit") {
    mods.take("uni");
    done();
    expectCount(raw, 0);
    in.op = Op::Exit;
    return in;
  }

  if (base == "bar" || base == "barrier") {
    if (mods.take("warp")) {
      // bar.warp.sync membermask: a shuffle that exchanges nothing.
      if (!mods.take("sync"))
        unsupported(raw);
      done();
      expectCount(raw, 1);
      in.op = Op::WarpSync;
      in.shfl = Shfl::None;
      in.s[2] = src(ops[0], Ty::B32, raw.line);
      return in;
    }
    if (!mods.take("sync") && !(base == "bar" && mods.empty()))
      unsupported(raw);
    mods.take("aligned");
    done();
    // Barriers with a thread count are not implemented: every live thread
    // of the block takes part.
    expectCount(raw, 1);
    if (ops[0].kind != RawOperand::Imm)
      unsupported(raw);
    in.op = Op::BarSync;
    in.barrier = static_cast<uint32_t>(immediate(ops[0], Ty::U32, raw.line));
    if (in.barrier > 15)
      failAt(raw.line, "barrier %u is out of range", in.barrier);
    return in;
  }

  if (base == "shfl") {
    if (!mods.take("sync"))
      unsupported(raw);
    std::string mode = mods.takeOneOf({"up", "down", "bfly", "idx"});
    Ty type;
    oneType(type);
    done();
    if (mode.empty() || type != Ty::B32)
      unsupported(raw);
    in.op = Op::WarpSync;
    in.shfl = mode == "up"     ? Shfl::Up
              : mode == "down" ? Shfl::Down
              : mode == "bfly" ? Shfl::Bfly
                               : Shfl::Idx;
    expectCount(raw, 5);
    const RawOperand &d = ops[0];
    if (d.kind != RawOperand::Reg)
      failAt(raw.line, "expected a destination register");
    in.d[0].reg = reg(d.name, raw.line);
    if (!d.second.empty()) {
      in.flags |= kWidePred;
      in.d[1].reg = d.second == "_" ? kSinkReg : reg(d.second, raw.line);
    }
    in.s[0] = src(ops[1], Ty::B32, raw.line);
    in.s[1] = src(ops[2], Ty::B32, raw.line);
    in.s[2] = src(ops[4], Ty::B32, raw.line); // membermask
    in.s[3] = src(ops[3], Ty::B32, raw.line); // c
    return in;
  }

  if (base == "mma") {
    // The one shape and type of the warp-level matrix multiply-accumulate
    // that is implemented: D (16x8, f32) = A (16x8, tf32) x B (8x8, tf32) +
    // C (16x8, f32), the fragments as the PTX ISA's "Matrix Fragments for
    // mma.m16n8k8" (.tf32) lays them out (Runner::mma).
    if (raw.opcode != "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32")
      unsupported(raw);
    expectCount(raw, 4);
    static const size_t kSizes[4] = {4, 4, 2, 4};
    MmaOperands operands;
    uint32_t *slots[4] = {operands.d, operands.a, operands.b, operands.c};
    for (size_t i = 0; i < 4; ++i) {
      const RawOperand &vector = ops[i];
      if (vector.kind != RawOperand::Vector || vector.elems.size() != kSizes[i])
        failAt(raw.line, "mma.sync operand %zu: expected %zu registers", i + 1,
               kSizes[i]);
      for (size_t j = 0; j < kSizes[i]; ++j) {
        const std::string &name = vector.elems[j];
        if (name == "_" || name[0] != '%')
          failAt(raw.line, "mma.sync operand %zu: '%s' is not a register",
                 i + 1, name.c_str());
        if (i == 0 && specialRegisters().count(name))
          failAt(raw.line, "'%s' is read-only", name.c_str());
        unsigned bits;
        slots[i][j] = reg(name, raw.line, &bits);
        if (bits != 32)
          failAt(raw.line, "mma.sync operand '%s' is not a 32-bit register",
                 name.c_str());
      }
    }
    in.op = Op::WarpSync;
    in.shfl = Shfl::Mma;
    in.s[2].imm = 0xffffffffu; // the whole warp takes part
    in.target = static_cast<uint32_t>(kernel_.mmas.size());
    kernel_.mmas.push_back(operands);
    return in;
  }

  if (base == "membar" || base == "fence") {
    // Threads run one at a time: every access is already ordered. Only the
    // inter-block race check needs the device-scope ones.
    std::string scope = base == "membar"
                            ? mods.takeOneOf({"cta", "gl", "sys"})
                            : mods.takeOneOf({"cta", "cluster", "gpu", "sys"});
    if (base == "fence")
      mods.takeOneOf({"sc", "acq_rel"});
    done();
    if (scope.empty())
      unsupported(raw);
    expectCount(raw, 0);
    in.op = scope == "cta" || scope == "cluster" ? Op::Nop : Op::Fence;
    return in;
  }

  unsupported(raw);
}

void Parser::parseEntry(std::vector<std::unique_ptr<Kernel>> &kernels) {
  auto kernel = std::make_unique<Kernel>();
  unsigned entryLine = peek().line;
  kernel->name = expectIdent();
  std::unordered_map<std::string, unsigned> params;
  parseParams(*kernel, params);
  // Performance directives.
  while (peek().kind == Token::Ident && peek().text[0] == '.') {
    unsigned line = peek().line;
    std::string d = next().text;
    std::vector<uint64_t> values;
    do
      values.push_back(expectInteger());
    while (accept(","));
    if (d == ".maxntid" || d == ".reqntid") {
      uint64_t product = 1;
      for (uint64_t v : values)
        product *= v;
      kernel->maxThreads =
          static_cast<unsigned>(std::min<uint64_t>(product, 1u << 20));
      if (d == ".reqntid") {
        kernel->hasRequiredBlock = true;
        kernel->requiredBlock.x = static_cast<unsigned>(values[0]);
        kernel->requiredBlock.y =
            values.size() > 1 ? static_cast<unsigned>(values[1]) : 1;
        kernel->requiredBlock.z =
            values.size() > 2 ? static_cast<unsigned>(values[2]) : 1;
      }
    } else if (d != ".minnctapersm" && d != ".maxnreg" &&
               d != ".maxnctapersm") {
      failAt(line, "unsupported directive '%s'", d.c_str());
    }
  }
  if (accept(";"))
    return; // a declaration
  expect("{");
  std::unordered_map<std::string, RegRange> regs;
  uint32_t slots = 1; // the sink
  std::vector<std::pair<std::string, SharedVar>> shared = moduleShared_;
  unsigned sharedBytes = moduleSharedBytes_;
  unsigned dynamicAlign = moduleDynamicAlign_;
  std::unordered_map<std::string, uint32_t> labels;
  std::vector<RawInstr> raws;
  bool linkageExtern = false;
  for (;;) {
    const Token &t = peek();
    if (t.kind == Token::End)
      failAt(entryLine, "'%s' has no end", kernel->name.c_str());
    if (accept("}"))
      break;
    if (isPunct("{"))
      failAt(t.line, "nested scopes are not supported");
    if (t.kind == Token::Ident && t.text == ".reg") {
      next();
      parseRegDecl(regs, slots);
      continue;
    }
    if (t.kind == Token::Ident && t.text == ".extern") {
      next();
      linkageExtern = true;
      continue;
    }
    if (t.kind == Token::Ident && t.text == ".shared") {
      next();
      parseSharedVar(linkageExtern, shared, sharedBytes, dynamicAlign);
      linkageExtern = false;
      continue;
    }
    if (t.kind == Token::Ident && t.text == ".pragma") {
      // Hints to ptxas ("nounroll"): nothing to emulate.
      next();
      while (peek().kind == Token::String || isPunct(","))
        next();
      expect(";");
      continue;
    }
    if (t.kind == Token::Ident && t.text[0] == '.')
      failAt(t.line, "unsupported directive '%s'", t.text.c_str());
    if (t.kind == Token::Ident && isPunct(":", 1)) {
      labels[t.text] = static_cast<uint32_t>(raws.size());
      next();
      next();
      continue;
    }
    RawInstr raw;
    raw.line = t.line;
    if (accept("@")) {
      raw.guardNegated = accept("!");
      raw.guard = expectIdent();
    }
    raw.opcode = expectIdent();
    if (!accept(";")) {
      do
        raw.operands.push_back(parseOperand());
      while (accept(","));
      expect(";");
    }
    raws.push_back(std::move(raw));
  }
  kernel->registers = slots;
  kernel->staticSharedBytes = sharedBytes;
  kernel->dynamicSharedAlign = dynamicAlign;
  std::unordered_map<std::string, SharedVar> sharedMap(shared.begin(),
                                                       shared.end());
  Decoder decoder(*kernel, regs, params, sharedMap, labels,
                  alignTo(sharedBytes, dynamicAlign));
  for (const RawInstr &raw : raws)
    kernel->code.push_back(decoder.decode(raw));
  // Falling off the end returns.
  Instr end;
  end.op = Op::Exit;
  end.line = tokens_[pos_ ? pos_ - 1 : 0].line;
  kernel->code.push_back(end);
  for (const auto &k : kernels)
    if (k->name == kernel->name)
      failAt(entryLine, "'%s' is defined twice", kernel->name.c_str());
  kernels.push_back(std::move(kernel));
}

void Parser::parseModule(std::vector<std::unique_ptr<Kernel>> &kernels) {
  bool linkageExtern = false;
  while (peek().kind != Token::End) {
    const Token &t = next();
    if (t.kind != Token::Ident)
      failAt(t.line, "unexpected '%s'", t.text.c_str());
    if (t.text == ".version") {
      if (next().kind != Token::Number)
        failAt(t.line, "bad .version");
    } else if (t.text == ".target") {
      do
        expectIdent();
      while (accept(","));
    } else if (t.text == ".address_size") {
      if (expectInteger() != 64)
        failAt(t.line, "only .address_size 64 is supported");
    } else if (t.text == ".visible" || t.text == ".weak") {
      continue;
    } else if (t.text == ".extern") {
      linkageExtern = true;
      continue;
    } else if (t.text == ".entry") {
      parseEntry(kernels);
    } else if (t.text == ".shared") {
      parseSharedVar(linkageExtern, moduleShared_, moduleSharedBytes_,
                     moduleDynamicAlign_);
    } else {
      failAt(t.line, "unsupported directive '%s'", t.text.c_str());
    }
    linkageExtern = false;
  }
}

} // namespace

std::unique_ptr<Module> Module::parse(const char *text, std::string &error) {
  std::unique_ptr<Module> module(new Module());
  try {
    Parser(text).parseModule(module->kernels_);
  } catch (const ParseError &e) {
    error = e.message;
    return nullptr;
  }
  return module;
}

//===----------------------------------------------------------------------===//
// Execution
//===----------------------------------------------------------------------===//

namespace {

float toF32(uint64_t v) {
  uint32_t u = static_cast<uint32_t>(v);
  float f;
  memcpy(&f, &u, 4);
  return f;
}
uint64_t fromF32(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
double toF64(uint64_t v) {
  double d;
  memcpy(&d, &v, 8);
  return d;
}
uint64_t fromF64(double d) {
  uint64_t v;
  memcpy(&v, &d, 8);
  return v;
}
/// .ftz: a subnormal becomes a zero of its sign.
float flush(float f) {
  return std::fpclassify(f) == FP_SUBNORMAL ? std::copysign(0.0f, f) : f;
}

/// f32 to f16, rounding to nearest even (cvt.rn.f16.f32).
uint16_t f32ToF16(float f) {
  uint32_t x = static_cast<uint32_t>(fromF32(f));
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t abs = x & 0x7fffffff;
  if (abs > 0x7f800000)
    return 0x7fff; // the canonical NaN
  if (abs >= 0x477ff000)
    return static_cast<uint16_t>(sign | 0x7c00); // 65520 and up round to inf
  if (abs < 0x38800000) {                        // below 2^-14: subnormal
    if (abs < 0x33000000)                        // at most 2^-25: zero
      return static_cast<uint16_t>(sign);
    uint32_t exponent = abs >> 23;
    uint32_t mantissa = (abs & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - exponent;
    uint32_t q = mantissa >> shift;
    uint32_t rest = mantissa & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rest > half || (rest == half && (q & 1)))
      ++q;
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t q = (abs - 0x38000000) >> 13;
  uint32_t rest = abs & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (q & 1)))
    ++q; // a carry into the exponent is right, up to inf
  return static_cast<uint16_t>(sign | q);
}
float f16ToF32(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exponent = (h >> 10) & 0x1f,
           mantissa = h & 0x3ff;
  if (exponent == 0) {
    float v = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -v : v;
  }
  if (exponent == 31)
    return toF32(sign | 0x7f800000 | (mantissa << 13));
  return toF32(sign | ((exponent + 112) << 23) | (mantissa << 13));
}
/// f32 to bf16, rounding to nearest even (cvt.rn.bf16.f32).
uint16_t f32ToBf16(float f) {
  uint32_t x = static_cast<uint32_t>(fromF32(f));
  if ((x & 0x7fffffff) > 0x7f800000)
    return 0x7fff;
  return static_cast<uint16_t>((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}
float bf16ToF32(uint16_t h) { return toF32(static_cast<uint32_t>(h) << 16); }

/// The upper 19 bits (sign, exponent, 10 bits of mantissa) of an f32 bit
/// pattern: the tf32 value that mma.sync reads from a .b32 register.
constexpr uint32_t kTf32Mask = 0xffffe000u;

/// cvt.rna{.satfinite}.tf32.f32: rounds to nearest, ties away from zero,
/// as the hardware does (add half a tf32 ulp, then truncate; a carry into
/// the exponent is right, up to inf). A NaN stays a NaN; .satfinite makes
/// what would be infinite the largest finite tf32 of its sign.
uint32_t f32ToTf32(uint32_t x, bool satfinite) {
  uint32_t abs = x & 0x7fffffffu;
  if (abs > 0x7f800000u)
    return (x & kTf32Mask) | 0x00400000u; // quiet, whatever its low bits
  if (abs < 0x7f800000u)
    x += 0x1000u;
  x &= kTf32Mask;
  if (satfinite && (x & 0x7fffffffu) == 0x7f800000u)
    x = (x & 0x80000000u) | 0x7f7fe000u;
  return x;
}

/// A float's value (f16, bf16, f32, f64) as a double: exact.
double floatValue(uint64_t v, Ty t, bool ftz) {
  switch (t) {
  case Ty::F16:
    return f16ToF32(static_cast<uint16_t>(v));
  case Ty::BF16:
    return bf16ToF32(static_cast<uint16_t>(v));
  case Ty::F32:
    return ftz ? flush(toF32(v)) : toF32(v);
  default:
    return toF64(v);
  }
}

double roundIntegral(double d, char rounding) {
  switch (rounding) {
  case 'n':
    return std::nearbyint(d); // the default mode: to nearest even
  case 'z':
    return std::trunc(d);
  case 'm':
    return std::floor(d);
  default:
    return std::ceil(d);
  }
}

/// cvt, for what decodeCvt accepts.
uint64_t convert(const Instr &in, uint64_t v) {
  Ty dt = in.dstTy, st = in.srcTy;
  unsigned dbits = bitsOf(dt), sbits = bitsOf(st);
  bool ftz = in.flags & kFtz;
  if (!isFloatTy(dt) && !isFloatTy(st)) {
    uint64_t mask = maskOf(sbits);
    if (!(in.flags & kSat))
      return (isSignedTy(st) ? static_cast<uint64_t>(sext(v, sbits))
                             : v & mask) &
             maskOf(dbits);
    // Clamp to the destination's range.
    bool srcSigned = isSignedTy(st);
    int64_t sv = srcSigned ? sext(v, sbits) : 0;
    uint64_t uv = v & mask;
    if (isSignedTy(dt)) {
      int64_t hi = static_cast<int64_t>(maskOf(dbits - 1)), lo = -hi - 1;
      int64_t r = srcSigned ? std::clamp(sv, lo, hi)
                            : static_cast<int64_t>(std::min<uint64_t>(uv, hi));
      return static_cast<uint64_t>(r) & maskOf(dbits);
    }
    uint64_t hi = maskOf(dbits);
    if (srcSigned)
      return sv < 0 ? 0 : std::min<uint64_t>(static_cast<uint64_t>(sv), hi);
    return std::min(uv, hi);
  }
  if (isFloatTy(st) && !isFloatTy(dt)) {
    double d = floatValue(v, st, ftz);
    if (std::isnan(d))
      return 0;
    d = roundIntegral(d, in.rounding);
    if (isSignedTy(dt)) {
      double hi = std::ldexp(1.0, static_cast<int>(dbits) - 1);
      int64_t r = d >= hi   ? static_cast<int64_t>(maskOf(dbits - 1))
                  : d < -hi ? -static_cast<int64_t>(maskOf(dbits - 1)) - 1
                            : static_cast<int64_t>(d);
      return static_cast<uint64_t>(r) & maskOf(dbits);
    }
    double hi = std::ldexp(1.0, static_cast<int>(dbits));
    return d <= 0 ? 0 : d >= hi ? maskOf(dbits) : static_cast<uint64_t>(d);
  }
  if (!isFloatTy(st)) {
    // Integer to f32/f64, rounding to nearest even (the C conversions do).
    uint64_t mask = maskOf(sbits);
    if (dt == Ty::F32) {
      float f = isSignedTy(st) ? static_cast<float>(sext(v, sbits))
                               : static_cast<float>(v & mask);
      return fromF32(ftz ? flush(f) : f);
    }
    return fromF64(isSignedTy(st) ? static_cast<double>(sext(v, sbits))
                                  : static_cast<double>(v & mask));
  }
  double d = floatValue(v, st, ftz);
  if (in.roundInt)
    d = roundIntegral(d, in.rounding);
  switch (dt) {
  case Ty::F16:
    return f32ToF16(static_cast<float>(d)); // from f32 only
  case Ty::BF16:
    return f32ToBf16(static_cast<float>(d));
  case Ty::F32: {
    float f = static_cast<float>(d);
    return fromF32(ftz ? flush(f) : f);
  }
  default:
    return fromF64(d);
  }
}

/// float min/max: without .NaN a NaN operand yields the other; -0 < +0.
float fminmax(float a, float b, bool isMax, bool nan) {
  if (std::isnan(a) || std::isnan(b)) {
    if (nan || (std::isnan(a) && std::isnan(b)))
      return toF32(0x7fffffff);
    return std::isnan(a) ? b : a;
  }
  if (a == b) // equal, or zeros of either sign
    return isMax ? (std::signbit(a) ? b : a) : (std::signbit(a) ? a : b);
  return isMax ? std::max(a, b) : std::min(a, b);
}
double dminmax(double a, double b, bool isMax, bool nan) {
  if (std::isnan(a) || std::isnan(b)) {
    if (nan || (std::isnan(a) && std::isnan(b)))
      return toF64(0x7fffffffffffffffull);
    return std::isnan(a) ? b : a;
  }
  if (a == b)
    return isMax ? (std::signbit(a) ? b : a) : (std::signbit(a) ? a : b);
  return isMax ? std::max(a, b) : std::min(a, b);
}

template <typename T> bool compareFloat(Cmp cmp, T a, T b) {
  bool unordered = std::isnan(a) || std::isnan(b);
  switch (cmp) {
  case Cmp::Eq:
    return !unordered && a == b;
  case Cmp::Ne:
    return !unordered && a != b;
  case Cmp::Lt:
    return !unordered && a < b;
  case Cmp::Le:
    return !unordered && a <= b;
  case Cmp::Gt:
    return !unordered && a > b;
  case Cmp::Ge:
    return !unordered && a >= b;
  case Cmp::Equ:
    return unordered || a == b;
  case Cmp::Neu:
    return unordered || a != b;
  case Cmp::Ltu:
    return unordered || a < b;
  case Cmp::Leu:
    return unordered || a <= b;
  case Cmp::Gtu:
    return unordered || a > b;
  case Cmp::Geu:
    return unordered || a >= b;
  case Cmp::Num:
    return !unordered;
  case Cmp::Nan:
    return unordered;
  default:
    return false;
  }
}

bool compareInt(const Instr &in, uint64_t a, uint64_t b) {
  if (in.isSigned) {
    int64_t x = sext(a, in.bits), y = sext(b, in.bits);
    switch (in.cmp) {
    case Cmp::Eq:
      return x == y;
    case Cmp::Ne:
      return x != y;
    case Cmp::Lt:
      return x < y;
    case Cmp::Le:
      return x <= y;
    case Cmp::Gt:
      return x > y;
    case Cmp::Ge:
      return x >= y;
    default:
      break;
    }
  }
  a &= in.mask;
  b &= in.mask;
  switch (in.cmp) {
  case Cmp::Eq:
    return a == b;
  case Cmp::Ne:
    return a != b;
  case Cmp::Lt:
  case Cmp::Lo:
    return a < b;
  case Cmp::Le:
  case Cmp::Ls:
    return a <= b;
  case Cmp::Gt:
  case Cmp::Hi:
    return a > b;
  case Cmp::Ge:
  case Cmp::Hs:
    return a >= b;
  default:
    return false;
  }
}

/// Whether a generic address is in the block's shared memory window.
bool isSharedGeneric(uint64_t address) {
  return address >= kSharedGeneric && address < kSharedGenericEnd;
}

/// atom and red: applies `in` to the word at `p` with the operands `b` and
/// (cas) `c`; returns the old value. A thread runs alone, so this is
/// atomic. An f32 add flushes subnormal inputs and results on global
/// memory (`ftz`) but not on shared memory, as the PTX ISA says.
uint64_t readModifyWrite(const Instr &in, uint8_t *p, uint64_t b, uint64_t c,
                         bool ftz) {
  unsigned bytes = in.bits / 8;
  uint64_t old = 0;
  memcpy(&old, p, bytes);
  b &= in.mask;
  uint64_t v = 0;
  switch (in.rmw) {
  case Rmw::Add:
    v = old + b;
    break;
  case Rmw::FAdd: {
    float x = toF32(old), y = toF32(b);
    v = fromF32(ftz ? flush(flush(x) + flush(y)) : x + y);
    break;
  }
  case Rmw::DAdd:
    v = fromF64(toF64(old) + toF64(b));
    break;
  case Rmw::Inc:
    v = old >= b ? 0 : old + 1;
    break;
  case Rmw::Dec:
    v = old == 0 || old > b ? b : old - 1;
    break;
  case Rmw::Min:
  case Rmw::Max: {
    bool less = in.isSigned ? sext(old, in.bits) < sext(b, in.bits) : old < b;
    v = (in.rmw == Rmw::Min) == less ? old : b;
    break;
  }
  case Rmw::And:
    v = old & b;
    break;
  case Rmw::Or:
    v = old | b;
    break;
  case Rmw::Xor:
    v = old ^ b;
    break;
  case Rmw::Exch:
    v = b;
    break;
  case Rmw::Cas:
    v = old == b ? c : old;
    break;
  }
  v &= in.mask;
  memcpy(p, &v, bytes);
  return old;
}

enum class State : uint8_t { Ready, AtBarrier, AtWarpSync, Exited };

/// How an instruction accesses memory, for the race checks.
enum class Access : uint8_t { Read, Write, Atomic };

struct Thread {
  uint32_t pc = 0;
  State state = State::Ready;
  Dim3 id;
  uint64_t *regs = nullptr;
};

/// Thrown from the interpreter loop on a failed check; becomes the launch's
/// LaunchStatus and message.
struct Fault {
  LaunchStatus status;
  std::string message;
};

/// One launch: runs the blocks one after another.
class Runner {
public:
  Runner(const Kernel &kernel, const LaunchConfig &config, Allocations &memory)
      : kernel_(kernel), config_(config), memory_(memory) {
    const Dim3 &b = config.block;
    threadCount_ = b.x * b.y * b.z;
    threads_.resize(threadCount_);
    registers_.resize(static_cast<size_t>(threadCount_) * kernel.registers);
    sharedBytes_ =
        alignTo(kernel.staticSharedBytes, kernel.dynamicSharedAlign) +
        config.dynamicSharedBytes;
    shared_.resize(std::max(sharedBytes_, 1u));
    shadow_.resize(shared_.size());
    // The race clock goes on from the last launch's tick, so that the
    // records of earlier launches are older than this one's first tick. It
    // starts again (and the records are cleared) long before kTickLimit.
    if (RaceRecords::clock(memory) >= kTickLimit / 2)
      RaceRecords::clear(memory);
    clock_ = RaceRecords::clock(memory);
    launchTick_ = tick(false);
  }
  ~Runner() { RaceRecords::clock(memory_) = clock_; }

  void runBlock(Dim3 block);
  uint64_t instructions() const { return instructions_; }

private:
  /// Runs `t` until it exits or waits at a synchronization point.
  void run(Thread &t);
  /// Exchanges the values of the shuffles (and runs the mma.sync) that all
  /// their lanes reached; whether any did.
  bool resolveWarpSyncs();
  /// Runs `in`, an mma.sync, for the warp whose lane 0 is thread `first`.
  void mma(unsigned first, const Instr &in);
  [[noreturn]] void fail(LaunchStatus status, const Thread &t, const Instr &in,
                         const std::string &what);
  [[noreturn]] void memoryFault(const Thread &t, const Instr &in,
                                uint64_t address, unsigned size,
                                const char *what);
  std::string where(const Thread &t) const;
  /// The host address of an access of `size` bytes at `address`,
  /// checked.
  uint8_t *global(const Thread &t, const Instr &in, uint64_t address,
                  unsigned size, Access access);
  uint8_t *shared(const Thread &t, const Instr &in, uint64_t address,
                  unsigned size, Access access);
  uint8_t *generic(const Thread &t, const Instr &in, uint64_t address,
                   unsigned size, Access access) {
    if (isSharedGeneric(address))
      return shared(t, in, address - kSharedGeneric, size, access);
    return global(t, in, address, size, access);
  }
  /// Fails on a shared memory hazard: the access of `t` touches a byte that
  /// another thread wrote (or, for a write or an atomic, read) since the
  /// last barrier, or, for a plain access, updated with an atomic. Atomics
  /// of several threads to the same bytes are no hazard: that is what they
  /// are for.
  void raceCheck(const Thread &t, const Instr &in, uint64_t address,
                 unsigned size, Access access);
  /// Fails on a global memory race between blocks: the access of `t`
  /// (in the allocation of cacheLo_) conflicts with an access of another
  /// block of the launch that no release and acquire order before it.
  /// Then records the access.
  void globalRaceCheck(const Thread &t, const Instr &in, uint64_t address,
                       unsigned size, Access access);
  /// globalRaceCheck on the records from `first` to `last`, of which the
  /// access touches `bytes` (bit i: byte i of a word; all four for a
  /// byte's record). False, having recorded only part of the access, where
  /// a word's record would lose an access: the allocation is to have a
  /// record per byte.
  bool checkRecords(const Thread &t, const Instr &in, uint64_t address,
                    unsigned size, Access access, RaceRecord *first,
                    RaceRecord *last, uint32_t bytes);
  [[noreturn]] void globalRace(const Thread &t, const Instr &in,
                               uint64_t address, unsigned size, Access access,
                               uint32_t other, const char *did);
  /// Advances the race clock for a block's start or (`fence`) a
  /// device-scope fence or release; the new tick.
  uint32_t tick(bool fence) {
    if (clock_ + 1 >= kTickLimit)
      throw Fault{LaunchStatus::Failed,
                  kernel_.name + ": too many blocks and fences in one launch "
                                 "for the race check's clock"};
    fenceTicks_.push_back(fence);
    return ++clock_;
  }
  /// Whether a device-scope fence of its block followed the access at
  /// `tick`, of a block that has ended: the next tick is then that fence's
  /// (it would be the next block's start otherwise).
  bool released(uint32_t tick) const {
    return fenceTicks_[tick + 1 - launchTick_];
  }
  /// Whether the access at `tick`, of a block that has ended, is ordered
  /// before the current block's access: released, and this block acquired.
  bool ordered(uint32_t tick) const { return acquired_ && released(tick); }
  void load(Thread &t, const Instr &in, const uint8_t *p);
  void store(Thread &t, const Instr &in, uint8_t *p);

  const Kernel &kernel_;
  const LaunchConfig &config_;
  Allocations &memory_;
  unsigned threadCount_;
  std::vector<Thread> threads_;
  std::vector<uint64_t> registers_;
  std::vector<uint8_t> shared_;
  unsigned sharedBytes_;
  Dim3 block_;
  uint64_t instructions_ = 0;
  /// The allocation of the last global access.
  uint64_t cacheLo_ = 1, cacheHi_ = 0;
  /// Who last wrote, read and updated with an atomic each shared byte, in
  /// which barrier interval (epoch: a new one per block and per barrier, so
  /// nothing is reset). An atomic is neither a write nor a read here, so
  /// that atomics of other threads do not conflict with it.
  struct Shadow {
    uint32_t writeEpoch = 0, readEpoch = 0, atomicEpoch = 0;
    uint16_t writer = 0, reader = 0, updater = 0; // kManyThreads: several
  };
  static constexpr uint16_t kManyThreads = 0xffff;
  std::vector<Shadow> shadow_;
  uint32_t epoch_ = 0;

  // The inter-block race check on global memory (globalRaceCheck).
  /// The race records of the allocation of the last global access, one per
  /// 1 << cacheShift_ bytes.
  RaceRecord *cacheRecords_ = nullptr;
  unsigned cacheShift_ = 2;
  /// The race clock (Allocations'), while the launch runs.
  uint32_t clock_ = 0;
  /// The launch's first tick, and the current block's.
  uint32_t launchTick_ = 0, blockTick_ = 0;
  /// For each tick of the launch (from launchTick_): whether a fence or a
  /// release made it, or the start of a block (or the launch).
  std::vector<bool> fenceTicks_;
  /// Each block's first tick, in the order they ran (for messages).
  std::vector<uint32_t> blockTicks_;
  /// The current block executed an atom or a strong load at device scope
  /// (observed_), and after it a device-scope fence (acquired_; an acquire
  /// at device scope sets both).
  bool observed_ = false, acquired_ = false;
};

std::string dimText(const Dim3 &d) {
  return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," +
         std::to_string(d.z) + ")";
}

std::string Runner::where(const Thread &t) const {
  return "block " + dimText(block_) + ", thread " + dimText(t.id);
}

void Runner::fail(LaunchStatus status, const Thread &t, const Instr &in,
                  const std::string &what) {
  throw Fault{status, kernel_.name + ": line " + std::to_string(in.line) +
                          ": " + what + " (" + where(t) + ")"};
}

const char *accessName(const Instr &in) {
  bool red = in.flags & kReduction;
  switch (in.op) {
  case Op::LdGlobal:
    return "ld.global";
  case Op::LdShared:
    return "ld.shared";
  case Op::LdParam:
    return "ld.param";
  case Op::LdGeneric:
    return "ld";
  case Op::StGlobal:
    return "st.global";
  case Op::StShared:
    return "st.shared";
  case Op::AtomGlobal:
    return red ? "red.global" : "atom.global";
  case Op::AtomShared:
    return red ? "red.shared" : "atom.shared";
  case Op::AtomGeneric:
    return red ? "red" : "atom";
  default:
    return "st";
  }
}

void Runner::memoryFault(const Thread &t, const Instr &in, uint64_t address,
                         unsigned size, const char *what) {
  char text[160];
  snprintf(text, sizeof(text), "%s of %u bytes at 0x%" PRIx64,
           accessName(in), size, address);
  throw Fault{LaunchStatus::IllegalAddress,
              kernel_.name + ": line " + std::to_string(in.line) + ": " + text +
                  " (" + where(t) + ") " + what};
}

uint8_t *Runner::global(const Thread &t, const Instr &in, uint64_t address,
                        unsigned size, Access access) {
  if (address & (size - 1))
    memoryFault(t, in, address, size, "is misaligned");
  if (address < cacheLo_ || address + size > cacheHi_ ||
      address + size <= address) {
    cacheRecords_ = RaceRecords::find(memory_, address, size, cacheLo_,
                                      cacheHi_, cacheShift_);
    if (!cacheRecords_) {
      cacheLo_ = 1;
      cacheHi_ = 0;
      memoryFault(t, in, address, size, "is outside every allocation");
    }
  }
  globalRaceCheck(t, in, address, size, access);
  return reinterpret_cast<uint8_t *>(static_cast<uintptr_t>(address));
}

uint8_t *Runner::shared(const Thread &t, const Instr &in, uint64_t address,
                        unsigned size, Access access) {
  if (address & (size - 1))
    memoryFault(t, in, address, size, "is misaligned");
  if (address >= sharedBytes_ || sharedBytes_ - address < size) {
    std::string what = "is outside the block's " +
                       std::to_string(sharedBytes_) + " bytes of shared memory";
    memoryFault(t, in, address, size, what.c_str());
  }
  raceCheck(t, in, address, size, access);
  return shared_.data() + address;
}

void Runner::raceCheck(const Thread &t, const Instr &in, uint64_t address,
                       unsigned size, Access access) {
  auto self = static_cast<uint16_t>(&t - threads_.data());
  for (unsigned i = 0; i < size; ++i) {
    Shadow &s = shadow_[address + i];
    // What another thread did to the byte in this interval that conflicts.
    const char *did = nullptr;
    uint16_t other = 0;
    if (s.writeEpoch == epoch_ && s.writer != self) {
      did = " wrote";
      other = s.writer;
    } else if (access != Access::Read && s.readEpoch == epoch_ &&
               s.reader != self) {
      did = " read";
      other = s.reader;
    } else if (access != Access::Atomic && s.atomicEpoch == epoch_ &&
               s.updater != self) {
      did = " updated atomically";
      other = s.updater;
    }
    if (did) {
      char text[96];
      snprintf(text, sizeof(text), "%s of %u bytes at 0x%" PRIx64,
               accessName(in), size, address);
      std::string who = other == kManyThreads
                            ? "other threads"
                            : "thread " + dimText(threads_[other].id);
      const char *verb =
          access == Access::Read ? "reads what " : "overwrites what ";
      throw Fault{LaunchStatus::Failed,
                  kernel_.name + ": line " + std::to_string(in.line) + ": " +
                      text + " (" + where(t) + ") " + verb + who + did +
                      " since the last barrier (a shared memory race)"};
    }
    // The thread of this interval's reads (atomics), or kManyThreads.
    auto record = [&](uint32_t &epoch, uint16_t &who) {
      if (epoch != epoch_) {
        epoch = epoch_;
        who = self;
      } else if (who != self) {
        who = kManyThreads;
      }
    };
    switch (access) {
    case Access::Read:
      record(s.readEpoch, s.reader);
      break;
    case Access::Write:
      s.writeEpoch = epoch_;
      s.writer = self;
      break;
    case Access::Atomic:
      record(s.atomicEpoch, s.updater);
      break;
    }
  }
}

void Runner::globalRaceCheck(const Thread &t, const Instr &in, uint64_t address,
                             unsigned size, Access access) {
  if (in.sync & kRelease)
    tick(true); // releases what the block did before, as a fence would
  for (;;) {
    unsigned shift = cacheShift_;
    uint64_t base = cacheLo_ >> shift;
    uint64_t first = address >> shift, last = (address + size - 1) >> shift;
    // Accesses are aligned: a sub-word one lies in one word, a longer one
    // covers its words.
    uint32_t bytes =
        shift && size < 4 ? ((1u << size) - 1) << (address & 3) : kAllBytes;
    if (checkRecords(t, in, address, size, access,
                     cacheRecords_ + (first - base),
                     cacheRecords_ + (last - base), bytes))
      break;
    cacheRecords_ = RaceRecords::splitBytes(memory_, cacheLo_, launchTick_);
    cacheShift_ = 0;
  }
  // An atom (a red returns nothing: it observes no other block) or a
  // strong load, then a device-scope fence, is the block's acquire; an
  // acquire at device scope is both.
  if ((in.sync & kStrong) && access != Access::Write &&
      !(in.flags & kReduction))
    observed_ = true;
  if (in.sync & kAcquire)
    acquired_ = true;
}

bool Runner::checkRecords(const Thread &t, const Instr &in, uint64_t address,
                          unsigned size, Access access, RaceRecord *first,
                          RaceRecord *last, uint32_t bytes) {
  // Blocks run one after another, so an access of another block than the
  // current one is of a block that has ended: whether a fence released it
  // is known. An access from blockTick_ on is the current block's, which
  // orders its own; one older than launchTick_ is an earlier launch's.
  bool strong = in.sync & kStrong;
  uint32_t now = clock_;
  auto live = [&](uint32_t f) { return tickOf(f) >= launchTick_; };
  auto other = [&](uint32_t f) {
    return tickOf(f) >= launchTick_ && tickOf(f) < blockTick_;
  };
  auto subset = [](uint32_t f, uint32_t bytes) {
    return (bytesOf(f) & ~bytes) == 0;
  };
  for (RaceRecord *r = first; r <= last; ++r) {
    // Another block's write conflicts with any access to its bytes, but
    // for two atomics (or strong accesses): what they are for.
    uint32_t write = r->write;
    bool strongWrite = write & kStrongBit;
    if (other(write) && (bytesOf(write) & bytes) && !(strong && strongWrite) &&
        !ordered(tickOf(write)))
      globalRace(t, in, address, size, access, tickOf(write),
                 strongWrite ? "updated atomically" : "wrote");
    if (access == Access::Read) {
      // A strong load is not recorded: the atomics that it does not
      // conflict with are what a record would be checked against.
      if (strong)
        continue;
      uint32_t read = r->read;
      if (tickOf(read) >= blockTick_) {
        // The fast path, for the words that a block reads again: its
        // reads of a word count as its latest.
        uint32_t again = field(now, bytesOf(read) | bytes);
        if (read != again)
          r->read = again;
        continue;
      }
      if (other(read)) {
        // Another block read the word: keep one of the reads before this
        // block's, one that no fence released where there is one (a later
        // write conflicts with one that it overlaps: it races with an
        // unreleased one, with any one if it did not acquire). Another
        // one can go where its bytes are among the kept one's, or where
        // both are released or both not, taking all their bytes.
        uint32_t earlier = r->earlier;
        if (!live(earlier)) {
          r->earlier = read;
        } else {
          bool keptReleased = released(tickOf(earlier));
          bool readReleased = released(tickOf(read));
          if (keptReleased == readReleased)
            r->earlier =
                field(tickOf(earlier), bytesOf(earlier) | bytesOf(read));
          else if (keptReleased && subset(earlier, bytesOf(read)))
            r->earlier = read;
          else if (keptReleased || !subset(read, bytesOf(earlier)))
            return false;
        }
      }
      r->read = field(now, bytes);
      continue;
    }
    // A write (plain, strong or atomic) conflicts with the plain reads of
    // other blocks since the last write that it overlaps.
    uint32_t read = r->read, earlier = r->earlier;
    if (other(read) && (bytesOf(read) & bytes) && !ordered(tickOf(read)))
      globalRace(t, in, address, size, access, tickOf(read), "read");
    if (live(earlier) && (bytesOf(earlier) & bytes) &&
        !ordered(tickOf(earlier)))
      globalRace(t, in, address, size, access, tickOf(earlier), "read");
    // Then the record holds this write alone: a later access that
    // conflicts with those before it conflicts with it, and is ordered
    // after them when ordered after it. That takes this write to cover
    // their bytes: otherwise the word needs a record per byte. The block's
    // own writes of other bytes join it.
    if ((other(write) && !subset(write, bytes)) ||
        (live(read) && !subset(read, bytes)) ||
        (live(earlier) && !subset(earlier, bytes)))
      return false;
    uint32_t own = tickOf(write) >= blockTick_ ? bytesOf(write) : 0;
    bool keepStrong = strong && (!own || strongWrite);
    r->write = field(now, bytes | own) | (keepStrong ? kStrongBit : 0);
    r->read = 0;
    r->earlier = 0;
  }
  return true;
}

void Runner::globalRace(const Thread &t, const Instr &in, uint64_t address,
                        unsigned size, Access access, uint32_t other,
                        const char *did) {
  size_t index =
      std::upper_bound(blockTicks_.begin(), blockTicks_.end(), other) -
      blockTicks_.begin() - 1;
  const Dim3 &g = config_.grid;
  Dim3 block{static_cast<unsigned>(index % g.x),
             static_cast<unsigned>(index / g.x % g.y),
             static_cast<unsigned>(index / g.x / g.y)};
  char text[96];
  snprintf(text, sizeof(text), "%s of %u bytes at 0x%" PRIx64, accessName(in),
           size, address);
  const char *verb = access == Access::Read ? "reads what "
                     : access == Access::Atomic && (in.sync & kStrong)
                         ? "updates atomically what "
                         : "overwrites what ";
  const char *why =
      released(other)
          ? "this block executed no atomic followed by a device-scope fence "
            "before this access"
          : "that block executed no device-scope fence after it";
  throw Fault{LaunchStatus::Failed,
              kernel_.name + ": line " + std::to_string(in.line) + ": " + text +
                  " (" + where(t) + ") " + verb + "block " + dimText(block) +
                  " " + did + ", and " + why +
                  " (a global memory race between blocks)"};
}

void Runner::load(Thread &t, const Instr &in, const uint8_t *p) {
  unsigned bytes = in.bits / 8;
  for (unsigned i = 0; i < in.vec; ++i) {
    uint64_t v = 0;
    memcpy(&v, p + i * bytes, bytes);
    if (in.flags & kSignLoad)
      v = static_cast<uint64_t>(sext(v, in.bits));
    t.regs[in.d[i].reg] = v & in.dstMask;
  }
}

void Runner::store(Thread &t, const Instr &in, uint8_t *p) {
  unsigned bytes = in.bits / 8;
  for (unsigned i = 0; i < in.vec; ++i) {
    const Operand &o = in.s[i];
    uint64_t v = o.reg != kNoReg ? t.regs[o.reg] : o.imm;
    memcpy(p + i * bytes, &v, bytes);
  }
}

void Runner::run(Thread &t) {
  uint64_t *r = t.regs;
  const Instr *code = kernel_.code.data();
  uint32_t pc = t.pc;
  uint64_t count = 0;
  auto get = [r](const Operand &o) {
    return o.reg != kNoReg ? r[o.reg] : o.imm;
  };
  for (;;) {
    const Instr &in = code[pc];
    ++count;
    if (in.guard != kNoReg && (r[in.guard] & 1) == in.guardNegated) {
      ++pc;
      continue;
    }
    uint64_t &d = r[in.d[0].reg];
    const bool ftz = in.flags & kFtz;
    auto f = [&](int i) {
      float x = toF32(get(in.s[i]));
      return ftz ? flush(x) : x;
    };
    auto setF = [&](float x) { d = fromF32(ftz ? flush(x) : x); };
    auto g = [&](int i) { return toF64(get(in.s[i])); };
    switch (in.op) {
    case Op::IAdd:
      d = (get(in.s[0]) + get(in.s[1])) & in.mask;
      break;
    case Op::ISub:
      d = (get(in.s[0]) - get(in.s[1])) & in.mask;
      break;
    case Op::IMulLo:
      d = (get(in.s[0]) * get(in.s[1])) & in.mask;
      break;
    case Op::IMadLo:
      d = (get(in.s[0]) * get(in.s[1]) + get(in.s[2])) & in.mask;
      break;
    case Op::IMulHi:
    case Op::IMadHi:
    case Op::IMulWide:
    case Op::IMadWide: {
      uint64_t a = get(in.s[0]), b = get(in.s[1]);
      unsigned __int128 p;
      if (in.isSigned)
        p = static_cast<unsigned __int128>(
            static_cast<__int128>(sext(a, in.bits)) * sext(b, in.bits));
      else
        p = static_cast<unsigned __int128>(a & in.mask) * (b & in.mask);
      bool wide = in.op == Op::IMulWide || in.op == Op::IMadWide;
      uint64_t v =
          wide ? static_cast<uint64_t>(p) : static_cast<uint64_t>(p >> in.bits);
      if (in.op == Op::IMadHi || in.op == Op::IMadWide)
        v += get(in.s[2]);
      d = v & maskOf(wide ? 2 * in.bits : in.bits);
      break;
    }
    case Op::IDiv:
    case Op::IRem: {
      uint64_t a = get(in.s[0]) & in.mask, b = get(in.s[1]) & in.mask;
      // Undefined in PTX and in the LLVM IR it came from: a compiler bug.
      if (b == 0)
        fail(LaunchStatus::Failed, t, in, "integer division by zero");
      if (in.isSigned) {
        int64_t x = sext(a, in.bits), y = sext(b, in.bits);
        if (y == -1 && x == sext(1ull << (in.bits - 1), in.bits))
          fail(LaunchStatus::Failed, t, in, "signed division overflows");
        d = static_cast<uint64_t>(in.op == Op::IDiv ? x / y : x % y) & in.mask;
      } else {
        d = in.op == Op::IDiv ? a / b : a % b;
      }
      break;
    }
    case Op::INeg:
      d = (0 - get(in.s[0])) & in.mask;
      break;
    case Op::IAbs: {
      int64_t x = sext(get(in.s[0]), in.bits);
      d = static_cast<uint64_t>(x < 0 ? 0 - static_cast<uint64_t>(x) : x) &
          in.mask;
      break;
    }
    case Op::IMin:
    case Op::IMax: {
      uint64_t a = get(in.s[0]), b = get(in.s[1]);
      bool less = in.isSigned ? sext(a, in.bits) < sext(b, in.bits)
                              : (a & in.mask) < (b & in.mask);
      d = ((in.op == Op::IMin) == less ? a : b) & in.mask;
      break;
    }
    case Op::And:
      d = get(in.s[0]) & get(in.s[1]) & in.mask;
      break;
    case Op::Or:
      d = (get(in.s[0]) | get(in.s[1])) & in.mask;
      break;
    case Op::Xor:
      d = (get(in.s[0]) ^ get(in.s[1])) & in.mask;
      break;
    case Op::Not:
      d = ~get(in.s[0]) & in.mask;
      break;
    case Op::CNot:
      d = (get(in.s[0]) & in.mask) == 0;
      break;
    case Op::Shl: {
      uint32_t n = static_cast<uint32_t>(get(in.s[1]));
      d = n >= in.bits ? 0 : (get(in.s[0]) << n) & in.mask;
      break;
    }
    case Op::Shr: {
      uint32_t n = static_cast<uint32_t>(get(in.s[1]));
      if (in.isSigned)
        d = static_cast<uint64_t>(sext(get(in.s[0]), in.bits) >>
                                  std::min<uint32_t>(n, in.bits - 1)) &
            in.mask;
      else
        d = n >= in.bits ? 0 : (get(in.s[0]) & in.mask) >> n;
      break;
    }
    case Op::Bfe: {
      uint64_t a = get(in.s[0]);
      unsigned pos = get(in.s[1]) & 0xff, len = get(in.s[2]) & 0xff;
      unsigned msb = in.bits - 1;
      uint64_t sbit = (!in.isSigned || len == 0)
                          ? 0
                          : (a >> std::min(pos + len - 1, msb)) & 1;
      uint64_t v = 0;
      for (unsigned i = 0; i <= msb; ++i) {
        uint64_t bit =
            (i < len && pos + i <= msb) ? (a >> (pos + i)) & 1 : sbit;
        v |= bit << i;
      }
      d = v;
      break;
    }
    case Op::Popc:
      d = static_cast<uint64_t>(
          __builtin_popcountll(get(in.s[0]) & maskOf(in.bits == 32 ? 32 : 64)));
      break;
    case Op::Clz: {
      uint64_t a = get(in.s[0]);
      unsigned width = in.bits == 32 ? 32 : 64;
      a &= maskOf(width);
      d = a == 0 ? width : __builtin_clzll(a) - (64 - width);
      break;
    }

    case Op::FAdd:
      setF(f(0) + f(1));
      break;
    case Op::FSub:
      setF(f(0) - f(1));
      break;
    case Op::FMul:
      setF(f(0) * f(1));
      break;
    case Op::FDiv:
      setF(f(0) / f(1));
      break;
    case Op::FFma:
      setF(std::fma(f(0), f(1), f(2)));
      break;
    case Op::FNeg:
      setF(-f(0));
      break;
    case Op::FAbs:
      setF(std::fabs(f(0)));
      break;
    case Op::FMin:
      setF(fminmax(f(0), f(1), false, in.flags & kNaN));
      break;
    case Op::FMax:
      setF(fminmax(f(0), f(1), true, in.flags & kNaN));
      break;
    case Op::FRcp:
      setF(1.0f / f(0));
      break;
    case Op::FSqrt:
      setF(std::sqrt(f(0)));
      break;
    case Op::FRsqrt:
      setF(1.0f / std::sqrt(f(0)));
      break;
    case Op::FEx2:
      setF(std::exp2(f(0)));
      break;
    case Op::FLg2:
      setF(std::log2(f(0)));
      break;
    case Op::FSin:
      setF(std::sin(f(0)));
      break;
    case Op::FCos:
      setF(std::cos(f(0)));
      break;
    case Op::FTanh:
      setF(std::tanh(f(0)));
      break;
    case Op::DAdd:
      d = fromF64(g(0) + g(1));
      break;
    case Op::DSub:
      d = fromF64(g(0) - g(1));
      break;
    case Op::DMul:
      d = fromF64(g(0) * g(1));
      break;
    case Op::DDiv:
      d = fromF64(g(0) / g(1));
      break;
    case Op::DFma:
      d = fromF64(std::fma(g(0), g(1), g(2)));
      break;
    case Op::DNeg:
      d = fromF64(-g(0));
      break;
    case Op::DAbs:
      d = fromF64(std::fabs(g(0)));
      break;
    case Op::DMin:
      d = fromF64(dminmax(g(0), g(1), false, in.flags & kNaN));
      break;
    case Op::DMax:
      d = fromF64(dminmax(g(0), g(1), true, in.flags & kNaN));
      break;
    case Op::DRcp:
      d = fromF64(1.0 / g(0));
      break;
    case Op::DSqrt:
      d = fromF64(std::sqrt(g(0)));
      break;

    case Op::SetpI:
    case Op::SetpF:
    case Op::SetpD: {
      bool v = in.op == Op::SetpI   ? compareInt(in, get(in.s[0]), get(in.s[1]))
               : in.op == Op::SetpF ? compareFloat(in.cmp, f(0), f(1))
                                    : compareFloat(in.cmp, g(0), g(1));
      bool w = !v;
      if (in.boolOp != BoolOp::None) {
        bool c = (r[in.s[2].reg] ^ in.s[3].imm) & 1;
        auto combine = [&](bool x) {
          return in.boolOp == BoolOp::And  ? x && c
                 : in.boolOp == BoolOp::Or ? x || c
                                           : x != c;
        };
        v = combine(v);
        w = combine(w);
      }
      d = v;
      if (in.flags & kWidePred)
        r[in.d[1].reg] = w;
      break;
    }
    case Op::Selp:
      d = ((r[in.s[2].reg] & 1) ? get(in.s[0]) : get(in.s[1])) & in.mask;
      break;
    case Op::Mov:
      d = get(in.s[0]) & in.mask;
      break;
    case Op::MovPack: {
      unsigned part = in.bits / in.vec;
      uint64_t v = 0;
      for (unsigned i = 0; i < in.vec; ++i)
        v |= (get(in.s[i]) & maskOf(part)) << (i * part);
      d = v;
      break;
    }
    case Op::MovUnpack: {
      unsigned part = in.bits / in.vec;
      uint64_t v = get(in.s[0]);
      for (unsigned i = 0; i < in.vec; ++i)
        r[in.d[i].reg] = (v >> (i * part)) & maskOf(part);
      r[kSinkReg] = 0;
      break;
    }
    case Op::Cvt:
      d = convert(in, get(in.s[0]));
      break;
    case Op::CvtTf32:
      d = f32ToTf32(static_cast<uint32_t>(get(in.s[0])), in.flags & kSat);
      break;
    case Op::CvtaShared:
      d = (get(in.s[0]) + kSharedGeneric) & in.mask;
      break;
    case Op::CvtaToShared:
      d = (get(in.s[0]) - kSharedGeneric) & in.mask;
      break;

    case Op::LdGlobal:
    case Op::LdShared:
    case Op::LdParam:
    case Op::LdGeneric:
    case Op::StGlobal:
    case Op::StShared:
    case Op::StGeneric: {
      uint64_t address =
          (in.s[3].reg != kNoReg ? r[in.s[3].reg] : 0) + in.offset;
      unsigned size = in.bits / 8 * in.vec;
      switch (in.op) {
      case Op::LdGlobal:
        load(t, in, global(t, in, address, size, Access::Read));
        break;
      case Op::LdShared:
        load(t, in, shared(t, in, address, size, Access::Read));
        break;
      case Op::LdGeneric:
        load(t, in, generic(t, in, address, size, Access::Read));
        break;
      case Op::StGlobal:
        store(t, in, global(t, in, address, size, Access::Write));
        break;
      case Op::StShared:
        store(t, in, shared(t, in, address, size, Access::Write));
        break;
      case Op::StGeneric:
        store(t, in, generic(t, in, address, size, Access::Write));
        break;
      default: {
        const ParamLayout &params = kernel_.params;
        if (address > params.bytes || params.bytes - address < size ||
            (address & (std::min(size, 8u) - 1)))
          memoryFault(t, in, address, size,
                      "is outside the kernel's parameters");
        load(t, in, config_.params + address);
        break;
      }
      }
      break;
    }

    case Op::AtomGlobal:
    case Op::AtomShared:
    case Op::AtomGeneric: {
      uint64_t address =
          (in.s[3].reg != kNoReg ? r[in.s[3].reg] : 0) + in.offset;
      unsigned size = in.bits / 8;
      bool onShared = in.op == Op::AtomShared ||
                      (in.op == Op::AtomGeneric && isSharedGeneric(address));
      uint8_t *p;
      if (in.op == Op::AtomGlobal)
        p = global(t, in, address, size, Access::Atomic);
      else if (in.op == Op::AtomShared)
        p = shared(t, in, address, size, Access::Atomic);
      else
        p = generic(t, in, address, size, Access::Atomic);
      d = readModifyWrite(in, p, get(in.s[0]), get(in.s[1]), !onShared);
      break;
    }

    case Op::Bra:
      pc = in.target;
      continue;
    case Op::Exit:
      t.state = State::Exited;
      t.pc = pc;
      instructions_ += count;
      return;
    case Op::BarSync:
    case Op::WarpSync:
      t.state = in.op == Op::BarSync ? State::AtBarrier : State::AtWarpSync;
      t.pc = pc;
      instructions_ += count;
      return;
    case Op::Fence:
      // After an atom or a strong load: the block's acquire.
      if (observed_)
        acquired_ = true;
      tick(true);
      break;
    case Op::Nop:
      break;
    }
    // A write to the sink (`_`) is dropped.
    r[kSinkReg] = 0;
    ++pc;
  }
}

bool Runner::resolveWarpSyncs() {
  bool resolved = false;
  for (unsigned warp = 0; warp * 32 < threadCount_; ++warp) {
    unsigned first = warp * 32;
    unsigned lanes = std::min(32u, threadCount_ - first);
    for (unsigned lane = 0; lane < lanes; ++lane) {
      Thread &t = threads_[first + lane];
      if (t.state != State::AtWarpSync)
        continue;
      const Instr &in = kernel_.code[t.pc];
      auto value = [&](const Thread &th, const Operand &o) {
        return o.reg != kNoReg ? th.regs[o.reg] : o.imm;
      };
      uint32_t members = static_cast<uint32_t>(value(t, in.s[2]));
      if (!(members >> lane & 1))
        fail(LaunchStatus::Failed, t, in,
             "the member mask does not include the thread's own lane");
      bool complete = true;
      for (unsigned l = 0; l < 32; ++l) {
        if (!(members >> l & 1))
          continue;
        if (l >= lanes) {
          char text[96];
          snprintf(text, sizeof(text),
                   "lane %u of the member mask 0x%08x does not exist", l,
                   members);
          fail(LaunchStatus::Failed, t, in, text);
        }
        const Thread &other = threads_[first + l];
        if (other.state == State::Exited) {
          char text[96];
          snprintf(text, sizeof(text),
                   "lane %u of the member mask 0x%08x has exited", l, members);
          fail(LaunchStatus::Failed, t, in, text);
        }
        if (other.state != State::AtWarpSync || other.pc != t.pc)
          complete = false;
        else if (static_cast<uint32_t>(value(other, in.s[2])) != members)
          fail(LaunchStatus::Failed, t, in,
               "the lanes of a warp synchronization give different member "
               "masks");
      }
      if (!complete)
        continue;
      // Every member is here: exchange (reading all before writing any).
      bool exchange = in.shfl != Shfl::None && in.shfl != Shfl::Mma;
      if (in.shfl == Shfl::Mma)
        mma(first, in);
      uint64_t results[32];
      bool preds[32];
      for (unsigned l = 0; l < 32; ++l) {
        if (!(members >> l & 1))
          continue;
        const Thread &me = threads_[first + l];
        if (!exchange)
          continue;
        uint32_t b = value(me, in.s[1]) & 31,
                 c = static_cast<uint32_t>(value(me, in.s[3]));
        uint32_t segMask = (c >> 8) & 31, clamp = c & 31;
        uint32_t maxLane = (l & segMask) | (clamp & ~segMask);
        uint32_t minLane = l & segMask;
        int j;
        bool inRange;
        switch (in.shfl) {
        case Shfl::Up:
          j = static_cast<int>(l) - static_cast<int>(b);
          inRange = j >= static_cast<int>(maxLane);
          break;
        case Shfl::Down:
          j = static_cast<int>(l + b);
          inRange = j <= static_cast<int>(maxLane);
          break;
        case Shfl::Bfly:
          j = static_cast<int>(l ^ b);
          inRange = j <= static_cast<int>(maxLane);
          break;
        default:
          j = static_cast<int>(minLane | (b & ~segMask));
          inRange = j <= static_cast<int>(maxLane);
          break;
        }
        if (!inRange)
          j = static_cast<int>(l);
        if (!(members >> j & 1)) {
          char text[96];
          snprintf(text, sizeof(text),
                   "shfl.sync reads lane %d, which is not in the member mask "
                   "0x%08x",
                   j, members);
          fail(LaunchStatus::Failed, me, in, text);
        }
        results[l] = value(threads_[first + j], in.s[0]) & 0xffffffffu;
        preds[l] = inRange;
      }
      for (unsigned l = 0; l < 32; ++l) {
        if (!(members >> l & 1))
          continue;
        Thread &me = threads_[first + l];
        if (exchange) {
          me.regs[in.d[0].reg] = results[l];
          if (in.flags & kWidePred)
            me.regs[in.d[1].reg] = preds[l];
          me.regs[kSinkReg] = 0;
        }
        me.state = State::Ready;
        ++me.pc;
      }
      resolved = true;
    }
  }
  return resolved;
}

void Runner::mma(unsigned first, const Instr &in) {
  const MmaOperands &ops = kernel_.mmas[in.target];
  // The PTX ISA's fragments for mma.m16n8k8 with .tf32 A and B and .f32
  // C and D: lane l holds, with g = l >> 2 and t = l % 4,
  //   a0 = A[g][t], a1 = A[g+8][t], a2 = A[g][t+4], a3 = A[g+8][t+4],
  //   b0 = B[t][g], b1 = B[t+4][g]  (B is K x N),
  //   c0 = C[g][2t], c1 = C[g][2t+1], c2 = C[g+8][2t], c3 = C[g+8][2t+1],
  // and d0..d3 as c0..c3. Every lane's operands are read before any D is
  // written: a d register may also be an input.
  float a[16][8], b[8][8], c[16][8];
  auto tf32 = [](uint64_t v) {
    return toF32(static_cast<uint32_t>(v) & kTf32Mask);
  };
  for (unsigned l = 0; l < 32; ++l) {
    const uint64_t *r = threads_[first + l].regs;
    unsigned g = l >> 2, t = l % 4;
    a[g][t] = tf32(r[ops.a[0]]);
    a[g + 8][t] = tf32(r[ops.a[1]]);
    a[g][t + 4] = tf32(r[ops.a[2]]);
    a[g + 8][t + 4] = tf32(r[ops.a[3]]);
    b[t][g] = tf32(r[ops.b[0]]);
    b[t + 4][g] = tf32(r[ops.b[1]]);
    c[g][2 * t] = toF32(r[ops.c[0]]);
    c[g][2 * t + 1] = toF32(r[ops.c[1]]);
    c[g + 8][2 * t] = toF32(r[ops.c[2]]);
    c[g + 8][2 * t + 1] = toF32(r[ops.c[3]]);
  }
  // D = C + sum over k of A[i][k] * B[k][n], in f32, one rounded add per k
  // in k order. The hardware's accumulation order and intermediate
  // precision are unspecified; this is within the tests' tolerances (the
  // product of two tf32 values is exact in f32, so only the adds round).
  float d[16][8];
  for (unsigned i = 0; i < 16; ++i)
    for (unsigned n = 0; n < 8; ++n) {
      float sum = c[i][n];
      for (unsigned k = 0; k < 8; ++k)
        sum += a[i][k] * b[k][n];
      d[i][n] = sum;
    }
  for (unsigned l = 0; l < 32; ++l) {
    uint64_t *r = threads_[first + l].regs;
    unsigned g = l >> 2, t = l % 4;
    r[ops.d[0]] = fromF32(d[g][2 * t]);
    r[ops.d[1]] = fromF32(d[g][2 * t + 1]);
    r[ops.d[2]] = fromF32(d[g + 8][2 * t]);
    r[ops.d[3]] = fromF32(d[g + 8][2 * t + 1]);
  }
}

void Runner::runBlock(Dim3 block) {
  block_ = block;
  ++epoch_;
  blockTick_ = tick(false);
  blockTicks_.push_back(blockTick_);
  observed_ = acquired_ = false;
  const Dim3 &b = config_.block, &g = config_.grid;
  std::fill(shared_.begin(), shared_.end(), kGarbageShared);
  std::fill(registers_.begin(), registers_.end(), kGarbageRegister);
  for (unsigned i = 0; i < threadCount_; ++i) {
    Thread &t = threads_[i];
    t.pc = 0;
    t.state = State::Ready;
    t.id = {i % b.x, i / b.x % b.y, i / (b.x * b.y)};
    t.regs = registers_.data() + static_cast<size_t>(i) * kernel_.registers;
    t.regs[kSinkReg] = 0;
    for (const auto &[slot, special] : kernel_.specials) {
      uint64_t v = 0;
      switch (special) {
      case Special::TidX:
        v = t.id.x;
        break;
      case Special::TidY:
        v = t.id.y;
        break;
      case Special::TidZ:
        v = t.id.z;
        break;
      case Special::NtidX:
        v = b.x;
        break;
      case Special::NtidY:
        v = b.y;
        break;
      case Special::NtidZ:
        v = b.z;
        break;
      case Special::CtaidX:
        v = block.x;
        break;
      case Special::CtaidY:
        v = block.y;
        break;
      case Special::CtaidZ:
        v = block.z;
        break;
      case Special::NctaidX:
        v = g.x;
        break;
      case Special::NctaidY:
        v = g.y;
        break;
      case Special::NctaidZ:
        v = g.z;
        break;
      case Special::LaneId:
        v = i % 32;
        break;
      case Special::WarpId:
        v = i / 32;
        break;
      case Special::NwarpId:
        v = (threadCount_ + 31) / 32;
        break;
      }
      t.regs[slot] = v;
    }
  }
  for (;;) {
    for (Thread &t : threads_)
      if (t.state == State::Ready)
        run(t);
    if (resolveWarpSyncs())
      continue;
    // Every thread now waits or has exited.
    const Thread *barrier = nullptr, *warpSync = nullptr;
    for (const Thread &t : threads_) {
      if (t.state == State::AtBarrier && !barrier)
        barrier = &t;
      if (t.state == State::AtWarpSync && !warpSync)
        warpSync = &t;
    }
    if (!barrier && !warpSync)
      return; // all exited
    if (warpSync) {
      // A shuffle waits for a lane that waits elsewhere.
      const Instr &in = kernel_.code[warpSync->pc];
      unsigned first =
          static_cast<unsigned>(warpSync - threads_.data()) / 32 * 32;
      const Operand &mask = in.s[2];
      uint32_t members = static_cast<uint32_t>(
          mask.reg != kNoReg ? warpSync->regs[mask.reg] : mask.imm);
      for (unsigned l = 0; l < 32 && first + l < threadCount_; ++l) {
        const Thread &other = threads_[first + l];
        if (!(members >> l & 1))
          continue;
        if (other.state == State::AtWarpSync && other.pc == warpSync->pc)
          continue;
        fail(LaunchStatus::Failed, *warpSync, in,
             "deadlock: a warp synchronization waits for lane " +
                 std::to_string(l) + " (thread " + dimText(other.id) +
                 "), which waits at line " +
                 std::to_string(kernel_.code[other.pc].line));
      }
      fail(LaunchStatus::Failed, *warpSync, in, "deadlock");
    }
    // Every live thread is at a barrier: the same one, or a deadlock.
    for (const Thread &t : threads_) {
      if (t.state != State::AtBarrier || t.pc == barrier->pc)
        continue;
      const Instr &here = kernel_.code[barrier->pc];
      const Instr &there = kernel_.code[t.pc];
      fail(LaunchStatus::Failed, *barrier, here,
           "deadlock: threads wait at different barriers: this one at line " +
               std::to_string(here.line) + ", thread " + dimText(t.id) +
               " at line " + std::to_string(there.line));
    }
    for (Thread &t : threads_)
      if (t.state == State::AtBarrier) {
        t.state = State::Ready;
        ++t.pc;
      }
    ++epoch_; // the barrier orders the shared accesses before and after it
  }
}

} // namespace

LaunchStatus launch(const Kernel &kernel, const LaunchConfig &config,
                    Allocations &memory, std::string &message,
                    uint64_t &instructions) {
  const Dim3 &b = config.block, &g = config.grid;
  uint64_t threads = static_cast<uint64_t>(b.x) * b.y * b.z;
  auto invalid = [&](const std::string &what) {
    message = kernel.name + ": " + what;
    return LaunchStatus::InvalidValue;
  };
  if (threads == 0 || g.x == 0 || g.y == 0 || g.z == 0 || b.z > 64 ||
      g.y > 65535 || g.z > 65535)
    return invalid("bad launch geometry");
  if (threads > 1024)
    return invalid("a block of " + std::to_string(threads) +
                   " threads (at most 1024)");
  if (kernel.maxThreads && threads > kernel.maxThreads)
    return invalid("a block of " + std::to_string(threads) +
                   " threads; the kernel's .maxntid allows " +
                   std::to_string(kernel.maxThreads));
  if (kernel.hasRequiredBlock &&
      (b.x != kernel.requiredBlock.x || b.y != kernel.requiredBlock.y ||
       b.z != kernel.requiredBlock.z))
    return invalid("the block is not the kernel's .reqntid");
  if (kernel.staticSharedBytes +
          static_cast<uint64_t>(config.dynamicSharedBytes) >
      227 * 1024)
    return invalid("too much shared memory");
  Runner runner(kernel, config, memory);
  LaunchStatus status = LaunchStatus::Ok;
  try {
    for (unsigned z = 0; z < g.z; ++z)
      for (unsigned y = 0; y < g.y; ++y)
        for (unsigned x = 0; x < g.x; ++x)
          runner.runBlock({x, y, z});
  } catch (const Fault &fault) {
    message = fault.message;
    status = fault.status;
  }
  instructions += runner.instructions();
  return status;
}

} // namespace attn::ptxemu
