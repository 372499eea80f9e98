"""`infusion-validator rules check`: lint a rule set."""

from __future__ import annotations

import argparse

from consumer.subcommands import RULE_SET_HELP, Commands


def cmd_rules_check(args: argparse.Namespace) -> int:
    from consumer.engine import Engine

    engine = Engine.load(args.path)
    for rs in engine.describe():
        until = f" until {rs['effective_to']}" if rs["effective_to"] else ""
        print(
            f"ok: {rs['path']}: {rs['policy_id']} {rs['version']}, effective "
            f"{rs['effective_from']}{until}; {rs['rules_on']} rules on; catalogue "
            f"{rs['catalogue_version']} ({rs['catalogue_codes']} codes); "
            f"{len(rs['contracts'])} contract override(s)"
        )
    return 0


def add_commands(commands: Commands) -> None:
    actions = commands.group("rules", "Rule-set tools.")
    check = actions.add_parser("check", help="Lint a rule-set file; non-zero exit on a problem.")
    check.add_argument("path", nargs="?", help=RULE_SET_HELP)
    check.set_defaults(handler=cmd_rules_check)
