"""The daemon's side of real-time triggers (``docs/realtime.md``): each push or hybrid feed's
webhook is registered with its service at start and after a reload, retried while that
fails, and removed when the feed goes away.

The URL is ``RECIPE_RUNNER_PUBLIC_URL`` + ``/dataverse/<feed token>``; the WebhookKey is
derived from this installation's key (``runner.tokens.crypto.derived_secret``), so it is the
same after a restart and on every replica sharing the key, and never stored anywhere.
"""

from __future__ import annotations

from typing import Any

from connectors.base import ConnectorError, PushFeed
from runner.engine.engine import Engine
from runner.engine.feeds import Feed
from runner.settings import Settings
from runner.tokens.crypto import derived_secret, key_file_for

RETRY_EVERY_S = 60.0


def push_url(settings: Settings, feed: Feed) -> str | None:
    if not settings.public_url:
        return None
    return f"{settings.public_url.rstrip('/')}/dataverse/{feed.token}"


async def register_push_feeds(engine: Engine, settings: Settings, log: Any, *,
                              again: bool = False) -> None:
    """Register every push feed not registered yet (``again``: every one, as after a reload
    that may have changed the columns its members need); a failure is logged and tried
    again at the next call (the daemon calls every ``RETRY_EVERY_S``)."""
    for feed in engine.push_feeds():
        if feed.push_key is not None and not again:
            continue
        url = push_url(settings, feed)
        if url is None:
            log.error("feed.push_unavailable", feed=feed.id, recipes=sorted(feed.members),
                      reason="RECIPE_RUNNER_PUBLIC_URL is not set, so the service cannot reach "
                             "this daemon" + ("; the poll goes on" if feed.mode == "hybrid"
                                               else "; no change reaches these recipes"))
            continue
        key = derived_secret(key_file_for(settings.state_url), f"webhook:{feed.id}")
        try:
            await feed.register_push(url, key)
        except ConnectorError as exc:
            log.warning("feed.push_registration_failed", feed=feed.id, error=exc.message,
                        retry_in_s=RETRY_EVERY_S)


async def unregister_gone(before: dict[str, Feed], engine: Engine, log: Any) -> None:
    """Remove the webhooks of push feeds that no recipe uses any more."""
    for feed_id, feed in before.items():
        if feed_id in engine.feeds or not isinstance(feed.feed, PushFeed):
            continue
        try:
            removed = await feed.feed.unregister_push(feed.connection, feed.registration_name)
        except ConnectorError as exc:
            log.warning("feed.push_unregister_failed", feed=feed_id, error=exc.message)
            continue
        log.info("feed.push_unregistered", feed=feed_id, removed=removed)
