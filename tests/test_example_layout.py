"""The regression example's files import one way, like Burn's: dataset, then model, then training and
inference, neither of which imports the other; and the example uses only the public API."""

from __future__ import annotations

import ast

from conftest import REPO

EXAMPLE = REPO / "tinygrad_norm" / "examples" / "simple_regression"
ALLOWED = {"dataset": set(), "model": {"dataset"}, "training": {"dataset", "model"},
           "inference": {"dataset", "model"}}


def _imports(name: str) -> tuple[set[str], set[str]]:
    """(sibling modules imported, absolute tinygrad_norm modules imported) anywhere in the file."""
    siblings, absolute = set(), set()
    for node in ast.walk(ast.parse((EXAMPLE / f"{name}.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            siblings.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.startswith("tinygrad_norm"):
            absolute.add(node.module)
        elif isinstance(node, ast.Import):
            absolute |= {a.name for a in node.names if a.name.startswith("tinygrad_norm")}
    return siblings, absolute


def test_training_and_inference_do_not_import_each_other():
    for name, allowed in ALLOWED.items():
        siblings, _ = _imports(name)
        assert siblings <= allowed, (name, siblings - allowed)


def test_the_example_uses_only_the_public_api():
    for name in ALLOWED:
        _, absolute = _imports(name)
        private = [m for m in absolute if any(part.startswith("_") for part in m.split("."))]
        assert not private, (name, private)  # tn, tn.nn, tn.datasets, tn.errors: public modules only
