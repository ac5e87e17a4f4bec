"""Tensor: an array on a device plus the reverse-mode autograd bookkeeping.

The ops themselves live in ``function.py`` (forward and backward side by side);
this file holds the Tensor object, the backward sweep, grad mode and the
constructors. A Tensor is deliberately lean (``__slots__``, no per-op checks
beyond what the error messages need): the training step's speed depends on it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ._backend import DEFAULT_DTYPE, DEVICES, Backend, device_of, get_backend
from .errors import ArgumentError, ArgumentTypeError, AxisError, DeviceError, DTypeError, GraphError, ShapeError

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)

Shape = tuple[int, ...]


# ---- grad mode ----------------------------------------------------------------
class _GradMode:
    enabled = True


class no_grad:
    """Context manager (and decorator) that records no graph: for inference and parameter updates."""

    def __enter__(self) -> None:
        self._prev = _GradMode.enabled
        _GradMode.enabled = False

    def __exit__(self, *exc: object) -> None:
        _GradMode.enabled = self._prev

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)
        return wrapper


def is_grad_enabled() -> bool:
    """Whether operations record a graph now (torch.is_grad_enabled)."""
    return _GradMode.enabled


def _check_mode(what: str, mode: Any) -> bool:
    if not isinstance(mode, (bool, np.bool_)):
        raise ArgumentTypeError(f"{what} takes a bool, got {type(mode).__name__} {mode!r}")
    return bool(mode)


class _GradModeContext:
    """Sets grad mode to ``self._enabled`` inside a ``with`` block (restoring the previous mode after it) or
    around each call of a function it decorates."""

    _enabled = False

    def __enter__(self) -> None:
        self._prev = _GradMode.enabled
        _GradMode.enabled = self._enabled

    def __exit__(self, *exc: object) -> None:
        _GradMode.enabled = self._prev

    def __call__(self, fn):
        enabled = self._enabled

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = _GradMode.enabled
            _GradMode.enabled = enabled
            try:
                return fn(*args, **kwargs)
            finally:
                _GradMode.enabled = prev
        return wrapper


class set_grad_enabled(_GradModeContext):
    """torch.set_grad_enabled: ``tn.set_grad_enabled(False)`` turns grad mode off at once (a plain call); as
    ``with tn.set_grad_enabled(is_train):`` or a decorator it also restores the previous mode afterwards (as a
    decorator, the mode applies during each call only)."""

    def __init__(self, mode: bool) -> None:
        self._enabled = _check_mode("set_grad_enabled()", mode)
        self._prev = _GradMode.enabled
        _GradMode.enabled = self._enabled

    def __enter__(self) -> None:  # (the previous mode is the one before the call, already kept)
        _GradMode.enabled = self._enabled

    def __call__(self, fn):
        _GradMode.enabled = self._prev  # (torch's rule: decorating undoes the call's immediate effect)
        return super().__call__(fn)

    def __repr__(self) -> str:
        return f"set_grad_enabled(mode={self._enabled})"


class inference_mode(_GradModeContext):
    """torch.inference_mode, as a context manager or decorator (``@tn.inference_mode`` or
    ``@tn.inference_mode()``). Here it is exactly :class:`no_grad`: this engine has no view tracking or
    version counters for inference mode to skip. ``inference_mode(False)`` turns grad mode on inside,
    as torch's does."""

    def __new__(cls, mode: Any = True):
        if callable(mode) and not isinstance(mode, (bool, np.bool_)):  # used bare: @tn.inference_mode
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True) -> None:
        self._enabled = not _check_mode("inference_mode()", mode)


def _as_dtype(dtype: Any) -> np.dtype | None:
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError as e:
        raise DTypeError(f"unknown dtype {dtype!r}; use e.g. 'float32' or 'float64'") from e


def _infer_device(data: Any) -> str:
    if isinstance(data, Tensor):
        return data.device
    return device_of(data)


def _check_no_overflow(arr: Any, data: Any, backend: Backend) -> None:
    """A narrowing conversion to ``arr``'s float dtype must not turn finite values of ``data`` into inf.
    One pass over the result; the source is looked at only when an inf appears in it."""
    if not bool(backend.xp.isinf(arr).any()):
        return
    src = data if isinstance(data, np.ndarray) else (
        get_backend(device_of(data)).to_numpy(data) if device_of(data) != "cpu" else np.asarray(data))
    if src.dtype.kind not in "biuf":
        return
    grew = np.isinf(backend.to_numpy(arr)) & np.isfinite(src)
    if grew.any():
        where = tuple(int(i) for i in np.argwhere(grew)[0])
        first = src[where] if src.ndim else src[()]
        raise ArgumentError(f"Tensor: {int(grew.sum())} value(s) of the {src.dtype} data overflow {arr.dtype} (its "
                            f"largest is {float(np.finfo(arr.dtype).max):.4g}), the first {float(first):.4g} at index "
                            f"{where}; pass dtype='float64' to keep them, or rescale the data")


