//===- AttnDialect.h - the attn dialect -------------------------*- C++ -*-===//

#ifndef ATTN_DIALECTS_ATTN_ATTNDIALECT_H
#define ATTN_DIALECTS_ATTN_ATTNDIALECT_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Dialect.h"

#include "dialects/attn/AttnDialect.h.inc"
#include "dialects/attn/AttnEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/attn/AttnAttrs.h.inc"

#endif // ATTN_DIALECTS_ATTN_ATTNDIALECT_H
