//===- AttnDialect.cpp - the attn dialect ---------------------------------===//

#include "dialects/attn/AttnDialect.h"

#include "dialects/attn/AttnOps.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::attn;

#include "dialects/attn/AttnDialect.cpp.inc"
#include "dialects/attn/AttnEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/attn/AttnAttrs.cpp.inc"

void AttnDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/attn/AttnAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialects/attn/AttnOps.cpp.inc"
      >();
}

LogicalResult AttnDialect::verifyRegionArgAttribute(Operation *op,
                                                    unsigned regionIndex,
                                                    unsigned argIndex,
                                                    NamedAttribute attribute) {
  StringRef attrName = attribute.getName().getValue();
  if (attrName == getTransposedAttrName()) {
    if (!isa<UnitAttr>(attribute.getValue()))
      return op->emitError() << "'" << attrName << "' of argument #"
                             << argIndex << " must be a unit attribute";
    Region &region = op->getRegion(regionIndex);
    if (region.empty() || argIndex >= region.getNumArguments())
      return success();
    auto type = dyn_cast<RankedTensorType>(
        region.getArgument(argIndex).getType());
    auto funcOp = dyn_cast<FunctionOpInterface>(op);
    if (!type || type.getRank() != 2 ||
        (funcOp && !funcOp.getArgAttr(argIndex, getWeightAttrName())))
      return op->emitError() << "'" << attrName << "' argument #" << argIndex
                             << " must be a 2-D 'attn.weight' tensor";
    return success();
  }
  if (attrName == getAlignmentAttrName()) {
    auto bytes = dyn_cast<IntegerAttr>(attribute.getValue());
    if (!bytes || bytes.getValue().getSExtValue() <= 0 ||
        !llvm::isPowerOf2_64(bytes.getValue().getZExtValue()))
      return op->emitError() << "'" << attrName << "' of argument #"
                             << argIndex
                             << " must be a power-of-two integer, got "
                             << attribute.getValue();
    Region &region = op->getRegion(regionIndex);
    if (!region.empty() && argIndex < region.getNumArguments() &&
        !isa<MemRefType>(region.getArgument(argIndex).getType()))
      return op->emitError() << "'" << attrName << "' argument #" << argIndex
                             << " must be a memref, got "
                             << region.getArgument(argIndex).getType();
    return success();
  }
  if (attrName != getWeightAttrName() && attrName != getKVCacheAttrName())
    return op->emitError() << "unknown attn argument attribute '" << attrName
                           << "'";
  auto name = dyn_cast<StringAttr>(attribute.getValue());
  if (!name || name.getValue().empty())
    return op->emitError() << "'" << attrName << "' of argument #" << argIndex
                           << " must be a non-empty name, got "
                           << attribute.getValue();
  Region &region = op->getRegion(regionIndex);
  if (region.empty() || argIndex >= region.getNumArguments())
    return success();
  Type type = region.getArgument(argIndex).getType();
  if (!isa<RankedTensorType>(type))
    return op->emitError() << "'" << attrName << "' argument #" << argIndex
                           << " (" << name << ") must be a ranked tensor, got "
                           << type;
  return success();
}