_new = object.__new__
_FREED = object()  # what a graph node's ``saved`` becomes once backward has released it


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    ``Tensor(data, requires_grad=False, dtype=None, device=None)``: ``data`` is a
    list, scalar, NumPy/CuPy array or Tensor. Float data becomes float32 unless
    ``dtype`` asks for another; integer and bool data keep their dtype. ``device``
    is ``"cpu"`` or ``"cuda"`` (default: where ``data`` already lives).

    Unlike ``torch.tensor(ndarray)``, which keeps a float64 array's dtype, a float64 array becomes
    float32 here too (the project's default dtype; pass ``dtype="float64"`` to keep it). Such a
    narrowing conversion never turns a finite value into inf: values beyond the dtype's largest
    (``np.array([1e300])`` into float32) are an ArgumentError naming the first of them. Values below
    its smallest become 0 (as in torch and NumPy); inf and NaN stay what they are.
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_backend", "__weakref__")
    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 device: str | None = None) -> None:
        backend = get_backend(device if device is not None else _infer_device(data))
        dt = _as_dtype(dtype)
        if isinstance(data, Tensor):  # a tensor keeps its dtype unless asked otherwise
            dt = dt or data.dtype
            data = data.data
        # (np.dtype(None) is float64, so never compare a dtype with None)
        src = getattr(data, "dtype", None)  # None for lists and Python scalars: converted through float64
        same = src is not None and (src == dt if dt is not None else src.kind != "f" or src == DEFAULT_DTYPE)
        try:
            if same:  # no conversion (the hot path: batches, parameters)
                arr = backend.asarray(data, dt)
            else:
                with np.errstate(over="ignore"):  # an overflow is reported below, as our error
                    arr = backend.asarray(data, dt)
        except (ValueError, TypeError) as e:
            raise DTypeError(f"cannot make a Tensor from {type(data).__name__}: {e}") from e
        if not same and arr.dtype.kind == "f" and arr.dtype.itemsize < 8:
            _check_no_overflow(arr, data, backend)
        if arr.dtype.kind not in "biuf":
            module = type(data).__module__ or ""
            if module.startswith("scipy.sparse") or module.split(".")[0] == "sparse":  # (NumPy made it an object)
                raise DTypeError(f"Tensor: sparse input ({module}.{type(data).__name__}) is not supported; densify "
                                 "it first with X.toarray(), if it fits in memory")
            raise DTypeError(f"Tensor data must be numeric (bool, int or float), got dtype {arr.dtype}")
        if requires_grad and arr.dtype.kind != "f":
            raise DTypeError(f"only floating-point tensors can require gradients, got dtype {arr.dtype}")
        self.data = arr
        self.grad: Tensor | None = None
        self.requires_grad = bool(requires_grad)
        self._ctx = None
        self._backend: Backend = backend

    @staticmethod
    def _make(data: Any, backend: Backend, requires_grad: bool = False, ctx: Any = None) -> Tensor:
        t = _new(Tensor)
        t.data = data
        t.grad = None
        t.requires_grad = requires_grad
        t._ctx = ctx
        t._backend = backend
        return t

    # ---- properties --------------------------------------------------------
    @property
    def shape(self) -> Shape:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def device(self) -> str:
        return self._backend.name

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def size(self, dim: int | None = None) -> Shape | int:
        """The shape, like torch's ``x.size()``; ``x.size(d)`` is the length of dimension ``d``.
        (The number of elements, NumPy's ``.size``, is :meth:`numel`.)"""
        if dim is None:
            return self.data.shape
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
            raise ArgumentTypeError(f"size() takes a dimension index, got {dim!r}")
        if not -self.data.ndim <= dim < self.data.ndim:
            raise AxisError(f"size({dim}): dimension out of range for a tensor of shape {self.shape}")
        return self.data.shape[dim]

    def numel(self) -> int:
        """The number of elements (torch's ``numel``, NumPy's ``size``)."""
        return self.data.size

    def dim(self) -> int:
        """The number of dimensions (torch's ``dim()``; also the ``ndim`` property)."""
        return self.data.ndim

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise ArgumentTypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __repr__(self) -> str:
        arr = np.array2string(self.numpy(), precision=4, separator=", ", threshold=20, prefix="Tensor(")
        extra = ", requires_grad=True" if self.requires_grad else ""
        dev = f", device='{self.device}'" if self.device != "cpu" else ""
        return f"Tensor({arr}, dtype={self.dtype}{dev}{extra})"

    __hash__ = object.__hash__  # == is elementwise, so hash by identity like torch

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ShapeError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .all() or .any()")
        return bool(self.data)

    # ---- conversion ------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shared memory on the CPU, a copy from the GPU)."""
        return self._backend.to_numpy(self.data)

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def item(self) -> float | int | bool:
        if self.data.size != 1:
            raise ShapeError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def _scalar(self, what: str) -> Any:
        if self.data.size != 1:
            raise ShapeError(f"only one-element tensors can be converted to Python scalars ({what}), got shape "
                             f"{self.shape}; index or reduce it first")
        return self.data.item()

    def __float__(self) -> float:
        return float(self._scalar("float()"))

    def __int__(self) -> int:
        """``int(t)`` of a one-element tensor; a float truncates toward zero, as in torch."""
        return int(self._scalar("int()"))

    def __index__(self) -> int:
        """A one-element integer (or bool) tensor used as an index, as in torch: ``items[t]``, ``range(t)``."""
        if self.dtype.kind not in "biu" or self.data.size != 1:
            raise ArgumentTypeError(f"only integer tensors of a single element can be converted to an index, got "
                                    f"a {self.dtype} tensor of shape {self.shape}")
        return int(self.data.item())

    def detach(self) -> Tensor:
        """The same data, cut off from the graph."""
        return Tensor._make(self.data, self._backend)

    def clone(self) -> Tensor:
        """A copy with its own memory that stays in the graph (torch's ``clone``): gradients flow back."""
        return F.Clone.apply(self)

    def to(self, *args: Any, dtype: Any = None, device: str | None = None) -> Tensor:
        """torch's ``to``: ``x.to("cuda")``, ``x.to(tn.float64)`` (or ``"float64"``), ``x.to(device, dtype)``,
        ``x.to(other)`` (other's device and dtype), or the keywords. The same tensor when nothing changes,
        else a new one; gradients flow back."""
        if len(args) > 2:
            raise ArgumentError(f"to() takes at most a device and a dtype, got {len(args)} positional arguments")
        for a in args:
            if isinstance(a, Tensor):
                if len(args) > 1 or dtype is not None or device is not None:
                    raise ArgumentError("to(other) takes other's device and dtype; pass nothing else with it")
                device, dtype = a._backend, a.dtype
            elif isinstance(a, Backend) or (isinstance(a, str) and (a in DEVICES or a.startswith("cuda"))):
                if device is not None:
                    raise ArgumentError(f"to(): two devices given ({device!r} and {a!r})")
                device = a
            else:
                if dtype is not None:
                    raise ArgumentError(f"to(): two dtypes given ({dtype!r} and {a!r})")
                try:
                    dtype = _as_dtype(a)
                except DTypeError:
                    raise DTypeError(f"to({a!r}): neither a device ({', '.join(DEVICES)}) nor a dtype (e.g. "
                                     "'float32', tn.float64)") from None
        out = self if dtype is None else self.astype(dtype)
        if device is not None:
            backend = get_backend(device)
            if backend is not out._backend:
                out = F.ToDevice.apply(out, backend=backend)
        return out

    def type_as(self, other: Tensor) -> Tensor:
        """This tensor in ``other``'s dtype (torch's ``type_as``; differentiable)."""
        if not isinstance(other, Tensor):
            raise ArgumentTypeError(f"type_as() takes a Tensor, got {type(other).__name__}")
        return self.astype(other.dtype)

    def to_(self, device: str) -> Tensor:
        """Move this leaf tensor's data to ``device`` in place (what ``Module.to`` does to parameters);
        its gradient is dropped."""
        if self._ctx is not None:
            raise GraphError("to_() moves leaf tensors only; use .to(device) for a result of operations")
        backend = get_backend(device)
        if backend is not self._backend:
            self.data = backend.asarray(self.data, self.dtype)
            self._backend = backend
            self.grad = None
        return self

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def astype(self, dtype: Any) -> Tensor:
        dt = _as_dtype(dtype)
        if dt == self.dtype:
            return self
        return F.Cast.apply(self, dtype=dt)

    def float(self) -> Tensor:
        return self.astype(float32)

    def double(self) -> Tensor:
        return self.astype(float64)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.dtype.kind != "f":
            raise DTypeError(f"only floating-point tensors can require gradients, got dtype {self.dtype}")
        if self._ctx is not None:
            raise GraphError("requires_grad_ can only change leaf tensors; use .detach() first")
        self.requires_grad = requires_grad
        return self

    def zero_grad(self) -> None:
        self.grad = None

    # ---- autograd ----------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` that requires grad.

        ``grad`` defaults to 1 for a single-element tensor and is required otherwise.
        The graph's saved arrays are freed afterwards unless ``retain_graph``.
        """
        if not self.requires_grad:
            raise GraphError("backward() on a tensor that does not require grad: no input of the "
                               "computation had requires_grad=True (or it ran under no_grad())")
        if grad is None:
            if self.data.size != 1:
                raise GraphError(f"backward() on a non-scalar tensor of shape {self.shape} needs grad= "
                                   "of the same shape (only a single-element output defaults to 1)")
            g = _seed(self._backend, self.data)
        else:
            g = grad.data if isinstance(grad, Tensor) else self._backend.asarray(grad, self.dtype)
            if g.shape != self.shape:
                raise ShapeError(f"backward(): grad of shape {tuple(g.shape)} does not match "
                                 f"the tensor's shape {self.shape}")
            g = g.astype(self.dtype, copy=False)
        if self._ctx is None:
            self._accumulate(g)
            return
        given = {id(g)}  # arrays a leaf may not adopt: the seed, and each one already handed to a leaf
        adopt = not retain_graph  # with retain_graph the graph keeps its saved arrays, which a gradient must not alias
        # a chain first (each node has at most one input that is not a leaf, as a Sequential model's loss):
        # an input used by one node only has its whole gradient once that node ran, and gets it with no
        # bookkeeping; a node with two such inputs (or one used twice) hands the rest to the general walk
        inner = _backward_node(self._ctx, g, adopt, given)
        while len(inner) == 1:
            t, g = inner[0]
            inner = _backward_node(t._ctx, g, adopt, given)
        if inner:
            _backward_graph(inner, adopt, given)

    def _accumulate(self, g: Any, fresh: bool = False) -> None:
        if g.dtype != self.data.dtype:
            g, fresh = g.astype(self.data.dtype), True
        cur = self.grad
        if cur is None:  # copy unless fresh: g may alias another input's gradient or a broadcast view
            self.grad = Tensor._make(g if fresh else self._backend.xp.array(g), self._backend)
        else:
            self.grad = Tensor._make(cur.data + g, self._backend)

    # ---- operators -----------------------------------------------------------
    def _binary(self, other: Any) -> tuple[Tensor, Tensor]:
        """(self, other) as tensors of one dtype, promoted as torch promotes them: a Python scalar never
        widens a float tensor; an integer or bool operand takes the float operand's dtype (int64 with a
        float scalar gives the default float32). float32 with float64 tensors is an error, not a silent
        float64: convert one explicitly."""
        be = self._backend
        if isinstance(other, Tensor):
            if other._backend is not be:
                raise DeviceError(f"tensors on different devices: {self.device} and {other.device}; "
                                  "move one with .to(device)")
            ka, kb = self.dtype.kind, other.dtype.kind
            if ka == "f" and kb == "f":
                if other.dtype != self.dtype:
                    raise DTypeError(f"dtype mismatch: {self.dtype} and {other.dtype}; convert one with .astype()")
                return self, other
            if ka == "f":
                return self, other._cast(self.dtype)
            if kb == "f":
                return self._cast(other.dtype), other
            return self, other
        xp = be.xp
        if other is None or isinstance(other, (str, bytes)):
            raise DTypeError(f"cannot combine a {self.dtype} tensor with {type(other).__name__} {other!r}")
        if self.dtype.kind == "f":
            return self, Tensor._make(xp.asarray(other, dtype=self.dtype), be)
        arr = xp.asarray(other)
        if arr.dtype.kind == "f":
            return self._cast(DEFAULT_DTYPE), Tensor._make(arr.astype(DEFAULT_DTYPE), be)
        if arr.dtype.kind not in "biu":
            raise DTypeError(f"cannot combine a {self.dtype} tensor with {type(other).__name__} {other!r}")
        return self, Tensor._make(arr, be)

    def _cast(self, dtype: np.dtype) -> Tensor:
        return self if self.dtype == dtype else F.Cast.apply(self, dtype=dtype)

    # The common case, a Tensor of this device and this exact dtype, goes straight to the op: no promotion.
    def __add__(self, other: Any) -> Tensor:
        if type(other) is Tensor and other._backend is self._backend and other.data.dtype is self.data.dtype:
            return _add(self, other)
        return _add(*self._binary(other))

    def __radd__(self, other: Any) -> Tensor:
        a, b = self._binary(other)
        return F.Add.apply(b, a)

    def __sub__(self, other: Any) -> Tensor:
        if type(other) is Tensor and other._backend is self._backend and other.data.dtype is self.data.dtype:
            return _sub(self, other)
        return _sub(*self._binary(other))

    def __rsub__(self, other: Any) -> Tensor:
        a, b = self._binary(other)
        return F.Sub.apply(b, a)

    def __mul__(self, other: Any) -> Tensor:
        if type(other) is Tensor and other._backend is self._backend and other.data.dtype is self.data.dtype:
            return _mul(self, other)
        return _mul(*self._binary(other))

    def __rmul__(self, other: Any) -> Tensor:
        a, b = self._binary(other)
        return F.Mul.apply(b, a)

    def _true_divisible(self, other: Any) -> tuple[Tensor, Tensor]:
        a, b = self._binary(other)
        if a.dtype.kind != "f":  # integer / integer is a float division, in the default float dtype (torch)
            a, b = a._cast(DEFAULT_DTYPE), b._cast(DEFAULT_DTYPE)
        return a, b

    def __truediv__(self, other: Any) -> Tensor:
        return F.Div.apply(*self._true_divisible(other))

    def __rtruediv__(self, other: Any) -> Tensor:
        a, b = self._true_divisible(other)
        return F.Div.apply(b, a)

    def __matmul__(self, other: Any) -> Tensor:
        if type(other) is Tensor and other._backend is self._backend and other.data.dtype is self.data.dtype:
            return _matmul(self, other)
        return _matmul(*self._binary(other))

    def __rmatmul__(self, other: Any) -> Tensor:
        a, b = self._binary(other)
        return F.MatMul.apply(b, a)

    def __pow__(self, exponent: Any) -> Tensor:
        """``x ** e`` (torch.pow) for a scalar, a Tensor or an array ``e``, broadcast, with gradients for both.
        A power of integers is float32 (unlike torch, which keeps int64): the same rule as ``int_tensor ** 2``."""
        if isinstance(exponent, (int, float, np.integer, np.floating)):
            base = self if self.dtype.kind == "f" else self._cast(DEFAULT_DTYPE)  # int ** 2.0 is float32
            return F.Pow.apply(base, exponent=float(exponent))
        return F.PowTensor.apply(*self._true_divisible(exponent))

    def __rpow__(self, base: Any) -> Tensor:
        """``base ** x`` for a scalar or array ``base``: the same op as ``Tensor ** Tensor``."""
        exponent, b = self._true_divisible(base)
        return F.PowTensor.apply(b, exponent)

    def pow(self, exponent: Any) -> Tensor:
        """torch's ``x.pow(e)``: ``x ** e``."""
        return self.__pow__(exponent)

    def matmul(self, other: Tensor) -> Tensor:
        """torch's ``x.matmul(y)``: ``x @ y``."""
        return self.__matmul__(other)

    def maximum(self, other: Any) -> Tensor:
        """Elementwise maximum, broadcast (torch.maximum; a scalar ``other`` is allowed too). Where the two are
        equal each gets half the gradient, as in torch; NaN propagates."""
        return F.Maximum.apply(*self._binary(other))

    def minimum(self, other: Any) -> Tensor:
        """Elementwise minimum, broadcast (torch.minimum); ties split the gradient, as in torch."""
        return F.Minimum.apply(*self._binary(other))

    def __neg__(self) -> Tensor:
        return F.Neg.apply(self)

    def __getitem__(self, index: Any) -> Tensor:
        if isinstance(index, Tensor):
            index = index.data
        elif isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
            ints = _int_positions(index)
            if ints and len(ints) < len(index) and any(_is_array_index(i) for i in index):
                # torch applies integer indices first, as basic indexing; NumPy counts an int beside an array
                # index as one more advanced index, which moves the indexed dimensions to the front when a
                # slice separates them (x[0, :, idx]). Select by the ints first, then index the rest.
                first = tuple(i if k in ints else i if i is Ellipsis else slice(None)
                              for k, i in enumerate(index) if i is not None for _ in range(_dims_used(i)))
                rest = tuple(i for k, i in enumerate(index) if k not in ints)
                return F.Index.apply(F.Index.apply(self, index=first), index=rest)
        return F.Index.apply(self, index=index)

    # comparisons: not differentiable, return bool tensors
    def _compare(self, other: Any, op: Any) -> Tensor:
        o = other.data if isinstance(other, Tensor) else other
        return Tensor._make(op(self.data, o), self._backend)

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(other, self._backend.xp.less)

    def __le__(self, other: Any) -> Tensor:
        return self._compare(other, self._backend.xp.less_equal)

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(other, self._backend.xp.greater)

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(other, self._backend.xp.greater_equal)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, self._backend.xp.equal)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, self._backend.xp.not_equal)

    def all(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        """torch's ``all``: a bool tensor (0-d without ``dim``), not differentiable; ``if x.all():`` works as a
        one-element tensor's truth value."""
        return self._logical("all", dim, keepdim)

    def any(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        """torch's ``any``: a bool tensor (0-d without ``dim``), not differentiable."""
        return self._logical("any", dim, keepdim)

    def _logical(self, op: str, dim: Any, keepdim: Any) -> Tensor:
        _check_bool(op, keepdim)
        axis = _axes_of(self.ndim, dim, op)
        return Tensor._make(self._backend.xp.asarray(getattr(self.data, op)(axis=axis, keepdims=keepdim)),
                            self._backend)

    def _floating(self) -> Tensor:
        """self, or for an integer or bool tensor its float32 copy: torch's exp, log, sqrt, sigmoid and tanh of
        integers are float32 (NumPy would make them float64)."""
        return self if self.dtype.kind in "fc" else self._cast(DEFAULT_DTYPE)

    # ---- elementwise -------------------------------------------------------------
    def exp(self) -> Tensor:
        return F.Exp.apply(self._floating())

    def log(self) -> Tensor:
        return F.Log.apply(self._floating())

    def sqrt(self) -> Tensor:
        return F.Sqrt.apply(self._floating())

    def abs(self) -> Tensor:
        return F.Abs.apply(self)

    def relu(self) -> Tensor:
        return F.ReLU.apply(self)

    def sigmoid(self) -> Tensor:
        return F.Sigmoid.apply(self._floating())

    def tanh(self) -> Tensor:
        return F.Tanh.apply(self._floating())

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        if min is None and max is None:
            raise ArgumentError("clip() needs min, max or both")
        return F.Clip.apply(self, lo=min, hi=max)

    clamp = clip

    # ---- reductions ------------------------------------------------------------------
    # Each takes torch's names (dim, keepdim; positionally too) and NumPy's (axis=, keepdims=) for the same thing.
    def sum(self, dim: int | Sequence[int] | None = None, keepdim: bool | None = None, *,
            axis: int | Sequence[int] | None = None, keepdims: bool | None = None) -> Tensor:
        """torch's ``x.sum(dim, keepdim)`` (NumPy's ``axis=``/``keepdims=`` also accepted)."""
        dim, keepdim = _dim_keep("sum", dim, keepdim, axis, keepdims)
        return F.Sum.apply(self, axis=_scalar_dims(self, dim), keepdims=keepdim)

    def mean(self, dim: int | Sequence[int] | None = None, keepdim: bool | None = None, *,
             axis: int | Sequence[int] | None = None, keepdims: bool | None = None) -> Tensor:
        """torch's ``x.mean(dim, keepdim)``. The mean of an integer tensor is float32 (torch refuses it)."""
        dim, keepdim = _dim_keep("mean", dim, keepdim, axis, keepdims)
        base = self if self.dtype.kind == "f" else self._cast(DEFAULT_DTYPE)  # the mean of integers is a float32
        return F.Mean.apply(base, axis=_scalar_dims(self, dim), keepdims=keepdim)

    def prod(self, dim: int | Sequence[int] | None = None, keepdim: bool | None = None, *,
             axis: int | Sequence[int] | None = None, keepdims: bool | None = None) -> Tensor:
        """torch's ``x.prod(dim, keepdim)``; the gradient is exact where some factors are 0 (as torch's is)."""
        dim, keepdim = _dim_keep("prod", dim, keepdim, axis, keepdims)
        return F.Prod.apply(self, axis=_scalar_dims(self, dim), keepdims=keepdim)

    def max(self, dim: int | Tensor | None = None, keepdim: bool | None = None, *,
            axis: int | Sequence[int] | None = None, keepdims: bool | None = None) -> Tensor | ValuesIndices:
        """Like torch's ``max``: ``x.max()`` is the largest element; ``x.max(dim)`` (or ``dim=``) returns
        ``(values, indices)`` along that dimension, the gradient going to the selected element (the first
        of ties); ``x.max(other_tensor)`` is :meth:`maximum`. NumPy's ``x.max(axis=...)`` stays NumPy's
        amax (a tensor, ties sharing the gradient, several axes allowed), the same as :meth:`amax`."""
        return self._extremum("max", dim, keepdim, axis, keepdims)

    def min(self, dim: int | Tensor | None = None, keepdim: bool | None = None, *,
            axis: int | Sequence[int] | None = None, keepdims: bool | None = None) -> Tensor | ValuesIndices:
        """Like torch's ``min``, as :meth:`max`: ``min(dim)`` gives ``(values, indices)``; ``min(axis=)`` is
        NumPy's amin."""
        return self._extremum("min", dim, keepdim, axis, keepdims)

    def _extremum(self, op: str, dim: Any, keepdim: Any, axis: Any, keepdims: Any) -> Tensor | ValuesIndices:
        if isinstance(dim, Tensor):  # torch.max(input, other)
            if keepdim is not None or axis is not None or keepdims is not None:
                raise ArgumentError(f"{op}(other) is the elementwise {op}imum; it takes no dim or keepdim")
            return self.maximum(dim) if op == "max" else self.minimum(dim)
        if axis is not None or dim is None:  # NumPy's amax/amin (torch's x.max() with no dim is the same)
            axis, keep = _dim_keep(op, dim, keepdim, axis, keepdims)
            return (F.Max if op == "max" else F.Min).apply(self, axis=axis, keepdims=keep)
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
            raise ArgumentTypeError(f"{op}(dim) takes one dimension and returns (values, indices) along it, got "
                                    f"{dim!r}; for the {op}imum over several use a{op}(dim=(...))")
        _, keep = _dim_keep(op, dim, keepdim, None, keepdims)
        indices = self._arg(op, "arg" + op, dim, True)
        values = F.TakeAlongAxis.apply(self, indices=indices.data, axis=int(dim) % max(self.ndim, 1), keepdim=keep)
        return ValuesIndices(values, indices if keep or not self.ndim else indices.squeeze(dim))

    def amax(self, dim: int | Sequence[int] | None = (), keepdim: bool = False) -> Tensor:
        """torch.amax: the maximum over ``dim`` (one or several; all by default); ties share the gradient."""
        _check_bool("amax", keepdim)
        return F.Max.apply(self, axis=_all_if_empty(dim), keepdims=keepdim)

    def amin(self, dim: int | Sequence[int] | None = (), keepdim: bool = False) -> Tensor:
        """torch.amin: the minimum over ``dim`` (all by default); ties share the gradient."""
        _check_bool("amin", keepdim)
        return F.Min.apply(self, axis=_all_if_empty(dim), keepdims=keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None) -> Tensor:
        """torch's ``argmax``: int64 indices of the largest values along ``dim`` (of the flattened tensor when
        ``dim`` is None), the first of ties; NaN counts as the largest."""
        dim, keepdim = _dim_keep("argmax", dim, keepdim, axis, None)
        return self._arg("argmax", "argmax", dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None) -> Tensor:
        """torch's ``argmin``: int64 indices of the smallest values, the first of ties."""
        dim, keepdim = _dim_keep("argmin", dim, keepdim, axis, None)
        return self._arg("argmin", "argmin", dim, keepdim)

    def _arg(self, what: str, fn: str, dim: Any, keepdim: bool) -> Tensor:
        """int64 indices of ``xp.argmax``/``argmin`` (first occurrence, like torch) along ``dim`` or overall."""
        x, xp = self.data, self._backend.xp
        if dim is None:
            if x.size == 0:
                raise ArgumentError(f"{what}() of an empty tensor (shape {self.shape}): there is no element to pick")
            idx = getattr(xp, fn)(x)
            if keepdim:
                idx = idx.reshape((1,) * x.ndim)
        else:
            if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
                raise ArgumentTypeError(f"{what}(dim) takes one dimension, got {dim!r}")
            nd = max(x.ndim, 1)  # a 0-d tensor has dimension 0 (or -1), as in torch
            if not -nd <= dim < nd:
                raise AxisError(f"{what}(): dimension {dim} is out of range for a tensor of shape {self.shape}")
            if x.ndim and x.shape[dim] == 0:
                raise ArgumentError(f"{what}(): dimension {dim} of shape {self.shape} is empty: there is no element "
                                    "to pick")
            idx = getattr(xp, fn)(x.reshape(-1) if x.ndim == 0 else x, axis=int(dim) % nd, keepdims=True)
            if x.ndim == 0:
                idx = idx.reshape(())
            elif not keepdim:
                idx = idx.squeeze(int(dim) % nd)
        return Tensor._make(idx.astype(int64, copy=False), self._backend)

    def var(self, dim: int | Sequence[int] | None = None, unbiased: bool | None = None, keepdim: bool | None = None,
            *, correction: float | None = None, ddof: float | None = None, axis: int | Sequence[int] | None = None,
            keepdims: bool | None = None) -> Tensor:
        """Variance dividing by N - correction: torch's ``var(dim, unbiased, keepdim)`` and ``correction=``,
        NumPy's ``ddof=`` (the same number). 1 (unbiased) by default, like torch; NumPy's default is 0."""
        dim, keepdim = _dim_keep("var", dim, keepdim, axis, keepdims)
        return F.Var.apply(self, axis=dim, ddof=_correction("var", unbiased, correction, ddof), keepdims=keepdim)

    def std(self, dim: int | Sequence[int] | None = None, unbiased: bool | None = None, keepdim: bool | None = None,
            *, correction: float | None = None, ddof: float | None = None, axis: int | Sequence[int] | None = None,
            keepdims: bool | None = None) -> Tensor:
        """Standard deviation dividing by N - correction (1 by default, like torch); arguments as :meth:`var`."""
        dim, keepdim = _dim_keep("std", dim, keepdim, axis, keepdims)
        ddof = _correction("std", unbiased, correction, ddof)
        return F.Var.apply(self, axis=dim, ddof=ddof, keepdims=keepdim).sqrt()

    # ---- shape -----------------------------------------------------------------------
    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        return F.Reshape.apply(self, shape=_varargs(shape))

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """torch's ``flatten``: dimensions ``start_dim`` to ``end_dim`` (all by default) merged into one."""
        nd = max(self.ndim, 1)  # a 0-d tensor flattens to shape (1,), as in torch
        for d in (start_dim, end_dim):
            if not isinstance(d, (int, np.integer)) or isinstance(d, bool) or not -nd <= d < nd:
                raise AxisError(f"flatten(start_dim={start_dim!r}, end_dim={end_dim!r}): out of range for a tensor "
                                f"of shape {self.shape}")
        start, end = start_dim % nd, end_dim % nd
        if start > end:
            raise ArgumentError(f"flatten(): start_dim {start_dim} comes after end_dim {end_dim}")
        shape = self.shape or (1,)
        merged = 1
        for size in shape[start:end + 1]:
            merged *= size
        return self.reshape(shape[:start] + (merged,) + shape[end + 1:])

    def transpose(self, dim0: int | None = None, dim1: int | None = None, *more: int) -> Tensor:
        """torch's ``transpose(dim0, dim1)``: the two dimensions swapped. With no arguments, all the axes
        reversed (what ``.T`` does). To reorder all the axes use :meth:`permute` (NumPy's ``transpose(axes)``)."""
        if dim0 is None and dim1 is None:
            return F.Transpose.apply(self, axes=None)
        if more or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in (dim0, dim1)):
            given = ", ".join(repr(d) for d in (dim0, dim1, *more) if d is not None)
            raise ArgumentTypeError(f"transpose(dim0, dim1) swaps two dimensions (torch's), got transpose({given}); "
                                    "to reorder all the axes use permute(*dims)")
        nd = self.ndim
        for d in (dim0, dim1):
            if not -max(nd, 1) <= d < max(nd, 1):
                raise AxisError(f"transpose(): dimension {d} is out of range for a tensor of shape {self.shape}")
        axes = list(range(nd))
        if nd:
            axes[dim0 % nd], axes[dim1 % nd] = axes[dim1 % nd], axes[dim0 % nd]
        return F.Transpose.apply(self, axes=tuple(axes))

    def permute(self, *dims: int | Sequence[int]) -> Tensor:
        """torch's ``permute(*dims)``: the axes in the order given, ``x.permute(2, 0, 1)`` or
        ``x.permute((2, 0, 1))``."""
        return F.Transpose.apply(self, axes=tuple(_varargs(dims)))

    def t(self) -> Tensor:
        """torch's ``t()``: a 2-D tensor transposed; 0-D and 1-D tensors as they are."""
        if self.ndim > 2:
            raise ShapeError(f"t() expects a tensor with at most 2 dimensions, got shape {self.shape}; use "
                             "transpose(dim0, dim1) or permute(*dims)")
        return self.transpose() if self.ndim == 2 else self

    def expand(self, *sizes: int | Sequence[int]) -> Tensor:
        """torch's ``expand``: size-1 dimensions repeated (a broadcast view, no copy) and new leading
        dimensions added; -1 keeps a dimension's size. The gradient sums over the repeats."""
        sizes = _varargs(sizes)
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise ShapeError(f"expand{tuple(sizes)}: {len(sizes)} sizes for a tensor of shape {self.shape}; give "
                             f"at least {self.ndim}")
        shape = []
        for i, size in enumerate(sizes):
            if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < -1:
                raise ShapeError(f"expand{tuple(sizes)}: sizes are non-negative integers or -1, got {size!r}")
            old = self.shape[i - lead] if i >= lead else None
            if size == -1:
                if old is None:
                    raise ShapeError(f"expand{tuple(sizes)}: -1 (keep the size) in a new leading dimension {i}")
                size = old
            elif old is not None and old != 1 and size != old:
                raise ShapeError(f"expand{tuple(sizes)}: dimension {i - lead} of shape {self.shape} has size {old}; "
                                 "only size-1 dimensions can be expanded")
            shape.append(int(size))
        return F.Expand.apply(self, shape=tuple(shape))

    def unsqueeze(self, dim: int | None = None, *, axis: int | None = None) -> Tensor:
        """torch's ``unsqueeze(dim)``: a size-1 dimension inserted at ``dim`` (NumPy's ``axis=`` also accepted)."""
        dim = _one_of("unsqueeze", "dim", dim, "axis", axis)
        if dim is None:
            raise ArgumentError("unsqueeze() needs the dimension to insert, e.g. unsqueeze(0)")
        nd = self.ndim + 1
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or not -nd <= dim < nd:
            raise AxisError(f"unsqueeze dim {dim!r} out of range for a tensor of shape {self.shape}")
        dim %= nd
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim: int | Sequence[int] | None = None, *, axis: int | Sequence[int] | None = None) -> Tensor:
        """torch's ``squeeze``: size-1 dimensions removed, all of them or those among ``dim`` (an int or a
        tuple); a named dimension whose size is not 1 stays, as in torch."""
        dim = _one_of("squeeze", "dim", dim, "axis", axis)
        if dim is None:
            return self.reshape(tuple(s for s in self.shape if s != 1))
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        nd = max(self.ndim, 1)
        for d in dims:
            if not isinstance(d, (int, np.integer)) or isinstance(d, bool) or not -nd <= d < nd:
                raise AxisError(f"squeeze dim {d!r} out of range for a tensor of shape {self.shape}")
        drop = {int(d) % nd for d in dims if self.ndim and self.shape[int(d) % nd] == 1}
        if not drop:
            return self
        return self.reshape(tuple(s for i, s in enumerate(self.shape) if i not in drop))


