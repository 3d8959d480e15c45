"""Bridges to other frameworks.  Each lives in its own subpackage and imports
its framework only when that subpackage is imported: ``import odyssey_training``
never imports torch.

* :mod:`odyssey_training.interop.torch`: ``torch.optim.Optimizer`` subclasses
  running the generated kernels on CPU tensors' memory, and ``TorchModel``
  (an ``nn.Module`` for the training loops).
"""
