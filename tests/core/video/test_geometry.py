"""Properties of the crop and letterbox geometry."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from core.video.ops.resize import place_filters
from core.video.ops.smart_crop import crop_size
from core.video.pipeline import filter_image

ASPECTS = st.sampled_from([9 / 16, 1.0, 4 / 5, 16 / 9])


@given(w=st.integers(32, 4096), h=st.integers(32, 4096), aspect=ASPECTS)
def test_crop_is_even_inside_and_of_the_aspect(w, h, aspect):
    cw, ch = crop_size(w, h, aspect)
    assert cw % 2 == 0 and ch % 2 == 0 and 0 < cw <= w and 0 < ch <= h
    assert abs(cw / ch - aspect) <= 2.5 / min(cw, ch) * max(aspect, 1)
    assert cw >= w - 2 or ch >= h - 2  # as large as the frame allows


@settings(max_examples=30, deadline=None)
@given(
    w=st.integers(8, 200),
    h=st.integers(8, 200),
    tw=st.integers(4, 60).map(lambda v: 2 * v),
    th=st.integers(4, 60).map(lambda v: 2 * v),
    mode=st.sampled_from(["fit", "fill", "stretch"]),
)
def test_place_always_fills_the_target(w, h, tw, th, mode):
    filters = place_filters((w, h), tw, th, mode, (0, 0, 0))
    out = filter_image(np.full((h, w, 3), 200, np.uint8), filters)
    assert out.shape == (th, tw, 3)
    if mode != "fit":
        assert out.min() > 150  # no padding when filling or stretching
