"""The web console (SPEC §18): pages for operators and finance and a portal for tenants, rendered
by the API process itself from the same services the API calls. ``mount(app, settings)`` adds it."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from kashi.settings import Settings

STATIC = Path(__file__).parent / "static"


def mount(app: FastAPI, settings: Settings) -> None:
    """Serve the console under ``/console`` (its stylesheet and script under ``/console/static``)."""
    from kashi.console import nav
    from kashi.console.session import Sessions, secret_for

    secret = secret_for(settings.console_secret, settings.data_dir)
    app.state.console_sessions = Sessions(secret, max_age_s=settings.console_session_hours * 3600)
    app.state.console_menu = nav.menu
    for page in nav.PAGES:
        app.include_router(page.router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
