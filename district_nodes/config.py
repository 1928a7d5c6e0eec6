"""A district node's configuration: one TOML file, read once at start-up.

Relative paths in the file are taken from the file's own directory, so a
node's configuration and its secrets can move together. Secrets (the token
the center presents, the node's credential for the center) live in files of
their own, named here, never in the configuration itself.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from district_nodes.agencies import NodeAgency, read_agencies
from district_nodes.config_values import NodeConfigError, read_secret, required_text
from district_nodes.sms_group import SMS, SmsGroupError, SmsRecipient, read_group
from publisher.cap.districts import District, UnknownDistrictError, load_districts
from publisher.cap.signature_verify import load_certificates

__all__ = ["DEVICE_KINDS", "LocalDevice", "NodeConfig", "NodeConfigError", "load_node_config"]

DEVICE_KINDS = ("led", "speaker")
DEFAULT_HEARTBEAT_INTERVAL = 30.0
DEFAULT_CATCH_UP_PAGE = 100


@dataclass(frozen=True, slots=True)
class LocalDevice:
    """One of the node's own boards or speakers, as its device list names it."""

    device_id: str
    kind: str
    endpoint: str
    token: str = field(repr=False)
    lon: float
    lat: float
    language: str
    capabilities: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class NodeConfig:
    code: str
    district: District
    sender: str
    sender_name: str
    center_url: str
    center_certificates: tuple[x509.Certificate, ...]
    center_token: str = field(repr=False)
    credential: str = field(repr=False)
    key_pem: bytes = field(repr=False)
    certificate_pem: bytes
    listen_host: str
    listen_port: int
    public_url: str
    data_dir: Path
    heartbeat_interval: float
    catch_up_page: int
    channel_options: Mapping[str, Mapping[str, Any]] = field(repr=False)
    devices: tuple[LocalDevice, ...]
    sms_group: tuple[SmsRecipient, ...] = ()
    agencies: tuple[NodeAgency, ...] = ()
    """The agencies whose intake the node takes (``district_nodes.agencies``)."""

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'node.sqlite3'}"

    def devices_of(self, kind: str) -> list[LocalDevice]:
        return [device for device in self.devices if device.kind == kind]


