"""The district push benchmark at a tiny size, and its street-level plan, so that neither rots.

Only what the benchmark reports is checked, never how fast: the figures are
judged in docs/benchmarks.md.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bench import district_push
from bench.district_fleet import plan_fleet
from district_nodes.config import load_node_config
from publisher.cap.keys import generate_demo_identity
from tests.services import POSTGRES_HOST, POSTGRES_PORT, require_service


def test_two_nodes_of_two_boards_take_the_alert_ack_and_report_back(
        capsys: pytest.CaptureFixture[str]) -> None:
    require_service("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)

    assert district_push.main(["--nodes", "2", "--devices-per-node", "2", "--runs", "1",
                               "--processes", "1", "--timeout", "120"]) == 0

    output = capsys.readouterr().out
    assert f"machine: {os.cpu_count()} cores" in output
    assert "run 1: 2 of 2 nodes acked (SENT)" in output, output
    assert "4 of 4 boards took it" in output and "(4 show it in red)" in output, output
    assert "2 node receipts counted every board delivered" in output, output
    for name in ("acked", "shown", "reported"):
        assert re.search(rf"bare sum / ours \({name}\): median [\d.]+x", output), output


def test_beyond_one_node_a_district_the_nodes_are_street_level_and_load(
        tmp_path: Path) -> None:
    _, certificate = generate_demo_identity(tmp_path / "center", "Test Warning Center")

    nodes = plan_fleet(tmp_path, nodes=18, devices_per_node=2, hosts=2,
                       center_certificate=certificate, center_token="t" * 32)

    names = [node.name for node in nodes]
    assert len(set(names)) == 18 and names[0].endswith("-s01") and names[16].endswith("-s02")
    assert nodes[0].district == nodes[16].district
    assert {node.host.number for node in nodes} == {0, 1}
    assert len({node.port for node in nodes}) == 18
    for node in (nodes[0], nodes[16]):
        config = load_node_config(node.config)
        assert config.code == node.district.code and config.listen_port == node.port
        assert [device.device_id for device in config.devices] == [
            f"led-{node.name}-01", f"led-{node.name}-02"]
        assert config.center_url == node.host.center_url
        assert config.credential == node.credential


def test_a_count_below_one_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        district_push.main(["--devices-per-node", "0"])

    assert "--devices-per-node: 0 is below 1" in capsys.readouterr().err