class ValuesIndices(NamedTuple):
    """What ``max(dim)`` and ``min(dim)`` return, like torch.return_types.max: the values (differentiable) and
    their int64 indices along the dimension; it unpacks as ``values, indices = x.max(dim=1)``."""

    values: Tensor
    indices: Tensor


def _int_positions(index: tuple) -> set[int]:
    """Where an index tuple holds plain integers (Python or NumPy scalars, not bools)."""
    return {k for k, i in enumerate(index) if isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))}


def _is_array_index(i: Any) -> bool:
    """An advanced (integer or bool array) index: a list, or an array with dimensions."""
    return isinstance(i, list) or (getattr(i, "ndim", 0) > 0 and not isinstance(i, (str, bytes)))


def _dims_used(i: Any) -> int:
    """How many of the indexed tensor's dimensions one index entry consumes (a k-d bool mask: k; None: 0)."""
    if i is None:
        return 0
    dtype = getattr(i, "dtype", None)
    if dtype is not None and np.dtype(dtype) == np.bool_:
        return max(i.ndim, 1)
    return 1


def _scalar_dims(t: Tensor, dim: Any) -> Any:
    """torch lets a 0-d tensor be reduced over dim 0 or -1 (it counts as one dimension there): every dim of a 0-d
    tensor in {0, -1} means all of it; others stay, for the reduction to reject."""
    if t.ndim == 0 and dim is not None:
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        if dims and all(isinstance(d, (int, np.integer)) and d in (0, -1) for d in dims):
            return None
    return dim


