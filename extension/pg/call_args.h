// Facts about a call's arguments that a call site may memoize in fn_extra.
//
// Include after the PostgreSQL headers (postgres.h, fmgr.h, nodes/primnodes.h).
#pragma once

namespace rollout_pg {

// Whether argument `arg` of the call is a Const: the same value for every call through this
// FmgrInfo, so what is derived from it may be kept in fn_extra. Not get_fn_expr_arg_stable: that
// also accepts external Params, whose value changes between calls sharing one expression state
// (PL/pgSQL evaluates `feature_enabled(id, k)` with a variable k that way, once per loop
// iteration, within one FmgrInfo).
inline bool argument_is_constant(FmgrInfo* flinfo, int arg) {
  Node* expr = flinfo->fn_expr;
  if (expr == nullptr || !IsA(expr, FuncExpr)) return false;
  List* args = reinterpret_cast<FuncExpr*>(expr)->args;
  return arg < list_length(args) && IsA(list_nth(args, arg), Const);
}

}  // namespace rollout_pg
