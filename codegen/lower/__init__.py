"""The optimizer pipeline's lowering to LLVM IR, on the shared emitter
(:mod:`odyssey_codegen.emitter`): :mod:`.optimizer` (update kernels from
:class:`~odyssey_codegen.ir.KernelIR`), :mod:`.exprs` (spec expressions) and
:mod:`.norm` (the sum-of-squares pass of gradient clipping)."""