def _table(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise NodeConfigError(f"[{key}]: must be a table")
    return value


def _number(table: Mapping[str, Any], section: str, key: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise NodeConfigError(f"{section}.{key}: {value!r} is not a positive number")
    return float(value)


def _path(base: Path, table: Mapping[str, Any], section: str, key: str) -> Path:
    return (base / required_text(table, section, key)).resolve()


def _read_bytes(path: Path, where: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise NodeConfigError(f"{where}: {path}: {error.strerror}") from None


def _boundary(value: Any, where: str) -> tuple[tuple[float, float], ...]:
    if not isinstance(value, list) or len(value) < 4:
        raise NodeConfigError(f"{where}: a closed ring of at least 4 [lon, lat] pairs")
    ring: list[tuple[float, float]] = []
    for index, pair in enumerate(value):
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(number, int | float) for number in pair)):
            raise NodeConfigError(f"{where}[{index}]: {pair!r} is not a [lon, lat] pair")
        ring.append((float(pair[0]), float(pair[1])))
    if ring[0] != ring[-1]:
        raise NodeConfigError(f"{where}: the first pair must be repeated at the end")
    return tuple(ring)


def _district(base: Path, table: Mapping[str, Any], code: str) -> District:
    districts_file = (base / required_text(table, "jurisdiction", "districts_file",
                                   "../districts.toml")).resolve()
    try:
        known = load_districts(districts_file).get(code)
    except (OSError, ValueError) as error:
        raise NodeConfigError(f"jurisdiction.districts_file: {error}") from None
    except UnknownDistrictError as error:
        raise NodeConfigError(f"jurisdiction.code: {error}") from None
    if "boundary" not in table:
        return known
    return District(code=known.code, name_zh=known.name_zh, name_en=known.name_en,
                    level=known.level,
                    boundary=_boundary(table["boundary"], "jurisdiction.boundary"))


def _device(entry: Any, where: str) -> LocalDevice:
    if not isinstance(entry, dict):
        raise NodeConfigError(f"{where}: must be an object")
    kind = required_text(entry, where, "kind")
    if kind not in DEVICE_KINDS:
        raise NodeConfigError(f"{where}.kind: {kind!r} is not one of {', '.join(DEVICE_KINDS)}")
    lon, lat = entry.get("lon"), entry.get("lat")
    if not isinstance(lon, int | float) or not isinstance(lat, int | float):
        raise NodeConfigError(f"{where}.lon/lat: the device's position is required")
    capabilities = entry.get("capabilities", {})
    if not isinstance(capabilities, dict):
        raise NodeConfigError(f"{where}.capabilities: must be an object")
    return LocalDevice(device_id=required_text(entry, where, "device_id"), kind=kind,
                       endpoint=required_text(entry, where, "endpoint"),
                       token=required_text(entry, where, "token"), lon=float(lon), lat=float(lat),
                       language=required_text(entry, where, "language", "zh-CN"),
                       capabilities=capabilities)


def _devices(base: Path, table: Mapping[str, Any]) -> tuple[LocalDevice, ...]:
    if "devices_file" not in table:
        return ()
    path = _path(base, table, "node", "devices_file")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        # The simulators write the list when they start; a node without one drives nothing yet.
        return ()
    except (OSError, ValueError) as error:
        raise NodeConfigError(f"node.devices_file: {path}: {error}") from None
    if not isinstance(entries, list):
        raise NodeConfigError(f"node.devices_file: {path} is not a JSON array of devices")
    return tuple(_device(entry, f"node.devices_file[{index}]")
                 for index, entry in enumerate(entries))


def _channel_options(document: Mapping[str, Any], data_dir: Path,
                     public_url: str) -> dict[str, dict[str, Any]]:
    channels = _table(document, "channels")
    options: dict[str, dict[str, Any]] = {}
    for kind in DEVICE_KINDS:
        own = channels.get(kind, {})
        if not isinstance(own, dict):
            raise NodeConfigError(f"channels.{kind}: must be a table")
        # Local devices ack to, and fetch audio from, this node and nowhere else.
        options[kind] = {**own, "callback_url": public_url}
    options["speaker"].setdefault("audio_dir", str(data_dir / "audio"))
    return options


def _sms(base: Path, channels: Mapping[str, Any]
         ) -> tuple[dict[str, Any] | None, tuple[SmsRecipient, ...]]:
    """``[channels.sms]``: the SMS channel's options (the center's ``channel_options.sms``
    keys, with ``password_file`` for the password) and the group it reaches."""
    table = channels.get(SMS)
    if table is None:
        return None, ()
    if not isinstance(table, dict):
        raise NodeConfigError("channels.sms: must be a table")
    options = {key: value for key, value in table.items()
               if key not in ("group_file", "password_file")}
    if "password_file" in table:
        options["password"] = read_secret(_path(base, table, "channels.sms", "password_file"),
                                           "channels.sms.password_file")
    try:
        group = read_group(_path(base, table, "channels.sms", "group_file"),
                           "channels.sms.group_file")
    except SmsGroupError as error:
        raise NodeConfigError(str(error)) from None
    return options, group


def load_node_config(path: Path) -> NodeConfig:
    """Read and check the node's configuration; raises NodeConfigError naming the key."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise NodeConfigError(f"{path}: {error}") from None
    base = path.resolve().parent
    node, jurisdiction = _table(document, "node"), _table(document, "jurisdiction")
    center, signing = _table(document, "center"), _table(document, "signing")
    code = required_text(jurisdiction, "jurisdiction", "code")
    district = _district(base, jurisdiction, code)
    host = required_text(node, "node", "listen_host", "127.0.0.1")
    port = node.get("listen_port")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise NodeConfigError(f"node.listen_port: {port!r} is not a port number")
    public_url = required_text(node, "node", "public_url", f"http://{host}:{port}").rstrip("/")
    data_dir = _path(base, node, "node", "data_dir")
    channel_options: dict[str, Mapping[str, Any]] = {
        **_channel_options(document, data_dir, public_url)}
    sms_options, sms_group = _sms(base, _table(document, "channels"))
    if sms_options is not None:
        channel_options[SMS] = sms_options
    agencies = read_agencies(base, document.get("agencies"), district)
    certificate_path = _path(base, center, "center", "certificate")
    try:
        trusted = tuple(load_certificates([certificate_path]))
    except (OSError, ValueError) as error:
        raise NodeConfigError(f"center.certificate: {error}") from None
    return NodeConfig(
        code=code, district=district,
        sender=required_text(node, "node", "sender", f"district-{code}@alerts.beijing.gov.cn"),
        sender_name=required_text(node, "node", "sender_name",
                                  f"{district.name_zh}预警信息发布分中心"),
        center_url=required_text(center, "center", "url").rstrip("/"),
        center_certificates=trusted,
        center_token=read_secret(_path(base, center, "center", "token_file"),
                                  "center.token_file"),
        credential=read_secret(_path(base, center, "center", "credential_file"),
                                "center.credential_file"),
        key_pem=_read_bytes(_path(base, signing, "signing", "key"), "signing.key"),
        certificate_pem=_read_bytes(_path(base, signing, "signing", "certificate"),
                                    "signing.certificate"),
        listen_host=host, listen_port=port, public_url=public_url, data_dir=data_dir,
        heartbeat_interval=_number(node, "node", "heartbeat_interval",
                                   DEFAULT_HEARTBEAT_INTERVAL),
        catch_up_page=int(_number(node, "node", "catch_up_page", DEFAULT_CATCH_UP_PAGE)),
        channel_options=channel_options, devices=_devices(base, node), sms_group=sms_group,
        agencies=agencies,
    )
