"""``kashi agent …``: the node agent's commands, when the agent is installed (the agent extra)."""

from __future__ import annotations

import typer


def mount(app: typer.Typer) -> None:
    """Sub-commands whose modules may be absent from a slim install (the agent extra)."""
    try:
        from metering.agent.cli import app as agent_app
    except ImportError:
        return
    app.add_typer(agent_app, name="agent", help="The node agent: collect GPU and token usage and send it.")
