"""Which PostgreSQL and Redis to use: external URLs from settings, else the embedded ones."""

from __future__ import annotations

from dataclasses import dataclass

from kashi.embedded import EmbeddedServers
from kashi.settings import Settings


class ServersNotRunning(RuntimeError):
    pass


@dataclass
class Servers:
    database_url: str
    redis_url: str
    embedded: EmbeddedServers | None = None
    """Set when this process started the embedded servers (and so stops them)."""

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


def resolve(settings: Settings, *, start: bool) -> Servers:
    """External servers when both URLs are set; otherwise the embedded ones under ``data_dir``.

    With ``start=False`` the embedded servers must already run (e.g. ``kashi keys create`` beside
    ``kashi up``); with ``start=True`` they are started if needed, and stopped by :meth:`Servers.stop`
    only if this call started them.
    """
    embedded = EmbeddedServers(settings.data_dir)
    db_url, redis_url = settings.database_url, settings.redis_url
    running_db, running_redis = (None, None) if (db_url and redis_url) else embedded.find_running()
    started = None
    if not db_url or not redis_url:
        if start and not (running_db and running_redis):
            started = embedded
            running_db, running_redis = embedded.start()
        elif not start and not ((db_url or running_db) and (redis_url or running_redis)):
            raise ServersNotRunning(
                f"no Kashi servers run on data dir {settings.data_dir}; start them with 'kashi up' "
                "or set KASHI_DATABASE_URL and KASHI_REDIS_URL"
            )
    return Servers(db_url or running_db, redis_url or running_redis, started)
