"""What a gateway replica shares between requests: settings, database, actor handles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ray.actor import ActorHandle
from ray.exceptions import ActorDiedError

from core.db.engine import Database
from core.db.group_commit import GroupCommitter
from core.settings import Settings

if TYPE_CHECKING:
    from serve_apps.gateway.feedback_writer import FeedbackNotifier
    from serve_apps.gateway.prediction_log import PredictionLogClient


class ActorRef:
    """A lazily created named actor; a dead handle is replaced once and the call retried."""

    def __init__(self, factory: Callable[[], ActorHandle]) -> None:
        self._factory = factory
        self._handle: ActorHandle | None = None

    @property
    def handle(self) -> ActorHandle:
        if self._handle is None:
            self._handle = self._factory()
        return self._handle

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``await`` ``handle.method.remote(*args, **kwargs)``, surviving one actor death."""
        try:
            return await getattr(self.handle, method).remote(*args, **kwargs)
        except ActorDiedError:
            self._handle = None
            return await getattr(self.handle, method).remote(*args, **kwargs)

    def tell(self, method: str, *args: Any, **kwargs: Any) -> None:
        """Fire and forget (the state it feeds is rebuilt from the database on restart).

        A call that finds the actor dead for good drops the handle, so the next call
        recreates the actor (never from the callback itself: it runs on Ray's I/O thread).
        """
        handle = self.handle
        ref = getattr(handle, method).remote(*args, **kwargs)
        ref.future().add_done_callback(lambda fut: self._revive_if_dead(handle, fut))

    def _revive_if_dead(self, handle: ActorHandle, fut: Any) -> None:
        if isinstance(fut.exception(), ActorDiedError) and self._handle is handle:
            self._handle = None

    def forget_if_dead(self, exc: BaseException | None) -> None:
        """After a failed call: drop the handle if its actor died, so the next use recreates it
        (call from the event loop)."""
        if isinstance(exc, ActorDiedError):
            self._handle = None


@dataclass
class Services:
    settings: Settings
    db: Database
    actors: dict[str, ActorRef] = field(default_factory=dict)
    prediction_log: PredictionLogClient | None = None
    log_predictions: bool = True  # the Gateway's user_config can switch it off without restart
    extras: dict[str, Any] = field(default_factory=dict)
    _feedback_writer: GroupCommitter | None = field(default=None, init=False, repr=False)
    _feedback_notifier: FeedbackNotifier | None = field(default=None, init=False, repr=False)

    @property
    def feedback_writer(self) -> GroupCommitter:
        """The replica's group-commit writer of per-row feedback (made on first use)."""
        if self._feedback_writer is None:
            from serve_apps.gateway.feedback_writer import build_feedback_writer

            self._feedback_writer = build_feedback_writer(self)
        return self._feedback_writer

    @property
    def feedback_notifier(self) -> FeedbackNotifier:
        """Coalesced sampler and job-consumer notifications of committed feedback."""
        if self._feedback_notifier is None:
            from serve_apps.gateway.feedback_writer import FeedbackNotifier

            self._feedback_notifier = FeedbackNotifier(self, self.settings.api.feedback_notify_s)
        return self._feedback_notifier

    def actor(self, name: str) -> ActorRef:
        return self.actors[name]

    @property
    def winner_memory(self) -> ActorRef:
        return self.actors["winner_memory"]

    @property
    def sampler(self) -> ActorRef:
        return self.actors["thompson_sampler"]
