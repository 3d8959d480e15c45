"""odyssey-training's kernel compiler: spec (TOML) -> IR -> LLVM -> object code -> cache.

Pure passes, one file each: :mod:`spec` (load/validate), :mod:`expr`
(expression language), :mod:`ir` (variant resolution + verifier),
:mod:`emitter` (the shared llvmlite emitter: loops, loads/stores, reductions),
:mod:`target`, :mod:`jit`, :mod:`cache`, :mod:`render` (generated Python
modules) and :mod:`cli`.  Two pipelines build on them: :mod:`lower` (optimizer
update kernels and the norm pass) and :mod:`metrics` (metric specs and kernels).  The runtime uses only
:mod:`odyssey_codegen.api`.
"""
