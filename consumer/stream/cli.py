"""`infusion-validator run`: the service."""

from __future__ import annotations

import argparse

from consumer.subcommands import CONFIG_HELP, Commands


def cmd_run(args: argparse.Namespace) -> int:
    from consumer.stream.signals import Signals

    signals = Signals()  # first: a SIGTERM during start-up exits 0, not 143

    from consumer import logs
    from consumer.settings import load_settings

    shadow = {
        key: value
        for key, value in (("rule_set", args.shadow_rule_set), ("topic", args.shadow_topic))
        if value
    }
    # Before the heavy imports: a bad value fails fast.
    settings = load_settings(args.config, **({"shadow": shadow} if shadow else {}))
    logs.configure(settings.log_level)

    from consumer.stream import service

    return service.run(settings, signals)


def add_commands(commands: Commands) -> None:
    run = commands.add("run", cmd_run, "Run the service: consume, decide, produce (until SIGTERM).")
    run.add_argument("--config", "-c", help=CONFIG_HELP)
    run.add_argument(
        "--shadow-rule-set",
        metavar="PATH|VERSION",
        help="also decide every claim with this candidate rule set, writing nothing "
        "adjudication reads: disagreements in metrics (settings: shadow.rule_set)",
    )
    run.add_argument(
        "--shadow-topic",
        metavar="TOPIC",
        help="with --shadow-rule-set, write each disagreement to TOPIC (e.g. claims.shadow)",
    )
