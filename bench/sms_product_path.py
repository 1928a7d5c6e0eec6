"""The SMS product path beside the raw SMPP ceiling, on one machine, in one run.

For ``--targets`` subscribers (one in ten reading Chinese, whose SMS takes
three UCS-2 parts; the others one part), each run measures, one after the
other and each against a fresh simulator with no throughput limit:

- the raw ceiling (``bench.sms_ceiling``): a minimal windowed smpplib loop;
- the product path (``bench.sms_platform``): a published warning for the
  whole city, fanned out by the ``publisher.fanout`` task into delivery rows
  on PostgreSQL and batch tasks on RabbitMQ, sent by ``publisher.send_batch``
  in a Celery worker through the SMS channel, every receipt recorded and
  correlated to its delivery through ``record_receipt``.

Both rates are parts accepted per second on the simulator's clock, from the
first part to the last (its part log); the product's clock therefore starts
with its first submit, after the fan-out's first batch. Also reported: the
time from the first part accepted until every delivery is final, and the
worker's RSS when a tenth of the targets have been handed over, when all
have, and when every receipt is in.

    python -m bench.sms_product_path [--targets 100000] [--runs 3] [--window 100]
        [--binds 2] [--concurrency 2] [--dlr-delay 5] [--timeout S]

It needs the PostgreSQL and RabbitMQ of ``.ci/run`` and ``rabbitmqctl``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence

from bench.sms_ceiling import DEFAULT_WINDOW, describe, measure_ceiling
from bench.sms_platform import (
    MEMORY_SAMPLE_SHARE,
    ChannelSetup,
    MeasuredRun,
    Platform,
    add_platform_arguments,
    describe_run,
    measure_run,
    run_timeout,
    sms_platform,
)
from bench.sms_support import (
    machine_line,
    median_line,
    parse_counts,
    run_arguments,
    running_simulator,
    verdict,
)

__all__ = ["main"]

GOAL_RATIO = 0.5
# Worker RSS later in the run at most this much above its RSS at a tenth of the way.
FLAT_GROWTH = 0.10
# Far above any rate a bind reaches here: the SMSC and the machine set the pace.
UNLIMITED_RATE = 1_000_000.0


def measure_product(platform: Platform, setup: ChannelSetup, dlr_delay: float,
                    timeout: float) -> MeasuredRun:
    with running_simulator(dlr_delay=dlr_delay) as simulator:
        return measure_run(platform, simulator, simulator.port, setup, timeout)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = run_arguments("bench.sms_product_path", __doc__.splitlines()[0], 100_000)
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW,
                        help="outstanding parts per bind, for the ceiling and the product")
    add_platform_arguments(parser, binds=2, concurrency=2, pool="prefork")
    return parse_counts(parser, argv, "window", "binds", "concurrency")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    setup = ChannelSetup(window=arguments.window, rate=UNLIMITED_RATE, binds=arguments.binds,
                         concurrency=arguments.concurrency, pool=arguments.pool)
    timeout = run_timeout(arguments)
    print(f"SMS product path vs raw ceiling: {arguments.targets:,} subscribers (1 in 10 Chinese),"
          f" {arguments.runs} runs, simulator without a limit, receipts after "
          f"{arguments.dlr_delay} s")
    print(f"ceiling: one smpplib bind, window {arguments.window}; product: {setup.describe()}")
    print(machine_line(), flush=True)
    ceilings: list[float] = []
    products: list[MeasuredRun] = []
    with sms_platform(arguments.targets, arguments.admin_dsn) as platform:
        for run in range(arguments.runs):
            ceiling = measure_ceiling(arguments.targets, arguments.window, arguments.dlr_delay)
            ceilings.append(ceiling.span.rate)
            print(f"run {run + 1} ceiling: {describe(ceiling)}", flush=True)
            product = measure_product(platform, setup, arguments.dlr_delay, timeout)
            products.append(product)
            print(f"run {run + 1} product: {describe_run(product, arguments.targets)}", flush=True)
    ratio = (statistics.median(run.span.rate for run in products)
             / statistics.median(ceilings))
    growth = statistics.median(run.memory_growth(arguments.targets) for run in products)
    print(median_line("raw ceiling", ceilings, "parts/s"))
    print(median_line("product path", [run.span.rate for run in products], "parts/s"))
    correlated = [run.receipts_seconds for run in products if not run.platform.not_final]
    print(f"runs with every receipt correlated: {len(correlated)} of {len(products)}")
    if correlated:
        print(median_line("every receipt correlated after (those runs)", correlated, "s"))
    print(verdict("product / ceiling", ratio, GOAL_RATIO))
    print(f"goal: memory flat (worker RSS later in the run at most {FLAT_GROWTH:.0%} above "
          f"its RSS at {MEMORY_SAMPLE_SHARE:.0%} of the targets): {growth:+.0%} (median), "
          f"{'met' if growth <= FLAT_GROWTH else 'NOT met'}")
    exact = all(run.span.incomplete == run.span.duplicated == 0 for run in products)
    print(f"every message complete and none duplicated in every run: {'yes' if exact else 'NO'}")
    print(f"at the end: {machine_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
