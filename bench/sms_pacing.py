"""Pacing accuracy: the SMS product path against an SMSC that allows 500 parts/s on each of 2 binds.

The simulator answers ESME_RTHROTTLED to any part above 500 parts/s on a
bind (a token bucket with a burst of a tenth of a second), as a carrier
does. The SMS channel is configured with what was contracted: 2 binds,
500 parts/s each, in one worker process, so the installation's limit is
1,000 parts/s. That process runs 2 batch tasks at once in threads
(``publisher worker --pool threads``) which share its binds: one batch is
submitted while the one before is recorded. A sustained run of ``--targets`` subscribers (default
30,000: 36,000 parts, about 36 s at the limit) goes the whole product path
(fan-out, delivery rows on PostgreSQL, batch tasks on RabbitMQ, receipts
correlated), as in ``bench.sms_product_path``.

The achieved rate is parts accepted per second on the simulator's clock,
from the first to the last (its part log), reported as a share of the
limit; the median of ``--runs`` runs. Throttling is counted on the wire: the
binds connect through a relay (``bench.sms_wire_count``) that counts the
simulator's submit_sm_resp by status.

    python -m bench.sms_pacing [--targets 30000] [--runs 3] [--binds 2] [--concurrency 2]
        [--pool threads]
        [--dlr-delay 5] [--timeout S]

It needs the PostgreSQL and RabbitMQ of ``.ci/run`` and ``rabbitmqctl``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from smpplib import consts

from bench.sms_platform import (
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
from bench.sms_wire_count import SubmitResponseCounter

__all__ = ["main"]

RATE_PER_BIND = 500.0
BINDS = 2
# The channel's default window: pacing, not the window, must hold the rate.
WINDOW = 10
GOAL_SHARE = 0.9


@dataclass(frozen=True, slots=True)
class PacedRun:
    run: MeasuredRun
    limit: float
    accepted: int
    throttled: int
    other_refusals: int

    @property
    def share(self) -> float:
        return self.run.span.rate / self.limit


def measure_paced(platform: Platform, setup: ChannelSetup, timeout: float,
                  dlr_delay: float) -> PacedRun:
    with (running_simulator(dlr_delay=dlr_delay, max_parts_per_second=RATE_PER_BIND)
          as simulator, SubmitResponseCounter(simulator.port) as relay):
        run = measure_run(platform, simulator, relay.port, setup, timeout)
        statuses = relay.statuses()
    accepted = statuses.pop(consts.SMPP_ESME_ROK, 0)
    throttled = statuses.pop(consts.SMPP_ESME_RTHROTTLED, 0)
    limit = RATE_PER_BIND * setup.binds * setup.processes
    return PacedRun(run, limit, accepted, throttled, sum(statuses.values()))


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = run_arguments("bench.sms_pacing", __doc__.splitlines()[0], 30_000)
    add_platform_arguments(parser, binds=BINDS, concurrency=2, pool="threads")
    return parse_counts(parser, argv, "binds", "concurrency")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    timeout = run_timeout(arguments)
    setup = ChannelSetup(window=WINDOW, rate=RATE_PER_BIND, binds=arguments.binds,
                         concurrency=arguments.concurrency, pool=arguments.pool)
    limit = RATE_PER_BIND * arguments.binds * setup.processes
    print(f"SMS pacing: {arguments.targets:,} subscribers (1 in 10 Chinese), {arguments.runs} "
          f"runs, receipts after {arguments.dlr_delay} s; simulator limit "
          f"{RATE_PER_BIND:,.0f} parts/s per bind; channel: {setup.describe()}; limit "
          f"{limit:,.0f} parts/s")
    print(machine_line(), flush=True)
    runs: list[PacedRun] = []
    with sms_platform(arguments.targets, arguments.admin_dsn) as platform:
        for number in range(arguments.runs):
            paced = measure_paced(platform, setup, timeout, arguments.dlr_delay)
            runs.append(paced)
            print(f"run {number + 1}: {paced.share:.1%} of the limit; submit_sm_resp: "
                  f"accepted {paced.accepted:,}, throttled {paced.throttled:,}, other "
                  f"refusals {paced.other_refusals:,}; "
                  f"{describe_run(paced.run, arguments.targets)}", flush=True)
    print(median_line("achieved", [paced.run.span.rate for paced in runs], "parts/s"))
    print(f"throttled: median {statistics.median(paced.throttled for paced in runs):,.0f} "
          f"submit_sm per run (runs: {', '.join(f'{paced.throttled:,}' for paced in runs)})")
    print(verdict("achieved / limit", statistics.median(paced.share for paced in runs),
                  GOAL_SHARE))
    print(f"at the end: {machine_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
