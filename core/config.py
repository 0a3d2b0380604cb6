"""The one loader of every file under ``configs/``: YAML, then the environment, then a strict
pydantic model.

- Values are written once, in the YAML file. Config models declare types and bounds, not
  defaults (``tests/core/test_config.py`` checks every shipped file against its model).
- Unknown or misspelt keys fail with the file (or environment variable) and the key named.
- One environment rule for every file: ``ADCLUSTER_<FILE>__<KEY>[__<SUBKEY>...]=<value>``
  overrides ``<file>.yaml`` (``ADCLUSTER_SAMPLER__DEFAULTS__METRIC=cvr``); ``settings.yaml``
  is the root file, so its keys go without the file part (``ADCLUSTER_WINNER__MIN_CTR=0.025``,
  ``ADCLUSTER_DATA_DIR=/srv/adc``). Values are read as YAML scalars (``null``, ``true``,
  ``0.5``, ``[1, 2]``). ``DATABASE_URL`` is an alias of ``ADCLUSTER_DATABASE_URL``.
- ``ADCLUSTER_CONFIG_DIR`` points at another folder of config files (a copy of ``configs/``).
"""

from __future__ import annotations

import datetime as dt
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "ADCLUSTER_"
ROOT_FILE = "settings.yaml"
# Environment variables of adcluster that are not config overrides.
RESERVED_ENV = frozenset({"ADCLUSTER_CONFIG_DIR"})
# Conventional names accepted for a root key (name -> dotted key).
ENV_ALIASES = {"DATABASE_URL": "database_url"}

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A config file or override is missing, malformed, or does not fit its model."""


class ConfigModel(BaseModel):
    """Base of adcluster's config models: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def config_dir() -> Path:
    """Folder holding the YAML configs (``ADCLUSTER_CONFIG_DIR`` or the repo's ``configs/``)."""
    return Path(os.environ.get("ADCLUSTER_CONFIG_DIR", REPO_ROOT / "configs"))


def config_path(filename: str) -> Path:
    return config_dir() / filename


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path`` (errors name the file)."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _env_value(raw: str) -> Any:
    """An environment value read as a YAML scalar or flow collection (dates stay text)."""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    return raw if isinstance(value, dt.date | dt.datetime) else value


def _file_key(filename: str) -> str:
    return Path(filename).stem.upper()


def env_overrides(
    filename: str, environ: Mapping[str, str] | None = None, *, others: frozenset[str] = frozenset()
) -> dict[str, tuple[str, Any]]:
    """Dotted key -> (variable, value) of the overrides of ``filename`` in ``environ``.

    ``others``: upper-case stems of the other config files (their variables are theirs, not
    root keys of ``settings.yaml``).
    """
    environ = os.environ if environ is None else environ
    found: dict[str, tuple[str, Any]] = {}
    root = filename == ROOT_FILE
    prefix = ENV_PREFIX if root else f"{ENV_PREFIX}{_file_key(filename)}__"
    for var, raw in environ.items():
        if root and var in ENV_ALIASES:
            found.setdefault(ENV_ALIASES[var], (var, _env_value(raw)))
            continue
        if not var.startswith(prefix) or var in RESERVED_ENV:
            continue
        rest = var[len(prefix) :]
        if root and rest.split("__", 1)[0] in others and "__" in rest:
            continue
        found[".".join(p.lower() for p in rest.split("__"))] = (var, _env_value(raw))
    return found


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[leaf] = value


def deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in (nested mappings merge, anything else replaces)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models inside a field's annotation (``X``, ``X | None``, ``list[X]``...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is None:
        return []
    args = typing.get_args(annotation)
    if origin in (dict, Mapping) and len(args) == 2:
        return _models_in(args[1])
    if origin is typing.Annotated:
        return _models_in(args[0])
    if origin in (list, tuple, set, frozenset, typing.Union, types.UnionType):
        return [m for a in args for m in _models_in(a)]
    return []


def unknown_keys(data: Any, model: type[BaseModel], where: str = "") -> list[str]:
    """Dotted paths in ``data`` that ``model`` (recursively) does not declare.

    Pydantic forbids extras only where a model says so; this holds any model to it (Ray's
    Serve schema included, which ignores unknown keys for forward compatibility).
    """
    if not isinstance(data, Mapping):
        return []
    names: dict[str, Any] = {}
    for name, f in model.model_fields.items():
        names[name] = f.annotation
        if f.alias:
            names[f.alias] = f.annotation
    if model.model_config.get("extra") == "allow":
        return []
    found: list[str] = []
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            found.append(path)
            continue
        annotation = names[key]
        origin = typing.get_origin(annotation)
        for sub in _models_in(annotation):
            if isinstance(value, Mapping) and origin in (dict, Mapping):
                for k, v in value.items():
                    found += unknown_keys(v, sub, f"{path}.{k}")
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    found += unknown_keys(item, sub, f"{path}[{i}]")
            else:
                found += unknown_keys(value, sub, path)
    return sorted(set(found))


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()
    )


def _validate(model: type[M], data: dict[str, Any], source: str) -> M:
    extra = unknown_keys(data, model)
    if extra:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(repr(k) for k in extra)}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None


def load_config(
    filename: str,
    model: type[M],
    *,
    path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> M:
    """``configs/<filename>`` (or ``path``) with environment overrides, as ``model``.

    ``overrides``: a nested mapping merged last (programmatic callers, tests).
    """
    path = path or config_path(filename)
    data = read_yaml(path)
    extra = unknown_keys(data, model)
    if extra:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(repr(k) for k in extra)}")
    others = frozenset(_file_key(p.name) for p in path.parent.glob("*.yaml")) - {"SETTINGS"}
    for dotted, (var, value) in sorted(env_overrides(filename, environ, others=others).items()):
        candidate: dict[str, Any] = {}
        _set(candidate, dotted, value)
        bad = unknown_keys(candidate, model)
        if bad:
            raise ConfigError(f"environment variable {var}: {path.name} has no key {dotted!r}")
        data = deep_merge(data, candidate)
    if overrides:
        data = deep_merge(data, overrides)
    return _validate(model, data, str(path))


def model_defaults(model: type[BaseModel], where: str = "") -> list[str]:
    """Dotted fields of ``model`` (recursively) that declare a default value.

    Config models hold none: each value is written once, in its YAML file. (A ``None``
    default, meaning "derived when absent", is no value and is allowed.)
    """
    found: list[str] = []
    for name, f in model.model_fields.items():
        path = f"{where}.{name}" if where else name
        if not f.is_required() and f.default is not None:
            found.append(path)
        for sub in _models_in(f.annotation):
            found += model_defaults(sub, path)
    return found
