"""The subcommands of ``station``, one module each (see ``COMMAND_MODULES`` in station.cli).

Each module has ``add_parser(subparsers)``, which sets ``func=run`` on its parser, and
``run(args) -> ExitCode``. What they share (exit codes, the usage error, the instrument
option group) is in :mod:`station.commands.grammar`; ``window`` holds the top-level options.
"""
