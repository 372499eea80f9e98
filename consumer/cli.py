"""The `infusion-validator` command: one entry point; each package adds its own subcommands
(`consumer/<package>/cli.py`: stream `run`, replay `replay`, offline `validate` and `explain`,
engine `rules check`, demo `demo`, `dashboard` and `produce-sample`).

Handlers import what they need when they run, so `--help` stays fast. Errors the user can fix
(bad rule file, missing input, unreachable broker) end as one line on stderr and a non-zero
exit, never as a bare traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from consumer import __version__
from consumer.demo import cli as demo_cli
from consumer.engine import cli as engine_cli
from consumer.errors import InfusionValidatorError
from consumer.offline import cli as offline_cli
from consumer.replay import cli as replay_cli
from consumer.stream import cli as stream_cli
from consumer.stream.signals import StartupInterrupted
from consumer.subcommands import Commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infusion-validator",
        description="Decide home infusion claims against policy RB.046.A.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = Commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    for package in (stream_cli, replay_cli, demo_cli, offline_cli, engine_cli):
        package.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except StartupInterrupted:  # SIGTERM/SIGINT before the service ran: nothing to finish
        return 0
    except InfusionValidatorError as exc:
        print(f"infusion-validator: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `validate … | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
