"""Fitted normalizers: statistics computed once on the training set, kept with the model,
applied identically at inference.

``Normalizer("standard" | "minmax" | "maxabs" | "robust")`` fits per-feature statistics in
float64 (exact per-block moments merged with Chan et al.'s formula, so
``partial_fit`` over any split of the rows equals ``fit`` on all of them; robust's
median and quantiles exact for one in-memory array, else merged in KLL sketches:
``quantiles.py``) and applies them as one fused ``(x - shift) * scale + offset`` pass
on the backend of the data (blocked multi-threaded NumPy on the CPU, our kernels on CUDA).

Inputs may also be pandas DataFrames/Series (``_pandas.py``) and Dask arrays/DataFrames, fitted block
by block where the data lives (``_dask.py``); the class follows scikit-learn's transformer API
(``fit(X, y=None)``, ``get_params``/``set_params``, ``set_output``, feature names) without importing it.

The package's files are the steps, in the order a transform takes them:

- ``inputs.py``: adapt any input once (array, Tensor, DataFrame, Series, Dask, list of batches) to the array,
  its backend, its column labels and how to wrap the result;
- ``statistics.py``: the fit (merging each chunk's statistics), the derived affine (shift, scale, offset) and
  the careful-path decisions; ``quantiles.py`` robust's quantiles (exact, or KLL sketches);
- ``apply.py``: the kernel, fast and careful (and ``standardize``);
- ``state.py``: ``state_dict``, ``from_state_dict`` and ``from_stats``, validated;
- ``config.py``: the settings and their validation;
- ``normalizer.py``: the class, whose methods call the steps in order (adapt -> compute -> wrap).
"""

from __future__ import annotations

from .apply import _SHIFT_SCALE, _check_out, _shift_scale, standardize
from .config import _CONFIG_KEYS, _DERIVING_KEYS, _GIVEN, _OPTION_DEFAULTS, _STAT_KEYS, _STATS, METHODS
from .inputs import _as_2d, _batches, _difference, _Input, _is_2d_table, _is_sparse
from .normalizer import Normalizer
from .state import _given_array, _loaded_labels, _savable_label, _savable_labels
from .statistics import _MAX16, NormalizerWarning

# the public classes keep the module they always had: pickles (a joblib-saved Pipeline, a Dask graph) name
# tinygrad_norm.normalize.Normalizer, readable by any version
Normalizer.__module__ = NormalizerWarning.__module__ = __name__

__all__ = ["METHODS", "Normalizer", "NormalizerWarning", "standardize"]
__all__ += ["_CONFIG_KEYS", "_DERIVING_KEYS", "_GIVEN", "_Input", "_MAX16", "_OPTION_DEFAULTS", "_SHIFT_SCALE",
            "_STATS", "_STAT_KEYS", "_as_2d", "_batches", "_check_out", "_difference", "_given_array",
            "_is_2d_table", "_is_sparse", "_loaded_labels", "_savable_label", "_savable_labels", "_shift_scale"]
