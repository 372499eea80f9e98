"""`infusion-validator replay`: a bounded range decided again, or two rule sets compared."""

from __future__ import annotations

import argparse
from datetime import datetime

from consumer.subcommands import CONFIG_HELP, Commands


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


def add_commands(commands: Commands) -> None:
    replay = commands.add(
        "replay", cmd_replay, "Reprocess a bounded range of a topic, or diff two rule sets."
    )
    replay.add_argument("--config", "-c", help=CONFIG_HELP)
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
