"""Targets for the fault cases: a device simulator's devices registered, WeChat followers.

The cases write them straight into the installation's database, as the
registration and subscription services would have, so that each case
spends its time on the fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert

from publisher.sim.device_sim import DeviceSimulator, DeviceSimulatorThread
from publisher.store.models import Device, DeviceKind, Target
from tests.faults.installation import FaultInstallation
from tests.integration.fanout_support import CHAOYANG

__all__ = ["add_followers", "register_devices"]


def register_devices(installation: FaultInstallation,
                     devices: DeviceSimulatorThread[Any], kind: DeviceKind) -> None:
    """Every device of the simulator, as a test target of the channel named like ``kind``."""
    simulator: DeviceSimulator = devices.simulator
    with installation.session_factory() as session:
        for device in simulator.devices.values():
            target_id = session.scalar(insert(Target).values(
                channel=kind.value, address=simulator.endpoint(device.device_id),
                district_code=device.district_code, lon=device.lon, lat=device.lat,
                language=device.language, is_test=True).returning(Target.id))
            session.execute(insert(Device).values(
                device_id=device.device_id, kind=kind, target_id=target_id,
                capabilities=dict(device.capabilities)))
        session.commit()


def add_followers(installation: FaultInstallation, openids: Sequence[str]) -> None:
    """WeChat followers in Chaoyang reading Chinese, as test targets."""
    with installation.session_factory() as session:
        session.execute(insert(Target), [
            {"channel": "wechat", "address": openid, "district_code": CHAOYANG,
             "language": "zh-CN", "is_test": True, "active": True} for openid in openids])
        session.commit()
