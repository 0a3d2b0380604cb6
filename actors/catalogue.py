"""The actor catalogue: every named actor, declared once in ``configs/actors.yaml``.

Code refers to an actor by its role (``"winner_memory"``); the catalogue knows its Ray name,
class, namespace and options. ``get`` returns the running actor or starts it (a handle that
found its actor dead calls it again to recreate it); ``lookup`` never starts anything (for
probes); ``kill`` stops one for good. Every actor class takes the settings dict as its first
argument and answers ``ping()``.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Any, Literal

import ray
from pydantic import Field
from ray.actor import ActorHandle

from actors.priority import lower_priority
from core.config import ConfigModel, load_config
from core.settings import Settings


class ActorSpec(ConfigModel):
    """One named actor (see the comments in ``configs/actors.yaml``)."""

    name: str = Field(min_length=1, max_length=128)
    class_path: str = Field(alias="class", pattern=r"^[\w.]+:\w+$")
    namespace: str | None
    lifetime: Literal["detached", "non_detached"]
    max_restarts: int = Field(ge=-1)
    max_task_retries: int = Field(ge=-1)
    max_concurrency: int = Field(ge=1)
    num_cpus: float = Field(ge=0)
    num_gpus: float = Field(ge=0)
    resources: dict[str, float]
    niceness: int = Field(ge=0, le=19)

    def namespace_for(self, settings: Settings) -> str:
        return self.namespace or settings.ray.namespace

    def options(self, settings: Settings) -> dict[str, Any]:
        """``ActorClass.options(...)`` for this actor."""
        return {
            "name": self.name,
            "namespace": self.namespace_for(settings),
            "lifetime": "detached" if self.lifetime == "detached" else None,
            "get_if_exists": True,
            "max_restarts": self.max_restarts,
            "max_task_retries": self.max_task_retries,
            "max_concurrency": self.max_concurrency,
            "num_cpus": self.num_cpus,
            "num_gpus": self.num_gpus,
            "resources": dict(self.resources),
        }


class Catalogue(ConfigModel):
    actors: dict[str, ActorSpec]

    def spec(self, role: str) -> ActorSpec:
        try:
            return self.actors[role]
        except KeyError:
            known = ", ".join(sorted(self.actors))
            raise KeyError(f"no actor {role!r} in the catalogue (known: {known})") from None


@lru_cache(maxsize=1)
def load() -> Catalogue:
    """``configs/actors.yaml`` (read once per process)."""
    return load_config("actors.yaml", Catalogue)


def roles(catalogue: Catalogue | None = None) -> list[str]:
    return list((catalogue or load()).actors)


def get(
    role: str, settings: Settings, *, catalogue: Catalogue | None = None, **init: Any
) -> ActorHandle:
    """The running actor of ``role``, started from its declaration if absent.

    ``init``: extra constructor keywords, used only when this call starts it.
    """
    spec = (catalogue or load()).spec(role)
    remote = _remote_class(spec.class_path, spec.niceness)
    return remote.options(**spec.options(settings)).remote(settings.to_overrides(), **init)


@lru_cache(maxsize=64)
def _remote_class(class_path: str, niceness: int = 0) -> Any:
    module, _, attr = class_path.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if niceness:
        cls = _niced(cls, niceness)
    return ray.remote(cls)


def _niced(cls: type, niceness: int) -> type:
    """``cls`` whose process lowers its CPU priority before ``__init__`` runs (again after
    every restart, and before the actor starts threads of its own, which inherit it)."""
    original = cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        lower_priority(niceness)
        original(self, *args, **kwargs)

    return type(cls.__name__, (cls,), {"__init__": __init__, "__doc__": cls.__doc__})


def lookup(
    role: str, settings: Settings, *, catalogue: Catalogue | None = None
) -> ActorHandle | None:
    """The running actor of ``role``, or None: never starts one (probes have no side effects)."""
    spec = (catalogue or load()).spec(role)
    try:
        return ray.get_actor(spec.name, namespace=spec.namespace_for(settings))
    except ValueError:
        return None


def kill(role: str, settings: Settings, *, catalogue: Catalogue | None = None) -> bool:
    """Stop the actor of ``role`` for good; False when it was not running."""
    handle = lookup(role, settings, catalogue=catalogue)
    if handle is None:
        return False
    ray.kill(handle, no_restart=True)
    return True


def start_all(settings: Settings, *, catalogue: Catalogue | None = None) -> list[str]:
    """Start every catalogue actor and wait until each answers ``ping``; returns the names."""
    catalogue = catalogue or load()
    handles = {role: get(role, settings, catalogue=catalogue) for role in catalogue.actors}
    ray.get([h.ping.remote() for h in handles.values()])
    return [catalogue.spec(role).name for role in handles]