def _axes_of(ndim: int, dim: Any, op: str) -> tuple[int, ...] | None:
    """``dim`` (None, one or several) as NumPy axes, checked; a 0-d tensor takes 0 and -1 as torch does."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    n = max(ndim, 1)
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not -n <= d < n:
            raise AxisError(f"{op}(): dim {d!r} is out of range for a tensor with {ndim} dimensions")
    return None if ndim == 0 else tuple(sorted({int(d) % ndim for d in dims}))


def _check_bool(op: str, value: Any, name: str = "keepdim") -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{op}(): {name} is a bool, got {type(value).__name__} {value!r}")


def _all_if_empty(dim: Any) -> Any:
    """torch.amax's dims: an empty tuple or list means every dimension."""
    return None if isinstance(dim, (tuple, list)) and not dim else dim


def _one_of(op: str, name: str, value: Any, alias: str, alias_value: Any) -> Any:
    """``value`` or ``alias_value``: one argument under torch's name and NumPy's; giving both is an error."""
    if alias_value is None:
        return value
    if value is not None:
        raise ArgumentError(f"{op}() got both {name}={value!r} and {alias}={alias_value!r}: the same argument under "
                            f"torch's and NumPy's names; pass one")
    return alias_value


def _dim_keep(op: str, dim: Any, keepdim: Any, axis: Any, keepdims: Any) -> tuple[Any, bool]:
    """The reduction's (dims, keepdim) from torch's and NumPy's names for them."""
    if axis is None and isinstance(dim, (tuple, list)) and not dim:
        raise ArgumentError(f"{op}(dim={dim!r}) is ambiguous: torch reduces every dimension, NumPy none; pass "
                            "dim=None for all of them (or axis=() for none)")
    dim = _one_of(op, "dim", dim, "axis", axis)
    keepdim = _one_of(op, "keepdim", keepdim, "keepdims", keepdims)
    if keepdim is None:
        return dim, False
    _check_bool(op, keepdim)
    return dim, bool(keepdim)


