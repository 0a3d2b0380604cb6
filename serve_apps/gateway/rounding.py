"""Numbers in answers, rounded as SPEC §2 says: money to cents, probabilities and rates to
4 decimals, ROAS to 2. Use these types on response models; the rounding happens once, when
the model is built."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _rounder(digits: int):  # type: ignore[no-untyped-def]
    def round_to(value: float) -> float:
        return round(value, digits)

    return AfterValidator(round_to)


Money = Annotated[float, _rounder(2)]
Rate = Annotated[float, _rounder(4)]
Roas = Annotated[float, _rounder(2)]
