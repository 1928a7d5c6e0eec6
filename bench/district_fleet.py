"""The nodes and boards of the district push benchmark: configurations, identities, boards.

Node ``i`` serves district ``i mod 16`` of Beijing: with 16 nodes, one per
district (named by its code, ``110105``); with more, several street-level
nodes per district (``110105-s02``), each with the district's jurisdiction.
Each node has its own port, SQLite store, credential for the center and
list of ``--devices-per-node`` LED boards placed inside its district
(``led-<node>-01``...). Every node of a district signs with that
district's key: the key signs only district alerts, which this benchmark
does not make, and generating an RSA 3072 key per street node would take
longer than the runs.

Nodes are spread round-robin over the host processes. Each host serves
its nodes' boards on one port and the stand-in center (the nodes'
catch-up and receipts, and the bare endpoint) on another.
"""

from __future__ import annotations

import dataclasses
import secrets
import socket
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from publisher.cap.districts import District, load_districts
from publisher.cap.keys import generate_demo_identity
from publisher.sim.device_fleet import SimulatedDevice, place_devices, write_device_list
from publisher.sim.led import LED_CAPABILITIES

__all__ = ["DISTRICTS_FILE", "LOCALHOST", "Host", "PlannedNode", "plan_fleet"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DISTRICTS_FILE = PROJECT_ROOT / "config" / "districts.toml"
LOCALHOST = "127.0.0.1"
_CREDENTIAL_BYTES = 24


@dataclass(frozen=True, slots=True)
class Host:
    """One process: the nodes it serves, their boards' port and its stand-in center's port."""

    number: int
    directory: Path
    board_port: int
    center_port: int

    @property
    def board_url(self) -> str:
        return f"http://{LOCALHOST}:{self.board_port}"

    @property
    def center_url(self) -> str:
        return f"http://{LOCALHOST}:{self.center_port}"


@dataclass(frozen=True, slots=True)
class PlannedNode:
    name: str
    district: District
    port: int
    config: Path
    credential: str = field(repr=False)
    devices: tuple[SimulatedDevice, ...]
    host: Host

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: bound all at once, so that none is handed out twice."""
    with ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind((LOCALHOST, 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def _node_name(index: int, district: District, count: int, per_district: int) -> str:
    if count <= per_district:
        return district.code
    return f"{district.code}-s{index // per_district + 1:02d}"


def _boards(name: str, district: District, count: int, seed: int) -> tuple[
        SimulatedDevice, ...]:
    placed = place_devices("led", count, [district], capabilities=LED_CAPABILITIES, seed=seed)
    return tuple(dataclasses.replace(device, device_id=f"led-{name}-{number:02d}")
                 for number, device in enumerate(placed, start=1))


def _write_config(node: PlannedNode, directory: Path, center_certificate: Path,
                  identity: tuple[Path, Path]) -> None:
    own = directory / node.name
    (own / "credential").write_text(node.credential, encoding="utf-8")
    write_device_list(own / "devices.json", node.devices, node.host.board_url)
    key, certificate = identity
    node.config.write_text(f"""\
[node]
listen_host = "{LOCALHOST}"
listen_port = {node.port}
data_dir = "{own / 'data'}"
devices_file = "{own / 'devices.json'}"

[jurisdiction]
code = "{node.district.code}"
districts_file = "{DISTRICTS_FILE}"

[center]
url = "{node.host.center_url}"
certificate = "{center_certificate}"
token_file = "{directory / 'center_token'}"
credential_file = "{own / 'credential'}"

[signing]
key = "{key}"
certificate = "{certificate}"
""", encoding="utf-8")


def plan_fleet(directory: Path, *, nodes: int, devices_per_node: int, hosts: int,
               center_certificate: Path, center_token: str) -> list[PlannedNode]:
    """Write the configurations, secrets and board lists of ``nodes`` nodes under ``directory``."""
    districts: Sequence[District] = sorted(
        (district for district in load_districts(DISTRICTS_FILE) if district.level == "district"),
        key=lambda district: district.code)
    (directory / "center_token").write_text(center_token, encoding="utf-8")
    count = min(hosts, nodes)
    ports = iter(_free_ports(nodes + 2 * count))
    processes = [Host(number, directory / f"host-{number}", next(ports), next(ports))
                 for number in range(count)]
    identities: dict[str, tuple[Path, Path]] = {}
    planned = []
    for index in range(nodes):
        district = districts[index % len(districts)]
        name = _node_name(index, district, nodes, len(districts))
        node = PlannedNode(name=name, district=district, port=next(ports),
                           config=directory / name / "node.toml",
                           credential=secrets.token_urlsafe(_CREDENTIAL_BYTES),
                           devices=_boards(name, district, devices_per_node, seed=index),
                           host=processes[index % len(processes)])
        node.config.parent.mkdir(parents=True)
        if district.code not in identities:
            identities[district.code] = generate_demo_identity(
                directory / "identities" / district.code, f"{district.name_en} district node")
        _write_config(node, directory, center_certificate, identities[district.code])
        planned.append(node)
    for host in processes:
        host.directory.mkdir()
    return planned