def _correction(op: str, unbiased: Any, correction: Any, ddof: Any) -> float:
    """The divisor's offset (N - correction) from torch's ``unbiased``/``correction`` or NumPy's ``ddof``."""
    given = [(n, v) for n, v in (("unbiased", unbiased), ("correction", correction), ("ddof", ddof)) if v is not None]
    if len(given) > 1:
        named = " and ".join(f"{n}={v!r}" for n, v in given)
        raise ArgumentError(f"{op}() got {named}: each sets the divisor N - correction; pass one")
    if not given:
        return 1
    name, value = given[0]
    if name == "unbiased":
        if not isinstance(value, (bool, np.bool_)):
            raise ArgumentTypeError(f"{op}(): unbiased (torch's second positional argument) is a bool, got "
                                    f"{value!r}; pass a number as correction= (or ddof=)")
        return int(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"{op}(): {name} is a number (the divisor is N - {name}), got {value!r}")
    return value


_make = Tensor._make
_SEEDS: dict[tuple[Backend, np.dtype], Any] = {}


def _seed(backend: Backend, data: Any) -> Any:
    """The gradient 1 that backward() starts from for a 0-d output: one read-only array per device and dtype
    (no op writes into a gradient it is given, and no leaf adopts it: backward copies it first)."""
    if data.ndim:
        return backend.xp.ones(data.shape, dtype=data.dtype)
    key = (backend, data.dtype)
    one = _SEEDS.get(key)
    if one is None:
        one = _SEEDS[key] = backend.xp.ones((), dtype=data.dtype)
        if backend.xp is np:
            one.flags.writeable = False
    return one


