"""The `infusion-validator` command: one entry point, one small handler per subcommand.

Errors the user can fix (bad rule file, missing input, unreachable broker) end as one line on
stderr and a non-zero exit, never as a bare traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import datetime

import orjson

from consumer import __version__
from consumer.errors import InfusionValidatorError
from consumer.settings import CONFIG_ENV

Handler = Callable[[argparse.Namespace], int]


def _engine(args: argparse.Namespace):  # type: ignore[no-untyped-def]  # lazy import keeps --help fast
    from consumer.engine import Engine

    return Engine.load(args.rule_set)


def cmd_validate(args: argparse.Namespace) -> int:
    from consumer.fastpath import build_offline_fast_path
    from consumer.offline import MAX_LINES, validate

    engine = _engine(args)
    fast = build_offline_fast_path(engine, MAX_LINES)
    if args.output:
        with open(args.output, "wb") as out:
            summary = validate(args.file, engine, out, sys.stderr, fast)
    else:
        summary = validate(args.file, engine, sys.stdout.buffer, sys.stderr, fast)
        sys.stdout.flush()
    print(summary.describe(), file=sys.stderr)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from consumer.errors import ClaimFormatError
    from consumer.explain import render
    from consumer.offline import open_input, read_claims

    engine = _engine(args)
    with open_input(args.file) as handle:
        for number, claim, _ in read_claims(handle):
            if isinstance(claim, ClaimFormatError):
                print(f"{args.file}:{number}: cannot read this claim: {claim}\n")
                continue
            outcome, results = engine.explain(claim)
            if args.only_pended and outcome.decision != "PENDED":
                continue
            print(render(claim, outcome, results))
    return 0


def cmd_rules_check(args: argparse.Namespace) -> int:
    from consumer.engine import Engine

    engine = Engine.load(args.path)
    for rule_set in engine.rule_sets:
        policy = rule_set.default
        until = f" until {rule_set.effective_to}" if rule_set.effective_to else ""
        print(
            f"ok: {rule_set.path}: {rule_set.policy_id} {rule_set.version}, effective "
            f"{rule_set.effective_from}{until}; {len(policy.rules)} rules on; catalogue "
            f"{rule_set.catalogue.version} ({len(rule_set.catalogue)} codes); "
            f"{len(rule_set.contracts)} contract override(s)"
        )
    return 0


def cmd_produce_sample(args: argparse.Namespace) -> int:
    from consumer.samples import generate_claims

    claims = generate_claims(args.count, args.seed, lines_per_claim=args.lines)
    if args.bootstrap or args.config:  # to Kafka; otherwise to a file or stdout
        from consumer.producing import produce_claims
        from consumer.settings import load_settings

        overrides = {"kafka": {"bootstrap_servers": args.bootstrap}} if args.bootstrap else {}
        settings = load_settings(args.config, **overrides)
        count = produce_claims(settings, claims, topic=args.topic, rate=args.rate)
        print(f"produced {count} claims to {args.topic or settings.topics.input}", file=sys.stderr)
        return 0
    out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
    try:
        for claim in claims:
            out.write(orjson.dumps(claim, option=orjson.OPT_APPEND_NEWLINE))
    finally:
        if args.output:
            out.close()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from consumer.signals import Signals

    signals = Signals()  # first: a SIGTERM during start-up exits 0, not 143

    from consumer import logs
    from consumer.settings import load_settings

    settings = load_settings(args.config)  # before the heavy imports: a bad value fails fast
    logs.configure(settings.log_level)

    from consumer import service

    return service.run(settings, signals)


def cmd_replay(args: argparse.Namespace) -> int:
    from pathlib import Path

    from consumer import logs
    from consumer.replay import ReplayRequest, run_replay
    from consumer.settings import load_settings

    settings = load_settings(args.config)
    logs.configure("WARNING")  # progress and summary are for the person at the terminal
    request = ReplayRequest(
        source=args.source,
        partitions=args.partition,
        from_offset=args.from_offset,
        to_offset=args.to_offset,
        from_time=args.from_time,
        to_time=args.to_time,
        output_prefix=args.output_prefix or "",
        create_topics=args.create_topics,
        rule_set=args.rule_set,
        group_id=args.group_id,
        diff=args.diff,
        report=Path(args.report) if args.report else None,
    )
    return run_replay(settings, request)


def _timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO time like 2026-07-01T00:00Z"
        ) from exc
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a time zone, e.g. 2026-07-01T00:00Z")
    return moment


def cmd_demo(args: argparse.Namespace) -> int:
    from consumer import logs
    from consumer.demo import run_demo

    logs.configure("WARNING")  # the demo talks to a person: its own lines, not the JSON log
    # Transient broker chatter (coordinator loading, reconnects) is noise in a demo.
    logging.getLogger("librdkafka").setLevel(logging.ERROR)
    return run_demo(args.claims, args.seed, args.port, wait=not args.exit)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infusion-validator",
        description="Decide home infusion claims against policy RB.046.A.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.set_defaults(handler=handler)
        return cmd

    rule_set_help = "rule-set file or folder (default: rules/, or $INFUSION_VALIDATOR_RULES)"
    config_help = f"YAML settings file (or ${CONFIG_ENV}); environment variables override it"

    run = command("run", cmd_run, "Run the service: consume, decide, produce (until SIGTERM).")
    run.add_argument("--config", "-c", help=config_help)

    replay = command(
        "replay", cmd_replay, "Reprocess a bounded range of a topic, or diff two rule sets."
    )
    replay.add_argument("--config", "-c", help=config_help)
    replay.add_argument("--source", help="topic to replay (default: topics.input; may be the DLQ)")
    replay.add_argument(
        "--partition", type=int, action="append", help="only this partition (repeatable)"
    )
    span = replay.add_argument_group("range (default: everything in the topic now)")
    span.add_argument("--from-offset", type=int, help="first offset (per chosen partition)")
    span.add_argument("--to-offset", type=int, help="last offset, inclusive")
    span.add_argument("--from-time", type=_timestamp, help="ISO time of the first record")
    span.add_argument("--to-time", type=_timestamp, help="ISO time to stop before")
    replay.add_argument("--output-prefix", help="write to PREFIX + the output topic names")
    replay.add_argument(
        "--create-topics", action="store_true", help="create missing (prefixed) output topics"
    )
    replay.add_argument("--rule-set", help="rule-set file/folder, or a version in rules/")
    replay.add_argument("--group-id", help="replay consumer group (reuse it to resume)")
    replay.add_argument(
        "--diff", metavar="OTHER_RULE_SET", help="compare with this rule set; write nothing"
    )
    replay.add_argument("--report", help="with --diff: write the changes to FILE (.json/.csv)")

    demo = command("demo", cmd_demo, "Run the whole product on a local Kafka it starts itself.")
    demo.add_argument("--claims", type=int, default=20_000, help="sample claims to produce")
    demo.add_argument("--seed", type=int, default=2026)
    demo.add_argument("--port", type=int, default=8080, help="metrics port (0 = any free)")
    demo.add_argument("--exit", action="store_true", help="exit after the summary")
    validate = command(
        "validate", cmd_validate, "Decide claims from a file; decisions as JSON Lines."
    )
    validate.add_argument("file", help="claims as JSON Lines or an Avro container file; - = stdin")
    validate.add_argument("--output", "-o", help="write decisions here instead of stdout")
    validate.add_argument("--rule-set", help=rule_set_help)

    explain = command("explain", cmd_explain, "Explain each claim's decision rule by rule.")
    explain.add_argument("file", help="claims as JSON Lines or an Avro container file; - = stdin")
    explain.add_argument("--rule-set", help=rule_set_help)
    explain.add_argument("--only-pended", action="store_true", help="skip accepted claims")

    rules = sub.add_parser("rules", help="Rule-set tools.")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    check = rules_sub.add_parser("check", help="Lint a rule-set file; non-zero exit on a problem.")
    check.add_argument("path", nargs="?", help=rule_set_help)
    check.set_defaults(handler=cmd_rules_check)

    sample = command("produce-sample", cmd_produce_sample, "Generate synthetic claims.")
    sample.add_argument("--count", "-n", type=int, default=1000, help="number of claims")
    sample.add_argument("--seed", type=int, default=1, help="same seed, same claims")
    sample.add_argument("--lines", type=int, default=None, help="exact lines per claim")
    sample.add_argument("--output", "-o", help="JSON Lines file (default: stdout)")
    sample.add_argument("--bootstrap", help="produce to this Kafka cluster instead of a file")
    sample.add_argument("--topic", help="topic to produce to (default: topics.input)")
    sample.add_argument("--rate", type=float, help="claims per second (default: unpaced)")
    sample.add_argument("--config", "-c", help=config_help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from consumer.signals import StartupInterrupted

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
