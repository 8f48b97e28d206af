"""``python -m metering.agent`` runs the agent CLI without the server's ``kashi`` entry point."""

from metering.agent.cli import app

app()
