"""The SMS benchmarks run end to end at tiny sizes, so that their code cannot rot.

Only what they report is checked, never how fast: speed goals are judged by
the benchmarks themselves on a quiet machine (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import re

import pytest

from bench import sms_ceiling, sms_pacing, sms_product_path
from tests.services import POSTGRES_HOST, POSTGRES_PORT, require_rabbitmqctl, require_service

TARGETS = 200
# Every subscriber's SMS: one part in English, three in Chinese (one in ten).
PARTS = TARGETS + 2 * TARGETS // 10
QUICK = ["--runs", "1", "--dlr-delay", "2"]
# A receipt that matches nothing leaves its delivery unfinished: the run ends then.
PLATFORM = [*QUICK, "--timeout", "90"]


@pytest.fixture
def platform_services() -> None:
    require_service("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    # The benchmarks make and remove a virtual host of their own.
    require_rabbitmqctl()


def _goal_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("goal: ")]


def test_the_ceiling_sends_every_part_once_and_reports_its_rate(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert sms_ceiling.main(["--targets", str(TARGETS), *QUICK]) == 0

    output = capsys.readouterr().out
    assert f"machine: {os.cpu_count()} cores" in output
    assert f"{PARTS:,} parts of {TARGETS:,} messages" in output
    assert "refused 0" in output and "incomplete 0, duplicated 0" in output
    assert re.search(r"raw ceiling: median [\d,]+ parts/s", output), output


@pytest.mark.usefixtures("platform_services")
def test_the_product_path_reports_its_ratio_to_the_ceiling_and_its_memory(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert sms_product_path.main(["--targets", str(TARGETS), *PLATFORM]) == 0

    output = capsys.readouterr().out
    assert output.count(f"{PARTS:,} parts of {TARGETS:,} messages") == 2, output
    assert "deliveries: delivered" in output
    assert "every message complete and none duplicated in every run: yes" in output
    goals = _goal_lines(output)
    assert [line.split(":")[1].strip() for line in goals] == [
        "product / ceiling >= 50%", "memory flat (worker RSS later in the run at most 10% above "
        "its RSS at 10% of the targets)"], goals
    assert all(line.endswith(("met", "NOT met")) for line in goals), goals


@pytest.mark.usefixtures("platform_services")
def test_pacing_reports_its_share_of_the_limit_and_the_throttling(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert sms_pacing.main(["--targets", str(TARGETS), *PLATFORM]) == 0

    output = capsys.readouterr().out
    assert f"{PARTS:,} parts of {TARGETS:,} messages" in output
    assert "incomplete 0, duplicated 0" in output
    # Counted on the wire: every part accepted once, whatever was throttled before.
    assert re.search(rf"submit_sm_resp: accepted {PARTS:,}, throttled [\d,]+", output), output
    assert [line.split(":")[1].strip() for line in _goal_lines(output)] == [
        "achieved / limit >= 90%"], output