def _backward_node(fn: Any, g: Any, adopt: bool, given: set[int]) -> list[tuple[Tensor, Any]]:
    """Run one node's backward with its output's complete gradient ``g``. Leaves get their share in
    ``.grad``; returns (input, gradient) for each input that is not a leaf."""
    if fn.saved is _FREED:
        raise GraphError("trying to backward through the graph a second time: its saved arrays were "
                         "freed by the first backward(); pass retain_graph=True to the first call")
    in_grads = fn.backward(g)
    parents = fn.parents
    if adopt:
        fn.saved, fn.parents = _FREED, ()
    inner = []
    for p, pg in zip(parents, in_grads):
        if pg is None or not p.requires_grad:
            continue
        if p._ctx is not None:
            inner.append((p, pg))
            continue
        if pg.shape != p.data.shape:  # a leaf's .grad is what users see: check what it gets
            raise RuntimeError(f"internal error: {type(fn).__name__}.backward gave a gradient of shape "
                               f"{pg.shape} for an input of shape {p.shape}")
        i = id(pg)
        if p.grad is None and pg.dtype is p.data.dtype and adopt and pg.base is None and i not in given:
            # an array made by this backward for this leaf alone becomes its gradient as is
            p.grad = _make(pg, p._backend)
        else:
            p._accumulate(pg)
        given.add(i)
    return inner


