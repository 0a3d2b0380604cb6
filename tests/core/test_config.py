"""The one config loader: every file under configs/, strict models, one override rule."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import BaseModel

from core.config import (
    REPO_ROOT,
    ConfigError,
    ConfigModel,
    env_overrides,
    load_config,
    model_defaults,
)


def shipped_models() -> dict[str, type[BaseModel]]:
    """Each file under configs/ and the model that reads it."""
    from ray.serve.schema import ServeDeploySchema

    from actors.catalogue import Catalogue
    from cluster.demo.config import DemoConfig
    from core.domain.pipeline import PipelinesFile
    from core.domain.roas import RoasFile
    from core.domain.safety import SafetyConfig
    from core.domain.sampler import SamplerConfig
    from core.execution.config import ExecutorConfig
    from core.learning.analytics_config import LearningAnalyticsConfig
    from core.learning.config import LearningConfig
    from core.learning.ope_data import OpeConfig
    from core.learning.policy import AllocationConfig
    from core.ml.config import TrainingConfig
    from core.platforms.config import PlatformsConfig
    from core.settings import Settings
    from core.video.config import VideoConfig

    return {
        "settings.yaml": Settings,
        "actors.yaml": Catalogue,
        "roas.yaml": RoasFile,
        "sampler.yaml": SamplerConfig,
        "pipelines.yaml": PipelinesFile,
        "video.yaml": VideoConfig,
        "training.yaml": TrainingConfig,
        "serve.yaml": ServeDeploySchema,
        "safety.yaml": SafetyConfig,
        "platforms.yaml": PlatformsConfig,
        "executor.yaml": ExecutorConfig,
        "learning.yaml": LearningConfig,
        "learning_analytics.yaml": LearningAnalyticsConfig,
        "allocation.yaml": AllocationConfig,
        "ope.yaml": OpeConfig,
        "demo.yaml": DemoConfig,
    }


def test_every_config_file_has_a_model_and_loads() -> None:
    models = shipped_models()
    files = {p.name for p in (REPO_ROOT / "configs").glob("*.yaml")}
    assert files == set(models), "a file under configs/ without a model, or the reverse"
    for name, model in models.items():
        assert isinstance(load_config(name, model), model)


@pytest.mark.parametrize("name", sorted(set(shipped_models()) - {"serve.yaml"}))
def test_values_are_written_once_in_yaml(name: str) -> None:
    """Our config models declare no defaults: the YAML file is the one place of each value."""
    assert model_defaults(shipped_models()[name]) == []


@pytest.mark.parametrize("name", sorted(shipped_models()))
def test_a_misspelt_key_fails_naming_file_and_key(tmp_path: Path, name: str) -> None:
    shutil.copytree(REPO_ROOT / "configs", tmp_path, dirs_exist_ok=True)
    path = tmp_path / name
    path.write_text(path.read_text() + "\nno_such_key: 1\n")
    with pytest.raises(ConfigError, match=rf"{name}: unknown key\(s\) 'no_such_key'"):
        load_config(name, shipped_models()[name], path=path)


class Inner(ConfigModel):
    size: int
    ratio: float | None


class Outer(ConfigModel):
    name: str
    inner: Inner
    tags: list[str]


@pytest.fixture
def outer_file(tmp_path: Path) -> Path:
    path = tmp_path / "outer.yaml"
    path.write_text("name: a\ninner: {size: 1, ratio: 0.5}\ntags: [x]\n")
    return path


def test_one_override_rule_for_every_file(outer_file: Path) -> None:
    env = {
        "ADCLUSTER_OUTER__INNER__SIZE": "7",
        "ADCLUSTER_OUTER__INNER__RATIO": "null",
        "ADCLUSTER_OUTER__TAGS": "[p, q]",
        "ADCLUSTER_OTHER__NAME": "not mine",
    }
    cfg = load_config("outer.yaml", Outer, path=outer_file, environ=env)
    assert cfg == Outer(name="a", inner=Inner(size=7, ratio=None), tags=["p", "q"])


def test_root_file_keys_go_without_the_file_part() -> None:
    env = {
        "ADCLUSTER_WINNER__MIN_CTR": "0.02",
        "ADCLUSTER_SAMPLER__SEED": "3",  # sampler.yaml's, not settings'
        "ADCLUSTER_CONFIG_DIR": "/x",  # not an override
        "DATABASE_URL": "postgresql://h/db",
    }
    found = env_overrides("settings.yaml", env, others=frozenset({"SAMPLER"}))
    assert found == {
        "winner.min_ctr": ("ADCLUSTER_WINNER__MIN_CTR", 0.02),
        "database_url": ("DATABASE_URL", "postgresql://h/db"),
    }
    assert env_overrides("sampler.yaml", env) == {"seed": ("ADCLUSTER_SAMPLER__SEED", 3)}


@pytest.mark.parametrize(
    ("text", "env", "match"),
    [
        ("name: a\ninner: {size: 1, ratio: 0.5}\ntags: []\nextra: 1\n", {}, r"key.*'extra'"),
        ("name: a\ninner: {size: 1, ratio: 0.5, sise: 2}\ntags: []\n", {}, r"'inner\.sise'"),
        ("name: a\ninner: {size: 1}\ntags: []\n", {}, r"inner\.ratio: Field required"),
        ("name: a\ninner: {size: x, ratio: 1}\ntags: []\n", {}, r"inner\.size: Input should be"),
        ("- a list\n", {}, "expected a mapping"),
        ("name: [unclosed\n", {}, "not valid YAML"),
        (
            "name: a\ninner: {size: 1, ratio: 0.5}\ntags: []\n",
            {"ADCLUSTER_OUTER__INNER__SISE": "2"},
            r"ADCLUSTER_OUTER__INNER__SISE: outer\.yaml has no key 'inner\.sise'",
        ),
    ],
)
def test_bad_config_is_a_clear_error(
    tmp_path: Path, text: str, env: dict[str, str], match: str
) -> None:
    path = tmp_path / "outer.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config("outer.yaml", Outer, path=path, environ=env)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found: .*nothere.yaml"):
        load_config("nothere.yaml", Outer, path=tmp_path / "nothere.yaml")
