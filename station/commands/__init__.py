"""Subcommands of ``station`` kept in their own modules (see ``COMMAND_MODULES`` in station.cli)."""
