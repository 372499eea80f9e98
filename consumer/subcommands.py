"""What every package's `cli.py` gets to add its subcommands with: the subparser factory and
the help texts shared between subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

from consumer.settings import CONFIG_ENV

Handler = Callable[[argparse.Namespace], int]
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

RULE_SET_HELP = "rule-set file or folder (default: rules/, or $INFUSION_VALIDATOR_RULES)"
CONFIG_HELP = f"YAML settings file (or ${CONFIG_ENV}); environment variables override it"


class Commands:
    """Adds subcommands to `infusion-validator`."""

    def __init__(self, sub: Subparsers) -> None:
        self.sub = sub

    def add(self, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        """A subcommand run by `handler(args)`, which returns the exit code."""
        cmd = self.sub.add_parser(name, help=help_text, description=help_text)
        cmd.set_defaults(handler=handler)
        return cmd

    def group(
        self, name: str, help_text: str
    ) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        """A subcommand with actions of its own (`rules check`)."""
        parser = self.sub.add_parser(name, help=help_text)
        return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")
