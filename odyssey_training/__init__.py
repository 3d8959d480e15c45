"""odyssey-training: optimizers, schedulers, metrics and training loops whose
per-element math is compiled from declarative specs into native kernels."""

__version__ = "0.1.0"
