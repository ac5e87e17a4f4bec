"""The errors tinygrad_norm raises on purpose: one base class, and for each kind of mistake a class
that also subclasses the built-in type a Python (or PyTorch) user would catch for it.

    try:
        model.load_state_dict(state)
    except tn.ShapeError:        # also a ValueError
        ...

Anything else that escapes is a bug: the command line prints our errors (and file-system errors)
as one line, and everything else with its traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


class TinygradNormError(Exception):
    """Base of every error tinygrad_norm raises on purpose."""


class ArgumentError(TinygradNormError, ValueError):
    """An argument or option has a value that cannot work (out of range, unknown name, inconsistent)."""


class ArgumentTypeError(TinygradNormError, TypeError):
    """An argument is the wrong kind of object (a list where a Tensor is needed, ...)."""


class ShapeError(TinygradNormError, ValueError):
    """Shapes do not fit together (broadcasting, matmul, a state dict's tensors, a model's input)."""


class DTypeError(TinygradNormError, TypeError):
    """Dtypes do not fit together, or a dtype cannot be used here."""


class DeviceError(TinygradNormError, RuntimeError):
    """An unknown or unavailable device, or tensors on different devices."""


class AxisError(TinygradNormError, IndexError):
    """An axis out of range for a tensor's dimensions."""


class GraphError(TinygradNormError, RuntimeError):
    """Autograd used in a way it cannot work (backward twice through a freed graph, no grad to compute)."""


class NotFittedError(TinygradNormError, ValueError, AttributeError):
    """A normalizer is used before ``fit`` (ValueError and AttributeError, like scikit-learn's)."""


class CheckpointError(TinygradNormError, ValueError):
    """A checkpoint file is missing parts, truncated, corrupt, crafted or not one of ours."""


class DataError(TinygradNormError, ValueError):
    """A data file is missing or malformed; the message names the file, line and column, and what to do."""


class DivergenceError(TinygradNormError, RuntimeError):
    """Training produced an inf/NaN loss."""


class ArtifactError(TinygradNormError, RuntimeError):
    """An artifact folder is in use by another run, or holds state that cannot be resumed."""


class MissingDependencyError(TinygradNormError, ImportError):
    """An optional dependency (an extra) is needed for this; the message says what to install."""


def name_few(items: Sequence[Any], show: Callable[[Any], str] = repr, limit: int = 5, width: int = 60) -> str:
    """The first ``limit`` of ``items`` and a count of the rest (``'a', 'b', 'c', 'd', 'e' and 19,995 more``):
    what every message that names features, columns or options prints, so that a table of a million columns
    gives a message of a few lines. Each item is shown with ``show``, cut to ``width`` characters."""
    def cut(text: str) -> str:
        return text if len(text) <= width else text[:width - 3] + "..."

    n = len(items)
    head = ", ".join(cut(show(items[i])) for i in range(min(n, limit)))
    return head if n <= limit else f"{head} and {n - limit:,} more"


__all__ = ["ArgumentError", "ArgumentTypeError", "ArtifactError", "AxisError", "CheckpointError", "DTypeError",
           "DataError", "DeviceError", "DivergenceError", "GraphError", "MissingDependencyError", "NotFittedError",
           "ShapeError", "TinygradNormError"]
