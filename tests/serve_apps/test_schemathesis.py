"""Schemathesis against the running gateway's OpenAPI: no 5xx, every response in schema.

Bounded: ``ADC_SCHEMATHESIS_EXAMPLES`` examples per operation (default 15). Heavy (a
minute or more on 2 cores): run in CI's separate step, ``pytest -m heavy``. Requests are
made with a key of their own tenant (``fuzz``), so what they write stays out of other
tenants' data. Operations that start long background work (training, the self-learning
cycle) are left out: fuzzing them would launch Ray Tune runs, not test the HTTP layer.
"""

from __future__ import annotations

import os
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from core.db.engine import Database
from core.db.keys import create_key
from core.settings import Settings
from serve_apps.gateway.app import build_app
from serve_apps.gateway.services import Services
from tests.support.ctr_models import register_ctr_model

EXAMPLES = int(os.environ.get("ADC_SCHEMATHESIS_EXAMPLES", "15"))
EXCLUDED_PATHS = r"^/api/ml/(train|self-learning-cycle)"
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
]


def _static_schema():  # type: ignore[no-untyped-def]
    """The gateway's OpenAPI document, built in-process (what the replicas serve)."""
    settings = Settings.load(data_dir=tempfile.mkdtemp(prefix="adc-openapi-"))
    app = build_app(Services(settings=settings, db=Database(settings.db_url)))
    return schemathesis.openapi.from_dict(app.openapi()).exclude(path_regex=EXCLUDED_PATHS)


SCHEMA = _static_schema()
OPERATIONS = {op.ok().label: op.ok() for op in SCHEMA.get_all_operations()}
# Negative cases (invalid input, expecting 4xx) only where an operation takes input.
CASES = [
    (label, mode)
    for label, op in sorted(OPERATIONS.items())
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE
    or op.definition.raw.get("parameters")
    or op.definition.raw.get("requestBody")
]


@pytest.fixture(scope="session")
def fuzz_key(gateway_url: str, app_settings: Settings) -> str:
    """A key of tenant ``fuzz``, which has a CTR champion (so predict/ctr serves, not 503)."""
    register_ctr_model(app_settings, "fuzz", rounds=5)
    db = Database(app_settings.db_url)
    try:
        return create_key(db, tenant_id="fuzz", name="schemathesis", rate_limit_per_min=0)
    finally:
        db.dispose()


@pytest.mark.heavy
@pytest.mark.ray
@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{lb}-{m.value}" for lb, m in CASES])
def test_no_server_errors_and_responses_match_schema(
    label: str, mode: GenerationMode, gateway_url: str, fuzz_key: str
) -> None:
    headers = {"Authorization": f"Bearer {fuzz_key}"}

    @given(case=OPERATIONS[label].as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case) -> None:  # type: ignore[no-untyped-def]
        case.call_and_validate(base_url=gateway_url, headers=headers, checks=CHECKS, timeout=60)

    check()