def _backward_graph(starts: list[tuple[Tensor, Any]], adopt: bool, given: set[int]) -> None:
    """Backward through any graph from (tensor, gradient) pairs: nodes in reverse topological order,
    each input's gradients summed over its uses before its own node runs."""
    grads: dict[int, Any] = {}
    for t, g in starts:
        prev = grads.get(id(t))
        grads[id(t)] = g if prev is None else prev + g
    for t in reversed(_toposort([t for t, _ in starts])):
        g = grads.pop(id(t), None)
        if g is None:
            continue
        for p, pg in _backward_node(t._ctx, g, adopt, given):
            k = id(p)
            prev = grads.get(k)
            grads[k] = pg if prev is None else prev + pg


def _toposort(roots: list[Tensor]) -> list[Tensor]:
    """Non-leaf tensors reachable from ``roots``, inputs before outputs (iterative DFS, no recursion)."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False) for root in reversed(roots)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        for p in t._ctx.parents:
            if p._ctx is not None and id(p) not in visited:
                stack.append((p, False))
    return order


# ---- constructors ----------------------------------------------------------------------
_rng = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the global generator used by randn/rand and layer initialisation; returns it."""
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def default_generator() -> np.random.Generator:
    return _rng


def _varargs(values: tuple) -> tuple:
    """f(2, 3) and f((2, 3)) alike, as torch's shape and axes arguments are."""
    if len(values) == 1 and isinstance(values[0], (tuple, list)):
        return tuple(values[0])
    return values


def _shape(shape: tuple) -> Shape:
    shape = _varargs(shape)
    if not all(isinstance(s, (int, np.integer)) and s >= 0 for s in shape):
        raise ShapeError(f"shape must be non-negative integers, got {shape}")
    return tuple(int(s) for s in shape)


def _from_numpy(arr: np.ndarray, device: str, requires_grad: bool) -> Tensor:
    backend = get_backend(device)
    return Tensor._make(backend.asarray(arr, arr.dtype), backend, requires_grad and arr.dtype.kind == "f")


def zeros(*shape: int | Sequence[int], dtype: Any = None, device: str = "cpu", requires_grad: bool = False) -> Tensor:
    return full(_shape(shape), 0, dtype=_as_dtype(dtype) or DEFAULT_DTYPE, device=device, requires_grad=requires_grad)


def ones(*shape: int | Sequence[int], dtype: Any = None, device: str = "cpu", requires_grad: bool = False) -> Tensor:
    return full(_shape(shape), 1, dtype=_as_dtype(dtype) or DEFAULT_DTYPE, device=device, requires_grad=requires_grad)


def full(shape: Sequence[int] | int, value: float, dtype: Any = None, device: str = "cpu",
         requires_grad: bool = False) -> Tensor:
    """torch.full: without ``dtype`` the fill value decides it, as in torch (a bool fills a bool tensor, an int
    an int64 one, a float the default float32)."""
    shape = _shape((shape,) if isinstance(shape, int) else tuple(shape))
    backend = get_backend(device)
    dt = _as_dtype(dtype)
    if dt is None:
        dt = (np.dtype(np.bool_) if isinstance(value, (bool, np.bool_)) else
              np.dtype(np.int64) if isinstance(value, (int, np.integer)) else DEFAULT_DTYPE)
    if requires_grad and dt.kind != "f":
        raise DTypeError(f"only floating-point tensors can require gradients, got dtype {dt} (from the fill value "
                         f"{value!r}: pass a float, or dtype='float32')")
    if dt.kind == "f" and isinstance(value, (float, np.floating)) and np.isfinite(value):
        with np.errstate(over="ignore"):
            narrowed = np.asarray(value).astype(dt)
        if np.isinf(narrowed):  # the same rule as Tensor(): a finite value never becomes inf
            raise ArgumentError(f"full: the value {float(value):.4g} overflows {dt} (its largest is "
                                f"{float(np.finfo(dt).max):.4g}); pass dtype='float64', or a smaller value")
    data = backend.xp.full(shape, value, dtype=dt)
    return Tensor._make(data, backend, requires_grad)


def zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return zeros(t.shape, dtype=t.dtype, device=t.device, requires_grad=requires_grad)


def ones_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return ones(t.shape, dtype=t.dtype, device=t.device, requires_grad=requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None,
           device: str = "cpu") -> Tensor:
    """Like numpy.arange; float32 if any argument is a float, else int64."""
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        is_float = any(isinstance(v, float) for v in (start, stop, step))
        dtype = DEFAULT_DTYPE if is_float else int64
    return _from_numpy(np.arange(start, stop, step, dtype=_as_dtype(dtype)), device, False)


def randn(*shape: int | Sequence[int], dtype: Any = None, device: str = "cpu", requires_grad: bool = False,
          generator: np.random.Generator | None = None) -> Tensor:
    """Standard normal samples from the seeded generator (drawn on the CPU, so every device gets the same)."""
    gen = generator or _rng
    arr = gen.standard_normal(_shape(shape)).astype(_as_dtype(dtype) or DEFAULT_DTYPE)
    return _from_numpy(arr, device, requires_grad)


