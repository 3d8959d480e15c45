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

Each tensor's part of that is one flat record (:attr:`TensorPlan.grad_records`),
read by :func:`point_grads`; the torch optimizer's steady step (:mod:`.steady`)
makes the same checks and writes from the same records in native code.
"""

from __future__ import annotations

from ...optimizers.plan import KernelPlan

__all__ = ["TensorPlan", "point_grads"]


def point_grads(records: list[tuple]) -> bool:
    """Point each record's gradient words at its tensor's current ``.grad``;
    False (when some words may already be written: the caller then rebuilds or
    re-validates) when a tensor's memory moved or a gradient is missing, of
    another dtype or size, or not contiguous.  A record is ``(tensor, its data
    address, the table's int64 words, first gradient word, rows, row width,
    bytes per row, gradient bytes, dtype)``.

    Assigning ``.grad`` already makes torch check its dtype and shape against
    the parameter; dtype and size are checked again because a gradient's own
    ``.data``, ``set_`` or ``resize_`` can change them, and they are what keeps
    the kernel's reads in bounds.  The size is read as ``nbytes``, a property,
    which costs less than ``numel()``, a method whose arguments torch parses."""
    try:
        for t, address, words, word, rows, width, row_bytes, nbytes, dtype in records:
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


class TensorPlan(KernelPlan):
    """A KernelPlan whose parameters are TensorParameters."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # the table's int64 words; a memoryview's item writes are the cheapest from Python
        words = memoryview(self.table).cast("B").cast("q")
        width = self.kernel.row_width
        #: one record per tensor, as :func:`point_grads` reads them
        self.grad_records = [(p.tensor, p.tensor.data_ptr(), words, word, rows, width,
                              self._chunk * d.itemsize, d.nbytes, p.tensor.dtype)
                             for p, d, _shape, word, rows in self._grads]

    def refresh(self) -> bool:
        """Point the gradient column at each tensor's current ``.grad``
        (:func:`point_grads`)."""
        return point_grads(self.grad_records)
