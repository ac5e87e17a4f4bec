"""diagnose's report and messages stay readable on wide tables and long names: a few items named, the rest
counted (a 200,000-column constant table once gave a 1.7 MB warning, a 10 MB column name 20 MB of output)."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_norm as tn
from tinygrad_norm import cli


def test_a_wide_constant_table_gives_a_short_report():
    d = tn.diagnose(np.ones((2, 200_000)))
    assert len(d.constant) == 200_000 and len(d.features) == 200_000  # the data keeps them all
    assert all(len(w) < 300 for w in d.warnings), [len(w) for w in d.warnings]
    assert "200,000 constant feature(s) x0, x1" in d.warnings[0] and "199,995 more" in d.warnings[0]
    text = str(d)
    assert len(text) < 5000 and "... and 199,960 more features" in text


def test_nan_in_every_column_gives_a_short_error():
    x = np.full((3, 100_000), np.nan)
    with pytest.raises(tn.ArgumentError) as e:
        tn.diagnose(x)
    assert len(str(e.value)) < 400 and "300,000 NaN/inf values" in str(e.value) and "99,995 more" in str(e.value)


def test_a_huge_column_name_is_cut(tmp_path, capsys):
    path = tmp_path / "bigname.csv"
    name = "n" * 1_000_000
    path.write_text(f"a,{name}\n1,2\n3,2000\n5,7\n")
    assert cli.main(["diagnose", "--data", str(path)]) == 0
    out = capsys.readouterr().out
    assert len(out) < 5000 and "nnn..." in out and "WARNING: features differ in scale" in out
