"""1,000 app clients on one stream, each in a connection of its own, all get one alert.

The web app runs in a process of its own (as ``bench.app_stream`` runs it),
the clients in four more. What is asserted: every client read the event,
once. What is reported, not asserted (the machine is shared): the time
until the last client had it, and the server's RSS before the clients
connected, with them connected, after they left, and at its peak.
"""

from __future__ import annotations

from pathlib import Path

from bench.app_stream import ProductInstallation, run_product

CLIENTS = 1000


def test_a_thousand_stream_clients_each_receive_the_alert(tmp_path: Path) -> None:
    installation = ProductInstallation(tmp_path)
    result = run_product(installation, CLIENTS, processes=4)
    print(f"\n{CLIENTS} stream clients: the last had the alert {result.seconds:.3f} s after"
          f" publishing (hand-over {result.hand_over_seconds:.3f} s); server memory (KiB):"
          f" {result.memory}")
    assert result.missed == 0
    assert result.size > 0
