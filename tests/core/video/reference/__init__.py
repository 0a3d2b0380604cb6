"""Frozen copies of the numpy (RGB, frame by frame) operations as they were before the move to
libavfilter graphs: the reference the rewritten operations are compared with (PSNR ≥ 35 dB).
Not imported by runtime code; do not edit except to keep them importable."""
