"""The database trigger and the Python winner rule agree, on SQLite and on PostgreSQL."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from core.db.engine import Database
from core.db.models import Ad, PendingJob, PerformanceMetric, utcnow
from core.domain.winner import WinnerRule, derive_ctr, is_winner
from core.settings import Settings

RULE = WinnerRule(min_hours_live=24.0, min_impressions=1000, min_ctr=0.03, min_roas=3.0)
RATES = st.floats(0, 6) | st.just(math.inf)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def rule_db(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings]
) -> Iterator[Database]:
    db = Database(make_settings(request.param).db_url)
    yield db
    db.dispose()


def _queued_for(db: Database, *, hours: float, impressions: int, clicks: int, roas: float) -> bool:
    """Store one metrics row of tenant t1's ad ``p``; True when the trigger queued a job.

    Tenant t2 also has an ad ``p``, launched long ago: the trigger must use t1's launch time.
    """
    now = utcnow()
    with db.session() as s:
        s.execute(delete(PendingJob))
        s.execute(delete(PerformanceMetric))
        s.execute(delete(Ad))
        s.add(Ad(tenant_id="t1", ad_id="p", launched_at=now - timedelta(hours=hours)))
        s.add(Ad(tenant_id="t2", ad_id="p", launched_at=now - timedelta(days=365)))
    with db.session() as s:
        s.add(
            PerformanceMetric(
                tenant_id="t1",
                ad_id="p",
                impressions=impressions,
                clicks=clicks,
                ctr=derive_ctr(impressions, clicks),
                roas=roas,
                observed_at=now,
            )
        )
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(PendingJob)) == 1


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    hours=st.floats(0, 100),
    impressions=st.integers(0, 5000),
    click_share=st.floats(0, 0.1),
    roas=RATES,
    nan_roas=st.booleans(),
)
def test_trigger_agrees_with_python_rule(
    rule_db: Database,
    hours: float,
    impressions: int,
    click_share: float,
    roas: float,
    nan_roas: bool,
) -> None:
    if abs(hours - RULE.min_hours_live) < 1e-3:  # clock resolution between the two checks
        hours += 0.01
    if nan_roas and rule_db.is_postgres:  # SQLite stores NaN as NULL (refused: NOT NULL)
        roas = math.nan
    clicks = int(impressions * click_share)
    ctr = derive_ctr(impressions, clicks)
    queued = _queued_for(rule_db, hours=hours, impressions=impressions, clicks=clicks, roas=roas)
    expected = is_winner(hours_live=hours, impressions=impressions, ctr=ctr, roas=roas, rule=RULE)
    assert queued is expected
