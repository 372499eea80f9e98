"""`infusion-validator demo`, `dashboard` and `produce-sample`."""

from __future__ import annotations

import argparse
import logging
import sys

from consumer.subcommands import CONFIG_HELP, Commands


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


def cmd_produce_sample(args: argparse.Namespace) -> int:
    import orjson

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


def add_commands(commands: Commands) -> None:
    demo = commands.add(
        "demo", cmd_demo, "Run the whole product on a local Kafka it starts itself."
    )
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
    dashboard = commands.add(
        "dashboard", cmd_dashboard, "Draw the Grafana dashboard's panels from a live Prometheus."
    )
    dashboard.add_argument("--prometheus", required=True, help="Prometheus base URL")
    dashboard.add_argument("--output", "-o", required=True, help="PNG file to write")
    dashboard.add_argument("--job", default="infusion-validator", help="the scrape job")
    dashboard.add_argument("--minutes", type=float, default=15.0, help="time range to draw")

    sample = commands.add("produce-sample", cmd_produce_sample, "Generate synthetic claims.")
    sample.add_argument("--count", "-n", type=int, default=1000, help="number of claims")
    sample.add_argument("--seed", type=int, default=1, help="same seed, same claims")
    sample.add_argument("--lines", type=int, default=None, help="exact lines per claim")
    sample.add_argument("--output", "-o", help="JSON Lines file (default: stdout)")
    sample.add_argument("--bootstrap", help="produce to this Kafka cluster instead of a file")
    sample.add_argument("--topic", help="topic to produce to (default: topics.input)")
    sample.add_argument("--rate", type=float, help="claims per second (default: unpaced)")
    sample.add_argument("--config", "-c", help=CONFIG_HELP)
