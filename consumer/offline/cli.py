"""`infusion-validator validate` and `explain`: claims from a file, decided without Kafka."""

from __future__ import annotations

import argparse
import io
import sys
from typing import Any

from consumer.subcommands import RULE_SET_HELP, Commands


def _engine(args: argparse.Namespace) -> Any:
    from consumer.engine import Engine

    return Engine.load(args.rule_set)


def _history(args: argparse.Namespace, engine: Any) -> Any:
    """The history the file is decided against: empty, or the claims of `--history FILE`;
    None with `--no-history`."""
    from consumer._native import History
    from consumer.offline.validate import validate

    if args.no_history:
        return None
    history = History(args.retention_days)
    if args.history:
        summary = validate(
            args.history, engine, io.BytesIO(), sys.stderr, history=history, record_only=True
        )
        unreadable = f", {summary.unreadable} unreadable" if summary.unreadable else ""
        print(f"history: prior claims read from {args.history}{unreadable}", file=sys.stderr)
    return history


def cmd_validate(args: argparse.Namespace) -> int:
    from consumer.offline.validate import validate

    engine = _engine(args)
    history = _history(args, engine)
    if args.output:
        with open(args.output, "wb") as out:
            summary = validate(args.file, engine, out, sys.stderr, history=history)
    else:
        summary = validate(args.file, engine, sys.stdout.buffer, sys.stderr, history=history)
        sys.stdout.flush()
    print(summary.describe(), file=sys.stderr)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from consumer.codec.encoding import claim_body
    from consumer.engine import Engine
    from consumer.errors import ClaimFormatError
    from consumer.offline.explain import render, render_against
    from consumer.offline.validate import decider, open_input, read_claims

    engine = _engine(args)
    against = Engine.choose(args.against, args.rule_set) if args.against else None
    offline = decider(engine, _history(args, engine))
    with open_input(args.file) as handle:
        for number, claim, _ in read_claims(handle):
            if isinstance(claim, ClaimFormatError):
                print(f"{args.file}:{number}: cannot read this claim: {claim}\n")
                continue
            if against is not None:
                compared = offline.compare_body(claim_body(claim), against.native)
                if compared is not None and not (
                    args.only_pended
                    and "PENDED" not in (compared[0].decision, compared[1].decision)
                ):
                    print(render_against(claim, *compared))
                continue
            explained = offline.explain_body(claim_body(claim))
            if explained is None:
                print(
                    f"{args.file}:{number}: event {claim['event_id']} was decided before "
                    "(re-sent): no second decision\n"
                )
                continue
            decision, verdicts = explained
            if args.only_pended and decision.decision != "PENDED":
                continue
            print(render(claim, decision, verdicts))
    return 0


def add_commands(commands: Commands) -> None:
    validate = commands.add(
        "validate", cmd_validate, "Decide claims from a file; decisions as JSON Lines."
    )
    validate.add_argument("file", help="claims as JSON Lines or an Avro container file; - = stdin")
    validate.add_argument("--output", "-o", help="write decisions here instead of stdout")
    validate.add_argument("--rule-set", help=RULE_SET_HELP)

    explain = commands.add("explain", cmd_explain, "Explain each claim's decision rule by rule.")
    explain.add_argument("file", help="claims as JSON Lines or an Avro container file; - = stdin")
    explain.add_argument("--rule-set", help=RULE_SET_HELP)
    explain.add_argument("--only-pended", action="store_true", help="skip accepted claims")
    explain.add_argument(
        "--against",
        metavar="OTHER_RULE_SET",
        help="each claim under --rule-set and under this rule set (file, folder or version), "
        "side by side",
    )
    for offline in (validate, explain):
        stream = offline.add_argument_group(
            "claim history (the file is one stream, in file order: SPEC §3.1)"
        )
        stream.add_argument(
            "--history", metavar="FILE", help="prior claims the history starts from"
        )
        stream.add_argument(
            "--retention-days", type=int, default=400, help="how long a claim stays in history"
        )
        stream.add_argument(
            "--no-history", action="store_true", help="decide each claim on its own"
        )
