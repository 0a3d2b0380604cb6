"""``adcluster models list/show/promote/rollback`` against a migrated SQLite database."""

from __future__ import annotations

import json
from collections.abc import Callable

from typer.testing import CliRunner

from cluster.cli import app
from core.db.engine import Database
from core.ml import registry
from core.ml.config import training_config
from core.ml.dataset import build_table, time_split
from core.ml.model import fit, task_data
from core.settings import Settings
from tests.support.ctr_models import PARAMS
from training.synthetic import synthetic_ads

runner = CliRunner()


def cli(url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["models", *args, "--database-url", url])
    return result.exit_code, result.stdout, result.stderr


def test_list_show_promote_rollback(make_settings: Callable[..., Settings], monkeypatch) -> None:
    settings = make_settings("sqlite")
    monkeypatch.setenv("ADCLUSTER_DATA_DIR", str(settings.data_path))
    cfg = training_config()
    split = time_split(
        build_table(synthetic_ads(300, seed=2), cfg.features, min_impressions=1), cfg.dataset
    )
    train, test = (task_data("ctr", t, cfg.features) for t in (split.train, split.test))
    db = Database(settings.db_url)
    for rounds in (30, 3):  # the second (weaker) one is kept, not promoted
        registry.evaluate_and_register(
            db,
            settings,
            cfg,
            tenant_id="default",
            kind="ctr",
            model=fit(train, PARAMS, rounds=rounds, features=cfg.features),
            holdout=test,
            dataset_version=None,
            run_id=None,
        )
    url = settings.db_url
    code, out, err = cli(url, "list", "--json")
    assert code == 0, err
    listed = [json.loads(line) for line in out.splitlines()]
    assert [v["version"] for v in listed] == ["ctr-0002", "ctr-0001"]
    code, out, _ = cli(url, "promote", "ctr-0002")
    assert code == 0 and "ctr-0002" in out
    code, out, _ = cli(url, "show", "ctr-0002")
    shown = json.loads(out)
    assert shown["status"] == "champion" and shown["decisions"][0]["action"] == "manual"
    code, out, _ = cli(url, "rollback", "--kind", "ctr")
    assert code == 0 and "ctr-0001" in out
    assert registry.champion(db, tenant_id="default", kind="ctr")["version"] == "ctr-0001"
    code, _, err = cli(url, "promote", "ctr-0099")
    assert code == 1 and "no ctr model 'ctr-0099'" in err
    code, _, err = cli(url, "show", "nope-1")
    assert code == 2 and "unknown kind" in err
    db.dispose()
