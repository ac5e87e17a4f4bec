"""Big CPU arrays reused from one training step to the next instead of freshly allocated.

A step of a big model allocates the same few large arrays every time (each layer's product, ReLU's
gradient, the matmuls of backward). glibc serves arrays of more than a few MiB with fresh ``mmap``s
or trims them back to the system when freed, so every step touches new pages: at batch 4096 and
256 hidden units, ~3300 page faults per step, a third of its time, and the reason its time varied
from run to run. (XLA and torch's CUDA allocator keep such buffers too.)

A buffer is a 1-D byte array the pool owns; each request hands out a typed view of one. A view
keeps its buffer referenced (``view.base``), so a buffer is free again exactly when the pool's own
references are the only ones left: nothing that still uses its memory (an activation saved by the
graph, a gradient the user kept, a NumPy view of either) can be handed out twice.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np

MIN_BYTES = 128 << 10  # glibc serves smaller arrays from its free lists; bigger ones from fresh mmaps (page faults)
PER_SIZE = 8  # buffers kept per byte size: the most a step of a deep MLP holds at once
_FREE_REFCOUNT = 3  # the pool's list, the loop's variable and getrefcount's argument
_ALIGN = 64  # views start on a cache line (malloc aligns to 16 bytes)


def _typed(buffer: np.ndarray, nbytes: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    start = -buffer.ctypes.data % _ALIGN
    return buffer[start:start + nbytes].view(dtype).reshape(shape)  # (its base is the buffer itself)


class BufferPool:
    """Typed arrays carved out of reusable byte buffers, at most :data:`PER_SIZE` of each size."""

    def __init__(self) -> None:
        self._buffers: dict[int, list[np.ndarray]] = {}
        self._lock = threading.Lock()  # two threads training at once must not both take one free buffer

    def empty(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """An uninitialized C-contiguous array, from a free buffer of its byte size when there is one."""
        dtype = np.dtype(dtype)
        n = 1
        for s in shape:
            n *= s
        nbytes = n * dtype.itemsize
        if nbytes < MIN_BYTES:
            return np.empty(shape, dtype)
        with self._lock:
            buffers = self._buffers.setdefault(nbytes, [])
            for buffer in buffers:
                if sys.getrefcount(buffer) == _FREE_REFCOUNT:
                    return _typed(buffer, nbytes, shape, dtype)
            buffer = np.empty(nbytes + _ALIGN, np.uint8)
            if len(buffers) < PER_SIZE:
                buffers.append(buffer)
            return _typed(buffer, nbytes, shape, dtype)

    def held_bytes(self) -> int:
        """Bytes the pool keeps, in use or free."""
        return sum((size + _ALIGN) * len(b) for size, b in self._buffers.items())

    def clear(self) -> None:
        """Drop the pool's buffers (those still in use live on until their arrays are freed)."""
        with self._lock:
            self._buffers.clear()
