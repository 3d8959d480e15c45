"""odyssey-training's kernel compiler: spec (TOML) -> IR -> LLVM -> object code -> cache.

Pure passes, one file each: :mod:`spec` (load/validate), :mod:`expr`
(expression language), :mod:`ir` (variant resolution + verifier),
:mod:`lower_llvm` (llvmlite lowering), :mod:`target`, :mod:`jit`, :mod:`cache`,
:mod:`render` (generated Python modules) and :mod:`cli`.  The runtime uses only
:mod:`odyssey_codegen.api`.
"""
