"""tinygrad_norm: a small tensor/autograd engine that teaches why feature scaling decides
whether gradient descent works.

    import tinygrad_norm as tn
    x = tn.Tensor([[1.0, 2.0]], requires_grad=True)
"""

from . import data, datasets, errors, experiments, export, nn, optim, plotting, serialization
from ._backend import DEVICES, cuda_available, empty_cache, get_backend
from .diagnose import diagnose
from .drift import DriftReport
from .errors import (
    ArgumentError,
    ArgumentTypeError,
    ArtifactError,
    AxisError,
    CheckpointError,
    DataError,
    DeviceError,
    DivergenceError,
    DTypeError,
    GraphError,
    MissingDependencyError,
    NotFittedError,
    ShapeError,
    TinygradNormError,
)
from .normalize import Normalizer, NormalizerWarning, standardize
from .serialization import load, save
from .tensor import (
    Tensor,
    ValuesIndices,
    arange,
    bool_,
    cat,
    concatenate,
    default_generator,
    float32,
    float64,
    from_numpy,
    full,
    inference_mode,
    int64,
    is_grad_enabled,
    manual_seed,
    matmul,
    maximum,
    minimum,
    no_grad,
    ones,
    ones_like,
    pow,
    rand,
    randn,
    set_grad_enabled,
    stack,
    tensor,
    where,
    zeros,
    zeros_like,
)

__version__ = "0.1.0"

__all__ = [
    "ArgumentError", "ArgumentTypeError", "ArtifactError", "AxisError", "DataError", "DeviceError", "DTypeError",
    "GraphError", "MissingDependencyError", "NotFittedError", "ShapeError", "TinygradNormError", "errors", "plotting",
    "DEVICES", "CheckpointError", "datasets", "get_backend", "serialization",
    "DivergenceError", "Normalizer", "NormalizerWarning", "Tensor", "diagnose",
    "data", "export", "experiments", "standardize", "arange", "bool_", "cat", "concatenate", "cuda_available",
    "empty_cache",
    "default_generator", "float32", "float64", "full", "int64", "is_grad_enabled", "load", "manual_seed",
    "nn", "no_grad", "ones", "ones_like", "optim", "rand", "randn", "save", "stack", "tensor", "zeros",
    "zeros_like", "DriftReport", "ValuesIndices", "from_numpy", "inference_mode", "matmul", "maximum", "minimum",
    "pow", "set_grad_enabled", "where",
]
