"""The losses (module and functional forms) against torch: forward values and the gradients of input and target, for
every reduction, float32 and float64; their argument checks; one fused graph node each."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tinygrad_norm as tn
import tinygrad_norm.nn.functional as F
from tinygrad_norm import nn
from tinygrad_norm.nn import ops

from helpers import check_op

DTYPES = [pytest.param(np.float64, id="f64"), pytest.param(np.float32, id="f32")]
REDUCTIONS = ["mean", "sum", "none"]


def _t(a, like):
    """A constant numpy array as a tensor of ``like``'s kind: ours for a tn.Tensor, torch's for a torch one."""
    if isinstance(like, tn.Tensor):
        return tn.Tensor(a, dtype=like.dtype if a.dtype.kind == "f" else None, device=like.device)
    return torch.tensor(a, dtype=like.dtype if a.dtype.kind == "f" else None)


W4 = np.array([0.5, 2.0, 1.0, 0.25])
POS4 = np.array([3.0, 0.5, 1.0, 2.0])

# (id, ours(reduction) -> fn, torch(reduction) -> fn, input shapes, check_op kwargs)
REGRESSION = [
    ("l1", lambda r: lambda x, y: F.l1_loss(x, y, r), lambda r: lambda x, y: TF.l1_loss(x, y, reduction=r)),
    ("L1Loss", lambda r: lambda x, y: nn.L1Loss(r)(x, y), lambda r: lambda x, y: torch.nn.L1Loss(reduction=r)(x, y)),
    ("huber", lambda r: lambda x, y: F.huber_loss(x, y, r), lambda r: lambda x, y: TF.huber_loss(x, y, r)),
    ("huber_0.4", lambda r: lambda x, y: F.huber_loss(x, y, r, delta=0.4),
     lambda r: lambda x, y: TF.huber_loss(x, y, r, delta=0.4)),
    ("HuberLoss_2", lambda r: lambda x, y: nn.HuberLoss(r, delta=2.0)(x, y),
     lambda r: lambda x, y: torch.nn.HuberLoss(r, delta=2.0)(x, y)),
    ("smooth_l1", lambda r: lambda x, y: F.smooth_l1_loss(x, y, r),
     lambda r: lambda x, y: TF.smooth_l1_loss(x, y, reduction=r)),
    ("smooth_l1_0.3", lambda r: lambda x, y: F.smooth_l1_loss(x, y, r, beta=0.3),
     lambda r: lambda x, y: TF.smooth_l1_loss(x, y, reduction=r, beta=0.3)),
    ("smooth_l1_beta0", lambda r: lambda x, y: F.smooth_l1_loss(x, y, r, beta=0.0),
     lambda r: lambda x, y: TF.smooth_l1_loss(x, y, reduction=r, beta=0.0)),
    ("SmoothL1Loss", lambda r: lambda x, y: nn.SmoothL1Loss(r, beta=0.5)(x, y),
     lambda r: lambda x, y: torch.nn.SmoothL1Loss(reduction=r, beta=0.5)(x, y)),
    ("bce_logits", lambda r: lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction=r),
     lambda r: lambda x, y: TF.binary_cross_entropy_with_logits(x, y, reduction=r)),
    ("bce_logits_weight", lambda r: lambda x, y: F.binary_cross_entropy_with_logits(x, y, _t(W4, x), reduction=r),
     lambda r: lambda x, y: TF.binary_cross_entropy_with_logits(x, y, _t(W4, x), reduction=r)),
    ("bce_logits_pos_weight",
     lambda r: lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction=r, pos_weight=_t(POS4, x)),
     lambda r: lambda x, y: TF.binary_cross_entropy_with_logits(x, y, reduction=r, pos_weight=_t(POS4, x))),
    ("BCEWithLogitsLoss_both", lambda r: lambda x, y: nn.BCEWithLogitsLoss(_t(W4, x), reduction=r,
                                                                           pos_weight=_t(POS4, x))(x, y),
     lambda r: lambda x, y: torch.nn.BCEWithLogitsLoss(_t(W4, x), reduction=r, pos_weight=_t(POS4, x))(x, y)),
    ("cross_entropy_probs", lambda r: lambda x, y: F.cross_entropy(x, y, reduction=r),
     lambda r: lambda x, y: TF.cross_entropy(x, y, reduction=r)),
    ("cross_entropy_probs_weight_smooth",
     lambda r: lambda x, y: F.cross_entropy(x, y, _t(W4, x), reduction=r, label_smoothing=0.2),
     lambda r: lambda x, y: TF.cross_entropy(x, y, _t(W4, x), reduction=r, label_smoothing=0.2)),
    ("CrossEntropyLoss_probs", lambda r: lambda x, y: nn.CrossEntropyLoss(_t(W4, x), reduction=r)(x, y),
     lambda r: lambda x, y: torch.nn.CrossEntropyLoss(_t(W4, x), reduction=r)(x, y)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,ours,theirs", REGRESSION, ids=[c[0] for c in REGRESSION])
def test_two_input_loss_matches_torch(name, ours, theirs, reduction, dtype, device):
    """Input and target both get gradients (torch gives one for each of these losses). BCE and probability
    targets are drawn in [0, 1]; the logits too, then scaled up to cover both tails."""
    if name.startswith(("bce", "BCE", "cross", "Cross")):
        def scaled(fn):
            return lambda x, y: fn(x * 8 - 4, y)
        check_op(scaled(ours(reduction)), scaled(theirs(reduction)), [(6, 4), (6, 4)], low=0.0, high=1.0,
                 dtype=dtype, device=device)
    else:
        check_op(ours(reduction), theirs(reduction), [(6, 4), (6, 4)], dtype=dtype, device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_cross_entropy_class_indices_match_torch(weighted, label_smoothing, reduction, dtype, device):
    target = np.array([0, 3, -100, 1, 2, 3, 3])  # one ignored
    w = W4 if weighted else None

    def ours(x):
        return F.cross_entropy(x, tn.Tensor(target, device=device), None if w is None else _t(w, x),
                               reduction=reduction, label_smoothing=label_smoothing)

    def theirs(x):
        return TF.cross_entropy(x, torch.tensor(target), None if w is None else _t(w, x), reduction=reduction,
                                label_smoothing=label_smoothing)

    check_op(ours, theirs, [(7, 4)], dtype=dtype, device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_module_spatial_and_unbatched_inputs(reduction, dtype, device):
    rng = np.random.default_rng(5)
    target = rng.integers(0, 3, (2, 4, 5))
    target[0, 0, 0] = 7  # the module's ignore_index
    loss = nn.CrossEntropyLoss(ignore_index=7, reduction=reduction, label_smoothing=0.1)
    ref = torch.nn.CrossEntropyLoss(ignore_index=7, reduction=reduction, label_smoothing=0.1)
    check_op(lambda x: loss(x, tn.Tensor(target, device=device)), lambda x: ref(x, torch.tensor(target)),
             [(2, 3, 4, 5)], dtype=dtype, device=device)
    # a 1-D input is one sample of C logits, its target a 0-d index
    check_op(lambda x: loss(x, tn.Tensor(np.array(2), device=device)), lambda x: ref(x, torch.tensor(2)),
             [(3,)], dtype=dtype, device=device)


def test_cross_entropy_is_stable_for_huge_logits():
    x = np.array([[1e4, 0.0, -1e4], [-3e4, 2e4, 2e4]])
    t = np.array([1, 2])
    ours = tn.Tensor(x, dtype="float64", requires_grad=True)
    out = F.cross_entropy(ours, tn.Tensor(t))
    ref = torch.tensor(x, requires_grad=True)
    expected = TF.cross_entropy(ref, torch.tensor(t))
    expected.backward()
    out.backward()
    assert np.isfinite(out.item())
    np.testing.assert_allclose(out.item(), expected.item(), rtol=1e-12)
    np.testing.assert_allclose(ours.grad.numpy(), ref.grad.numpy(), atol=1e-12)


def test_bce_with_logits_is_stable_for_huge_logits():
    x = np.array([[-800.0, 800.0], [50.0, -50.0]], np.float32)
    y = np.array([[1.0, 0.0], [0.5, 1.0]], np.float32)
    ours = tn.Tensor(x, requires_grad=True)
    out = F.binary_cross_entropy_with_logits(ours, tn.Tensor(y), pos_weight=tn.Tensor([2.0, 3.0]))
    ref = torch.tensor(x, requires_grad=True)
    expected = TF.binary_cross_entropy_with_logits(ref, torch.tensor(y), pos_weight=torch.tensor([2.0, 3.0]))
    out.backward()
    expected.backward()
    np.testing.assert_allclose(out.item(), expected.item(), rtol=1e-6)
    np.testing.assert_allclose(ours.grad.numpy(), ref.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_cross_entropy_all_targets_ignored_is_nan_as_in_torch():
    x = tn.randn(3, 4, requires_grad=True)
    out = F.cross_entropy(x, tn.Tensor(np.full(3, -100)))
    expected = TF.cross_entropy(torch.from_numpy(x.numpy()), torch.full((3,), -100))
    assert np.isnan(out.item()) and np.isnan(expected.item())
    assert F.cross_entropy(x, tn.Tensor(np.full(3, -100)), reduction="sum").item() == 0.0


@pytest.mark.parametrize("fn", [
    lambda x, y: F.l1_loss(x, y), lambda x, y: F.huber_loss(x, y), lambda x, y: F.smooth_l1_loss(x, y),
    lambda x, y: F.binary_cross_entropy_with_logits(x, y), lambda x, y: F.cross_entropy(x, y)])
def test_each_loss_is_one_graph_node(fn):
    x = tn.randn(5, 3, requires_grad=True)
    y = tn.rand(5, 3, requires_grad=True)
    out = fn(x, y)
    assert out._ctx.parents == (x, y)  # one node straight on the inputs: its own analytic backward


def test_loss_module_state_dict_holds_weights_like_torch():
    w, pw = tn.Tensor([1.0, 2.0, 3.0]), tn.Tensor([0.5, 1.0, 4.0])
    assert list(nn.CrossEntropyLoss(w).state_dict()) == list(torch.nn.CrossEntropyLoss(torch.ones(3)).state_dict())
    ours = nn.BCEWithLogitsLoss(w, pos_weight=pw).state_dict()
    theirs = torch.nn.BCEWithLogitsLoss(torch.ones(3), pos_weight=torch.ones(3)).state_dict()
    assert list(ours) == list(theirs)
    np.testing.assert_array_equal(ours["pos_weight"].numpy(), pw.numpy())
    assert list(nn.L1Loss().state_dict()) == []
    assert nn.CrossEntropyLoss().weight is None


def test_loss_reprs():
    assert repr(nn.L1Loss()) == "L1Loss {reduction: mean}"
    assert repr(nn.HuberLoss("sum", 0.5)) == "HuberLoss {reduction: sum, delta: 0.5}"
    assert repr(nn.SmoothL1Loss(beta=2)) == "SmoothL1Loss {reduction: mean, beta: 2.0}"
    assert repr(nn.CrossEntropyLoss(label_smoothing=0.1)) == ("CrossEntropyLoss {reduction: mean, ignore_index: "
                                                               "-100, label_smoothing: 0.1}")


# ---- argument errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [F.l1_loss, F.huber_loss, F.smooth_l1_loss])
def test_regression_losses_refuse_mismatched_shapes_and_bad_reduction(fn):
    pred, target = tn.randn(8, 1), tn.randn(8)
    with pytest.raises(tn.ShapeError, match=r"\(8, 1\) differs from target shape \(8,\).*broadcasting"):
        fn(pred, target)
    with pytest.raises(tn.ArgumentError, match="reduction must be one of"):
        fn(pred, pred, reduction="avg")
    with pytest.raises(tn.DTypeError, match="dtype mismatch"):
        fn(pred, pred.double())
    with pytest.raises(tn.DTypeError, match="floating-point"):
        fn(tn.Tensor([1, 2]), tn.Tensor([1, 2]))
    np.testing.assert_allclose(fn(pred, target.numpy().reshape(8, 1)).item(), fn(pred, target.reshape(8, 1)).item())


@pytest.mark.parametrize("make", [nn.L1Loss, nn.HuberLoss, nn.SmoothL1Loss,
                                  lambda reduction: nn.BCEWithLogitsLoss(reduction=reduction),
                                  lambda reduction: nn.CrossEntropyLoss(reduction=reduction)])
def test_loss_modules_check_reduction_when_made(make):
    with pytest.raises(tn.ArgumentError, match="reduction must be one of"):
        make(reduction="elementwise_mean")


def test_loss_parameter_errors():
    x = tn.randn(4, 3)
    with pytest.raises(tn.ArgumentError, match="delta > 0"):
        nn.HuberLoss(delta=0)
    with pytest.raises(tn.ArgumentError, match="delta > 0"):
        F.huber_loss(x, x, delta=-1.0)
    with pytest.raises(tn.ArgumentError, match="beta >= 0"):
        nn.SmoothL1Loss(beta=-0.5)
    with pytest.raises(tn.ArgumentError, match="label_smoothing must be between"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(tn.ShapeError, match="must be the same as input size"):
        F.binary_cross_entropy_with_logits(x, tn.rand(4, 1))
    with pytest.raises(tn.ShapeError, match="pos_weight of shape \\(4,\\) does not broadcast"):
        F.binary_cross_entropy_with_logits(x, tn.rand(4, 3), pos_weight=tn.ones(4))
    with pytest.raises(tn.GraphError, match="not differentiable with respect to weight"):
        F.binary_cross_entropy_with_logits(x, tn.rand(4, 3), tn.ones(3, requires_grad=True))
    with pytest.raises(tn.GraphError, match="not differentiable with respect to weight"):
        nn.CrossEntropyLoss(tn.ones(3, requires_grad=True))


def test_cross_entropy_target_errors():
    x = tn.randn(4, 3)
    with pytest.raises(tn.ArgumentError, match=r"2 target\(s\) are not a class index 0..2.*: -1, 5"):
        F.cross_entropy(x, tn.Tensor([0, 5, -1, 2]))
    with pytest.raises(tn.ShapeError, match=r"need shape \(4,\).*got \(4, 1\)"):
        F.cross_entropy(x, tn.Tensor([[0], [1], [2], [0]]))
    with pytest.raises(tn.ShapeError, match="class probabilities and need the input's shape"):
        F.cross_entropy(x, tn.rand(4))
    with pytest.raises(tn.DTypeError, match="class indices .* or class probabilities"):
        F.cross_entropy(x, tn.Tensor([True, False, True, True]))
    with pytest.raises(tn.ArgumentError, match="ignore_index applies to class-index targets"):
        F.cross_entropy(x, tn.rand(4, 3), ignore_index=0)
    with pytest.raises(tn.ShapeError, match=r"weight has shape \(4,\), expected \(3,\)"):
        F.cross_entropy(x, tn.Tensor([0, 1, 2, 0]), tn.ones(4))
    with pytest.raises(tn.ShapeError, match="0-d"):
        F.cross_entropy(tn.Tensor(1.0), tn.Tensor(0))
    # integer targets of any width work (torch takes int64 and uint8 only), lists too
    ref = F.cross_entropy(x, tn.Tensor(np.array([0, 1, 2, 0])))
    for t in (np.array([0, 1, 2, 0], np.int32), np.array([0, 1, 2, 0], np.uint8), [0, 1, 2, 0]):
        assert F.cross_entropy(x, t).item() == ref.item()


def test_loss_ops_are_the_functions_nodes():
    x, y = tn.randn(3, 2, requires_grad=True), tn.randn(3, 2)
    assert isinstance(F.huber_loss(x, y)._ctx, ops.HuberLoss)
    assert isinstance(F.cross_entropy(x, tn.Tensor([0, 1, 1]))._ctx, ops.CrossEntropyIndex)
    assert isinstance(F.cross_entropy(x, F.softmax(y, 1))._ctx, ops.CrossEntropyProb)


def test_a_classifier_trains_to_torchs_trajectory():
    """Ten SGD steps of a small classifier with CrossEntropyLoss (weights, label smoothing), from the same
    initial weights: the losses and final weights match torch's."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 5))
    t = rng.integers(0, 3, 32)
    tn.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.GELU(), nn.Dropout(0.0), nn.Linear(16, 3)).double()
    ref = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.GELU(), torch.nn.Dropout(0.0),
                              torch.nn.Linear(16, 3)).double()
    ref.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    w = np.array([1.0, 2.0, 0.5])
    loss_fn = nn.CrossEntropyLoss(tn.Tensor(w, dtype="float64"), label_smoothing=0.1)
    ref_loss = torch.nn.CrossEntropyLoss(torch.tensor(w), label_smoothing=0.1)
    opt = tn.optim.SGD(model.parameters(), lr=0.5)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.5)
    for _ in range(10):
        opt.zero_grad()
        loss = loss_fn(model(tn.Tensor(x, dtype="float64")), tn.Tensor(t))
        loss.backward()
        opt.step()
        ref_opt.zero_grad()
        expected = ref_loss(ref(torch.from_numpy(x)), torch.from_numpy(t))
        expected.backward()
        ref_opt.step()
        np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-10)
    for (name, p), (_, q) in zip(model.named_parameters(), ref.named_parameters()):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
