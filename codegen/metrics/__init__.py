"""The metric pipeline: :mod:`.spec` (metric specs), :mod:`.lower` with
:mod:`.rows` and :mod:`.argmax` (lowering on the shared emitter,
:mod:`odyssey_codegen.emitter`), :mod:`.api` (compile and load) and :mod:`.cli`
(``odyssey-codegen metrics``)."""
