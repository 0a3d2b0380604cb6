"""Keyframe interpolation: easing curves and per-frame states (pure, no FFmpeg)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.video.keyframes import EASINGS, Keyframe, ease, piecewise_expr, runs, sample


@pytest.mark.parametrize("name", EASINGS)
def test_easing_endpoints_are_exact(name):
    assert ease(name, 0.0) == 0.0
    assert ease(name, 1.0) == 1.0
    assert ease(name, -0.5) == 0.0 and ease(name, 1.5) == 1.0  # clipped


@pytest.mark.parametrize("name", EASINGS)
def test_easings_are_monotone(name):
    u = np.linspace(0, 1, 2001)
    assert np.all(np.diff(ease(name, u)) >= -1e-12)


@given(x1=st.floats(0, 1), y1=st.floats(0, 1), x2=st.floats(0, 1), y2=st.floats(0, 1))
def test_any_bezier_with_control_points_in_the_unit_square_is_monotone(x1, y1, x2, y2):
    v = ease((x1, y1, x2, y2), np.linspace(0, 1, 257))
    assert v[0] == 0.0 and v[-1] == 1.0
    assert np.all(np.diff(v) >= -1e-9)


def test_curves_have_their_shape():
    assert ease("ease_in", 0.5) < 0.5 < ease("ease_out", 0.5)
    assert ease("ease_in_out", 0.5) == pytest.approx(0.5)
    assert ease("ease_in_out", 0.25) < 0.25 and ease("ease_in_out", 0.75) > 0.75
    assert ease("linear", 0.3) == pytest.approx(0.3)
    assert ease("hold", 0.99) == 0.0
    assert ease((0.42, 0.0, 0.58, 1.0), 0.5) == pytest.approx(0.5, abs=1e-6)  # symmetric


def test_keyed_frames_hold_the_keyed_values_exactly():
    keys = [
        Keyframe(0.5, 10, 20, scale=1.0, opacity=0.0, easing="ease_in_out"),
        Keyframe(1.0, 110, 70, scale=2.0, opacity=1.0, easing="ease"),
        Keyframe(1.75, 40, 30, scale=0.5, opacity=0.25),
    ]
    tr = sample(keys, 60, fps=20)
    for k, i in zip(keys, (10, 20, 35), strict=True):
        assert (tr.x[i], tr.y[i], tr.scale[i], tr.opacity[i]) == (k.x, k.y, k.scale, k.opacity)
    assert np.all(tr.x[:10] == 10) and np.all(tr.x[35:] == 40)  # held outside the keys
    assert np.all(np.diff(tr.x[10:21]) > 0) and np.all(np.diff(tr.x[20:36]) < 0)


def test_single_keyframe_is_a_still_layer():
    tr = sample([Keyframe(0.0, 5, 6, 1.5, 0.5)], 4, fps=10)
    assert tr.x.tolist() == [5] * 4 and tr.scale.tolist() == [1.5] * 4


@pytest.mark.parametrize(
    "keys, message",
    [
        ([], "at least one"),
        ([Keyframe(1, 0, 0), Keyframe(1, 1, 1)], "increase"),
        ([Keyframe(0, 0, 0, scale=0)], "scale"),
        ([Keyframe(0, 0, 0, opacity=1.5)], "opacity"),
        ([Keyframe(0, 0, 0, easing="bounce")], "unknown easing"),
    ],
)
def test_bad_tracks_are_refused(keys, message):
    with pytest.raises(ValueError, match=message):
        sample(keys, 10, fps=10)


def _eval(expr: str, t: float) -> float:
    """A tiny evaluator of the if/lt expressions piecewise_expr writes (FFmpeg's syntax)."""
    py = expr.replace("if(", "_if(").replace("lt(", "_lt(")
    return eval(py, {"_if": lambda c, a, b: a if c else b, "_lt": lambda a, b: a < b, "t": t})


def test_piecewise_expression_matches_every_frame():
    values = np.array([3, 3, 3, 4, 8, 8, 9, 1, 1, 1, 1, 2], dtype=float)
    assert runs(values) == [(0, 3), (3, 4), (4, 8), (6, 9), (7, 1), (11, 2)]
    expr = piecewise_expr(values, fps=25)
    assert [_eval(expr, i / 25) for i in range(len(values))] == values.tolist()
    assert _eval(expr, 100.0) == 2  # holds past the end
    assert piecewise_expr(np.array([7.0]), fps=25) == "7"
