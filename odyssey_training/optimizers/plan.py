"""A param group's native step: the pointer table, the scalar vectors and the
kernel call, built once and reused until the tensors change.

Table rows are ``[n, scalars*, p*, g*, state*...]`` (see odyssey_codegen.lower.optimizer).
Tensors larger than the kernel's ``variant.chunk`` elements (64K unless tuned)
are cut into several rows at cache-line-aligned offsets so that threads can
share the group (see :func:`odyssey_training.threads.plan_tasks`).
While every tensor of the plan is at the same step (the usual case) all rows
share one scalar vector, so a step writes a single row of float64s.
"""

from __future__ import annotations

import functools
import struct

import cffi
import numpy as np

from odyssey_codegen.api import Kernel
from ..native import row_call
from ..threads import address, plan_tasks, point_rows, pointer_slots, run_calls

__all__ = ["KernelPlan"]

_ffi = cffi.FFI()
_from_buffer, _CHARS = _ffi._backend.from_buffer, _ffi.typeof("char[]")
GRAD_COLUMN = 3                        # row: [n, scalars*, p*, g*, state*...]


class KernelPlan:
    """Everything one kernel call over one group (of one dtype) needs.

    ``states`` are the optimizer's per-parameter state dicts (their ``step`` is
    advanced here); ``first`` flags tensors whose "grad"-initialised buffers were
    just created.
    """

    def __init__(self, kernel: Kernel, params: list, buffers: list[list[np.ndarray]],
                 states: list[dict], threads: int, first: list[bool]) -> None:
        self.kernel, self.params, self.states, self.threads = kernel, params, states, threads
        self.first = [float(f) for f in first]
        steps = [s["step"] for s in states]
        self.shared = len(set(steps)) == 1 and len(set(self.first)) == 1
        slots = len(kernel.slots)
        self.scalars = np.zeros((len(params), slots), dtype=np.float64)
        self._pack = struct.Struct(f"{slots}d").pack_into
        # the shared vector's last three words, written every step: [step, first, scale]
        self._words = memoryview(self.scalars).cast("B").cast("d")
        self._step_word = slots - 3
        self._packed: list | None = None      # the hypers last packed or taken (a group's list)
        rows, sizes = [], []
        # where each tensor's gradient pointer goes: its first row's word, and how
        # many rows it has (usually one)
        self._grads: list[tuple] = []         # (param, data, shape, word, rows)
        width, chunk = kernel.row_width, kernel.variant.chunk
        self._chunk = chunk
        for t, (param, bufs) in enumerate(zip(params, buffers)):
            d = param.data
            n, item = d.size, d.itemsize
            bases = [address(a) for a in [d, param.grad] + bufs]
            scal = address(self.scalars) + (0 if self.shared else t * self.scalars.strides[0])
            self._grads.append((param, d, d.shape, len(rows) * width + GRAD_COLUMN,
                                -(-n // chunk)))
            for begin in range(0, n, chunk):
                count = min(chunk, n - begin)
                rows.append([count, scal] + [b + begin * item for b in bases])
                sizes.append(count)
        self.table = np.array(rows, dtype=np.int64).reshape(len(rows), kernel.row_width)
        row_sizes = np.array(sizes, dtype=np.int64)
        self.dtype = params[0].data.dtype
        self._slots = pointer_slots(self.table)
        self._tasks, self._workers = plan_tasks(row_sizes, threads)
        # one builtin call per task (odyssey_training.native); a single task is the
        # whole table, run on the calling thread
        calls = [row_call(kernel.address, self.table, first, end) for first, end in self._tasks]
        self._run = (calls[0] if self._workers == 1
                     else functools.partial(run_calls, calls, self._workers))

    def bind(self, kernel: Kernel, params: list, threads: int) -> bool:
        """Whether this plan can run ``params`` (the same kernel, thread count,
        parameters and parameter arrays; state buffers are fixed per kernel: the
        optimizer drops plans when it replaces them), after :meth:`refresh`."""
        return (kernel is self.kernel and threads == self.threads and params == self.params
                and self.refresh())

    def refresh(self) -> bool:
        """Point the table at each parameter's current gradient, checked as
        ``Optimizer.step`` would (an ndarray of the parameter's shape and dtype;
        cffi's ``from_buffer`` refuses a non-contiguous one, see
        :func:`odyssey_training.threads.buffer_pointer`); False when anything else
        changed or looks wrong (the optimizer then validates in full, with
        messages, and builds a new plan).  A training loop brings new gradient
        arrays every step, so they are re-pointed every step, without keeping a
        reference to them: a few writes per tensor instead of a new plan.  (The
        plan holds the parameter arrays themselves, so ``is`` suffices for them.)"""
        slots, dtype, ndarray, width = self._slots, self.dtype, np.ndarray, self.kernel.row_width
        chunk, pointer, chars = self._chunk, _from_buffer, _CHARS
        try:
            for p, data, shape, word, rows in self._grads:
                grad = p.grad
                if (p.data is not data or type(grad) is not ndarray or grad.shape != shape
                        or (grad.dtype is not dtype and grad.dtype != dtype)
                        or not data.flags.writeable):
                    return False
                if rows == 1:
                    slots[word] = pointer(chars, grad, False)   # buffer_pointer, inlined
                else:
                    point_rows(slots, word, rows, width, grad, chunk)
        except ValueError:      # not C-contiguous
            return False
        return True

    def steady_record(self, hypers: list[float]) -> tuple:
        """For the steady-state step (:mod:`.steady`), made right after a step with
        ``hypers``: ``(states, words, k, run)``, from which that step repeats as

            step = states[0]["step"] + 1
            words[k], words[k + 1], words[k + 2] = step, 0.0, 1.0   # no first step, no scale
            run()
            for state in states: state["step"] = step

        or, when the plan's tensors are at different steps (each has a scalar
        vector of its own, rewritten every step), ``(None, None, 0, run)``
        where ``run()`` is the whole step again, with the hypers last packed."""
        if not self.shared or hypers is not self._packed:
            return None, None, 0, self._step_again
        return self.states, self._words, self._step_word, self._run

    def _step_again(self) -> None:
        self.step(self._packed, 1.0)

    def repack(self, hypers: list[float]) -> None:
        """Take new hyperparameters for the next steps: written into the shared
        scalar vector now (its step count, first-step flag and scale words are
        each step's own), or into every tensor's vector at each step."""
        if self.shared:
            words = self._words
            for i, value in enumerate(hypers):
                words[i] = value
        self._packed = hypers

    def step(self, hypers: list[float], scale: float) -> None:
        """Write the scalar vector(s) ``[hypers, step, first_step, grad_scale]``, run
        the kernel over every row, advance each tensor's step.  Written for a step
        whose caches a forward/backward pass has just emptied: the shared vector
        rewrites its hyperparameters (:meth:`repack`) only when the group's values
        changed (a new list), and plain loops touch less interpreter code than
        C-level tricks."""
        if self.shared:
            step = self.states[0]["step"] + 1
            if hypers is not self._packed:
                self.repack(hypers)
            words, k = self._words, self._step_word
            words[k] = step
            words[k + 1] = self.first[0]
            words[k + 2] = scale
        else:
            stride = self.scalars.strides[0]
            for t, (state, first) in enumerate(zip(self.states, self.first)):
                self._pack(self.scalars, t * stride, *hypers, state["step"] + 1.0, first, scale)
            self._packed = hypers
        self._run()
        if self.shared:   # one new count for every tensor
            for state in self.states:
                state["step"] = step
        else:
            for state in self.states:
                state["step"] += 1
        if self.first[0] or not self.shared:
            self.first = [0.0] * len(self.first)