def rand(*shape: int | Sequence[int], dtype: Any = None, device: str = "cpu", requires_grad: bool = False,
         generator: np.random.Generator | None = None) -> Tensor:
    """Uniform samples in [0, 1) from the seeded generator."""
    gen = generator or _rng
    arr = gen.random(_shape(shape)).astype(_as_dtype(dtype) or DEFAULT_DTYPE)
    return _from_numpy(arr, device, requires_grad)


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None, device: str | None = None) -> Tensor:
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def check_compatible(tensors: Iterable[Tensor | None], what: str) -> list[Tensor]:
    """The tensors (None skipped), checked to be Tensors of one device and one dtype: the one place ops
    that take several tensors without promoting them check it."""
    ts = [t for t in tensors if t is not None]
    try:  # the common case in one pass over attributes (a loop: a generator costs a microsecond here)
        be, dt = ts[0]._backend, ts[0].data.dtype
        for t in ts:
            if type(t) is not Tensor or t._backend is not be or t.data.dtype is not dt:
                break
        else:
            return ts
    except (AttributeError, IndexError):
        pass
    if not ts:
        raise ArgumentError(f"{what}() needs at least one tensor")
    first = ts[0]
    for t in ts:
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(f"{what}() takes Tensors, got {type(t).__name__}; wrap arrays with tn.Tensor(x)")
        if t._backend is not first._backend:
            raise DeviceError(f"{what}(): tensors on different devices: {first.device} and {t.device}; move one "
                              "with .to(device)")
        if t.dtype != first.dtype:
            raise DTypeError(f"{what}(): dtype mismatch: {first.dtype} and {t.dtype}; convert one with .astype()")
    return ts


def concatenate(tensors: Sequence[Tensor], dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """torch.cat / numpy.concatenate: the tensors joined along ``dim`` (NumPy's ``axis=``), 0 by default."""
    dim = _one_of("cat", "dim", dim, "axis", axis)
    ts = check_compatible(tensors, "concatenate")
    return F.Concatenate.apply(*ts, axis=0 if dim is None else dim)


cat = concatenate


def stack(tensors: Sequence[Tensor], dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """torch.stack / numpy.stack: the tensors joined along a new dimension ``dim`` (NumPy's ``axis=``), 0 by default."""
    dim = _one_of("stack", "dim", dim, "axis", axis)
    dim = 0 if dim is None else dim
    ts = check_compatible(tensors, "stack")
    nd = ts[0].ndim + 1
    if not -nd <= dim < nd:
        raise AxisError(f"stack dim {dim} out of range for tensors of shape {ts[0].shape}")
    return concatenate([t.unsqueeze(dim % nd) for t in ts], dim % nd)


def _operands(op: str, a: Any, b: Any, device: str | None = None) -> tuple[Tensor, Tensor]:
    """(a, b) as tensors promoted as the operators promote them, either of them allowed to be a scalar or
    an array; two scalars become tensors on ``device`` (float ones float32)."""
    if isinstance(a, Tensor):
        return a._binary(b)
    if isinstance(b, Tensor):
        tb, ta = b._binary(a)
        return ta, tb
    try:
        ta = Tensor(a, device=device)
    except DTypeError as e:
        raise ArgumentTypeError(f"{op}() takes Tensors or numbers, got {type(a).__name__} {a!r}") from e
    return ta._binary(b)


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """torch.matmul: ``input @ other``, NumPy's rules for 1-D operands and broadcast batch dimensions."""
    a, b = _operands("matmul", input, other)
    return a @ b


def pow(input: Tensor | float, exponent: Tensor | float) -> Tensor:
    """torch.pow: ``input ** exponent``, either a Tensor (or both), broadcast, differentiable in both. The
    gradients follow torch at 0: d/dx is 0 where the exponent is 0, d/dy is 0 where x == 0 and y >= 0."""
    if isinstance(input, Tensor):
        return input.__pow__(exponent)
    if isinstance(exponent, Tensor):
        return exponent.__rpow__(input)
    raise ArgumentTypeError(f"pow() needs a Tensor base or exponent, got {type(input).__name__} and "
                            f"{type(exponent).__name__}; use Python's ** for numbers")


def maximum(input: Tensor, other: Tensor | float) -> Tensor:
    """torch.maximum: the elementwise maximum, broadcast; ties split the gradient in half, as in torch."""
    a, b = _operands("maximum", input, other)
    return F.Maximum.apply(a, b)


def minimum(input: Tensor, other: Tensor | float) -> Tensor:
    """torch.minimum: the elementwise minimum, broadcast; ties split the gradient in half, as in torch."""
    a, b = _operands("minimum", input, other)
    return F.Minimum.apply(a, b)


def where(condition: Tensor | Any, input: Tensor | float, other: Tensor | float) -> Tensor:
    """torch.where: ``input`` where ``condition`` is True, else ``other``, the three broadcast together.
    ``condition`` is a bool Tensor or array; ``input``/``other`` Tensors or scalars, promoted as ``+`` does.
    Differentiable in ``input`` and ``other`` (each gets the gradient where it was chosen)."""
    device = condition.device if isinstance(condition, Tensor) else None
    a, b = _operands("where", input, other, device)
    if isinstance(condition, Tensor):
        if condition._backend is not a._backend:
            raise DeviceError(f"where(): the condition is on {condition.device}, the values on {a.device}; move one "
                              "with .to(device)")
        cond = condition.data
    else:
        try:
            cond = a._backend.asarray(condition)
        except (ValueError, TypeError) as e:
            raise ArgumentTypeError(f"where(): cannot use {type(condition).__name__} as a condition: {e}") from e
    if cond.dtype != bool_:
        raise DTypeError(f"where(): the condition must be bool, got {cond.dtype}; compare first, e.g. where(x > 0, "
                         "...)")
    return F.Where.apply(a, b, condition=cond)


def from_numpy(array: np.ndarray) -> Tensor:
    """torch.from_numpy: a CPU tensor sharing ``array``'s memory (writes to one show in the other) and keeping
    its dtype: float64 stays float64, unlike ``Tensor(array)``, which makes float32 by design."""
    if not isinstance(array, np.ndarray):
        raise ArgumentTypeError(f"from_numpy() takes a NumPy array, got {type(array).__name__}; use tn.Tensor(data) "
                                "for other data")
    if isinstance(array, np.ma.MaskedArray):
        raise ArgumentTypeError("from_numpy(): a masked array's mask cannot be kept; fill it first with "
                                "array.filled(value)")
    if array.dtype.kind not in "biuf":
        raise DTypeError(f"from_numpy(): dtype {array.dtype} is not numeric; a tensor holds bool, integer or "
                         "floating-point values (convert with array.astype('float32'))")
    if not array.dtype.isnative:
        raise DTypeError(f"from_numpy(): the array's byte order ({array.dtype.str}) is not this machine's; convert it "
                         "with array.astype(array.dtype.newbyteorder('='))")
    return Tensor._make(np.asarray(array), get_backend("cpu"))


from . import function as F  # noqa: E402  (function.py needs Tensor defined)

# bound once: the hottest ops skip two lookups
_add, _sub, _mul, _matmul = F.Add.apply, F.Sub.apply, F.Mul.apply, F.MatMul.apply
