"""``TensorPlan``: the runtime's :class:`~odyssey_training.optimizers.plan.KernelPlan`
over :class:`~.tensors.TensorParameter`\\ s, re-pointed from the tensors.

The table, scalar vectors, threads and kernel call are KernelPlan's; only the
per-step re-pointing differs.  KernelPlan.refresh reads each ``Parameter.grad``
as an ndarray, which for a tensor means a new NumPy view per gradient per step
(torch hands out new ``.grad`` tensors after ``zero_grad(set_to_none=True)``);
here the gradient column gets each ``tensor.grad.data_ptr()`` directly, after
the same checks (the parameter's memory unchanged; a gradient of its dtype and
shape, contiguous).  Anything else returns False, and the engine validates in
full (with messages naming the parameter) and builds a new plan.
"""

from __future__ import annotations

from ...optimizers.plan import KernelPlan

__all__ = ["TensorPlan"]


class TensorPlan(KernelPlan):
    """A KernelPlan whose parameters are TensorParameters."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # the table's int64 words; a memoryview's item writes are the cheapest from Python
        self._table_words = memoryview(self.table).cast("B").cast("q")
        # (tensor, its data address, first gradient word, rows, bytes, dtype, row bytes)
        self._tensors = [(p.tensor, p.tensor.data_ptr(), word, rows, d.nbytes,
                          p.tensor.dtype, self._chunk * d.itemsize)
                         for p, d, _shape, word, rows in self._grads]

    def refresh(self) -> bool:
        """Point the gradient column at each tensor's current ``.grad``; False when a
        tensor's memory moved or a gradient is missing, of another dtype or size, or
        not contiguous.  (Assigning ``.grad`` already makes torch check its dtype and
        shape against the parameter; dtype and size are checked again because a
        gradient's own ``.data``, ``set_`` or ``resize_`` can change them, and they
        are what keeps the kernel's reads in bounds.  Written for a step right after
        a backward pass, when every extra call costs a few cache misses: the size is
        read as ``nbytes``, a property, which then costs less than ``numel()``, a
        method whose arguments torch parses.)"""
        words, width = self._table_words, self.kernel.row_width
        try:
            for t, address, word, rows, nbytes, dtype, row_bytes in self._tensors:
                g = t.grad
                if (g is None or t.data_ptr() != address or g.dtype is not dtype
                        or g.nbytes != nbytes or not g.is_contiguous()):
                    return False
                if rows == 1:
                    words[word] = g.data_ptr()
                else:
                    base = g.data_ptr()
                    for k in range(rows):
                        words[word + k * width] = base + k * row_bytes
        except (RuntimeError, TypeError, ValueError):   # e.g. a sparse gradient
            return False
        return True
