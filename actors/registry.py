"""Get-or-create for the named, detached actors (a killed actor is recreated on next use)."""

from __future__ import annotations

from typing import Any

import ray
from ray.actor import ActorClass, ActorHandle

from core.settings import Settings


def get_or_create(cls: ActorClass, name: str, settings: Settings, **options: Any) -> ActorHandle:
    """The actor named ``name`` in the settings' namespace, started if absent."""
    return cls.options(
        name=name,
        namespace=settings.ray.namespace,
        lifetime="detached",
        get_if_exists=True,
        **options,
    ).remote(settings.to_overrides())


def winner_memory(settings: Settings) -> ActorHandle:
    from actors.winner_memory import NAME, WinnerMemory

    return get_or_create(WinnerMemory, NAME, settings)


def job_consumer(settings: Settings) -> ActorHandle:
    from actors.job_consumer import NAME, JobConsumer

    return get_or_create(JobConsumer, NAME, settings)


def kill(name: str, settings: Settings) -> bool:
    """Stop a named actor for good (``adcluster down``); False when it was not running."""
    try:
        ray.kill(ray.get_actor(name, namespace=settings.ray.namespace), no_restart=True)
        return True
    except ValueError:
        return False
