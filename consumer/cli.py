"""The `infusion-validator` command: one entry point, one small handler per subcommand.

Errors the user can fix (bad rule file, missing input, unreachable broker) end as one line on
stderr and a non-zero exit, never as a bare traceback.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson

from consumer import __version__
from consumer.errors import InfusionValidatorError
from consumer.settings import CONFIG_ENV

Handler = Callable[[argparse.Namespace], int]


def _engine(args: argparse.Namespace):  # type: ignore[no-untyped-def]  # lazy import keeps --help fast
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


def cmd_produce_sample(args: argparse.Namespace) -> int:
    from consumer.demo.samples import generate_claims

    claims = generate_claims(args.count, args.seed, lines_per_claim=args.lines)
    if args.bootstrap or args.config:  # to Kafka; otherwise to a file or stdout
        from consumer.settings import load_settings
        from consumer.stream.producing import produce_claims

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


def cmd_replay(args: argparse.Namespace) -> int:
    from pathlib import Path

    from consumer import logs
    from consumer.replay.command import ReplayRequest, run_replay
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
    from consumer.demo.command import run_demo

    logs.configure("WARNING")  # the demo talks to a person: its own lines, not the JSON log
    # Transient broker chatter (coordinator loading, reconnects) is noise in a demo.
    logging.getLogger("librdkafka").setLevel(logging.ERROR)
    return run_demo(args.claims, args.seed, args.port, wait=not args.exit, registry=args.registry)


def cmd_dashboard(args: argparse.Namespace) -> int:
    from pathlib import Path

    from consumer.demo.dashboard import Prometheus, render

    drawn = render(
        Prometheus(args.prometheus), Path(args.output), job=args.job, minutes=args.minutes
    )
    empty = sorted(title for title, count in drawn.items() if not count)
    print(f"{len(drawn)} panels drawn into {args.output}", file=sys.stderr)
    if empty:
        print(f"no data for: {', '.join(empty)}", file=sys.stderr)
    return 0


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
    demo.add_argument(
        "--registry",
        action="store_true",
        help="confluent wire format with a schema registry: $SCHEMA_REGISTRY_URL, else a local "
        "Apicurio Registry it starts itself",
    )
    dashboard = command(
        "dashboard", cmd_dashboard, "Draw the Grafana dashboard's panels from a live Prometheus."
    )
    dashboard.add_argument("--prometheus", required=True, help="Prometheus base URL")
    dashboard.add_argument("--output", "-o", required=True, help="PNG file to write")
    dashboard.add_argument("--job", default="infusion-validator", help="the scrape job")
    dashboard.add_argument("--minutes", type=float, default=15.0, help="time range to draw")
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
    from consumer.stream.signals import StartupInterrupted

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
