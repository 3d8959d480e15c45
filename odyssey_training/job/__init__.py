"""The main job, ``odyssey-train``: a reference NumPy MLP trained on the embedded
UCI 8x8 digits (or MNIST-format IDX files) with the library's optimizers,
schedules, metrics, loop and callbacks, writing a run directory and a report.

Not part of the library's API (``odyssey_training`` does not export it): model
architectures do not belong in a training library.  Modules, one job each:
``cli`` (flags, exit codes), ``config`` (schema, TOML in and out), ``datasets``
(digits, IDX, split and scaling), ``models`` (the registry) and ``mlp``, ``build``
(optimizer and schedule), ``run`` (callbacks, fit, evaluation), ``plots``,
``report``.
"""
