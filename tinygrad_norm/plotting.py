"""matplotlib, imported only when a PNG is asked for (it is the optional 'plot' extra)."""

from __future__ import annotations

from typing import Any

from .errors import MissingDependencyError

INSTALL_HINT = "pip install 'tinygrad_norm[plot]'"


def pyplot() -> Any:
    """matplotlib.pyplot with the file-only Agg backend, or a MissingDependencyError saying what to install."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise MissingDependencyError(f"--plot needs matplotlib: {INSTALL_HINT}") from e
    return plt
