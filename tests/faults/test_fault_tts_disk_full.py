"""The disk of the speech cache is full when an alert is to be spoken.

The speaker worker (``publisher worker --queues fanout,channel.speaker``)
caches its announcements in a small tmpfs of its own, filled to the last
block before the alert. Its batch must fail clearly: the deliveries go back
to the queue with a reason naming the cache and the full disk, no speaker is
pushed anything, and no half-written file is left in the cache. Once space
is freed, the batch's retry makes the audio and pushes each speaker once.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from publisher.channels.base import DeliveryStatus
from publisher.channels.speech import wav_seconds
from publisher.sim.device_fleet import place_devices
from publisher.sim.device_sim import DeviceSimConfig, DeviceSimulatorThread
from publisher.sim.speaker import SpeakerSimulator
from publisher.store.models import Device, DeviceKind, Target
from tests.channels.device_support import districts
from tests.faults.case_support import (
    installation,
    rows_by_address,
    running_worker,
    skip_or_fail,
)
from tests.faults.installation import FaultInstallation, status_counts
from tests.integration.fanout_support import CHAOYANG, geocoded, publish

__all__ = ["installation"]

SPEAKERS = 20
QUEUES = ("fanout", "channel.speaker")
# Room for one announcement (three times a 6 s sentence: under 1 MB), once freed.
CACHE_SIZE = "4m"
FAILURE_SECONDS = 60.0
RETRY_SECONDS = 75.0
NO_SPACE = os.strerror(28)  # ENOSPC: "No space left on device"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of ``CACHE_SIZE`` mounted for the case; unmounted after."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        skip_or_fail("mounting a small tmpfs for the speech cache needs root and mount(8)")
    mountpoint = tmp_path / "small-disk"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={CACHE_SIZE}", "tmpfs",
                    str(mountpoint)], check=True, capture_output=True, timeout=30)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False, capture_output=True,
                       timeout=30)


def _fill(disk: Path) -> Path:
    """Write zeros to ``disk`` until it refuses another byte; the file that holds them."""
    filler = disk / "filler"
    with filler.open("wb") as stream:
        try:
            while True:
                stream.write(b"\0" * 65_536)
                stream.flush()
        except OSError as error:
            assert error.errno == 28, error
    assert os.statvfs(disk).f_bavail == 0
    return filler


@pytest.fixture
def speakers(tmp_path: Path) -> Iterator[DeviceSimulatorThread[SpeakerSimulator]]:
    devices = place_devices("speaker", SPEAKERS, districts(CHAOYANG), seed=11)
    # Their acks go nowhere: the case reads what each speaker was pushed.
    config = DeviceSimConfig(data_dir=tmp_path / "speakers", ack_attempts=1)
    running = SpeakerSimulator(config, devices, playback_speed=0).start_in_thread()
    yield running  # type: ignore[misc]
    running.stop()


def _register(installation: FaultInstallation,
              speakers: DeviceSimulatorThread[SpeakerSimulator]) -> None:
    with installation.session_factory() as session:
        for device in speakers.simulator.devices.values():
            target_id = session.scalar(insert(Target).values(
                channel="speaker", address=speakers.simulator.endpoint(device.device_id),
                district_code=device.district_code, lon=device.lon, lat=device.lat,
                language=device.language, is_test=True).returning(Target.id))
            session.execute(insert(Device).values(
                device_id=device.device_id, kind=DeviceKind.SPEAKER, target_id=target_id,
                capabilities=dict(device.capabilities)))
        session.commit()


def test_full_speech_cache_fails_clearly_then_speaks_once_freed(
        installation: FaultInstallation, small_disk: Path,
        speakers: DeviceSimulatorThread[SpeakerSimulator]) -> None:
    cache = small_disk / "audio"
    installation.configure(["speaker"], {"speaker": {
        "callback_url": "http://127.0.0.1:9", "audio_dir": str(cache)}}, batch_size=SPEAKERS)
    _register(installation, speakers)
    filler = _fill(small_disk)
    with installation.session_factory() as session:
        message_id = publish(session, areas=geocoded(CHAOYANG),
                             sent=datetime.now(UTC) - timedelta(minutes=1)).id

    def rows_errors() -> set[str | None]:
        return {row.last_error for row in rows_by_address(installation, message_id).values()}

    with running_worker(installation, "speaker", QUEUES):
        installation.wait(lambda: any(rows_errors()), FAILURE_SECONDS,
                          "the batch failing on the full disk",
                          lambda: status_counts(installation.session_factory, message_id))
        failed = rows_by_address(installation, message_id)
        assert {row.status for row in failed.values()} <= {
            DeliveryStatus.QUEUED, DeliveryStatus.SENDING}, status_counts(
                installation.session_factory, message_id)
        reasons = {row.last_error for row in failed.values()}
        assert reasons == {f"audio cache {cache}: cannot store the announcement"
                           f" ({NO_SPACE})"}, reasons
        assert speakers.received() == []
        # Nothing half-written: only the cache's lock file. Looked at under that lock,
        # as the cache itself works: a retry may be making its file at this moment.
        with open(cache / ".making.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                assert [path.name for path in cache.iterdir()] == [".making.lock"]
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        assert installation.workers["speaker"].poll() is None, installation.logs()

        filler.unlink()
        installation.wait(
            lambda: all(row.status.was_handed_over
                        for row in rows_by_address(installation, message_id).values()),
            RETRY_SECONDS, "every delivery handed over once space was freed",
            lambda: status_counts(installation.session_factory, message_id))

    rows = rows_by_address(installation, message_id)
    assert len(rows) == SPEAKERS
    assert all(row.status is DeliveryStatus.SENT for row in rows.values()), \
        status_counts(installation.session_factory, message_id)
    pushes = Counter((push.device_id, str(push.body["delivery"]))
                     for push in speakers.received())
    by_address = {speakers.simulator.endpoint(device_id): device_id
                  for device_id in speakers.simulator.devices}
    assert pushes == {(by_address[address], str(row.id)): 1 for address, row in rows.items()}
    # Every speaker was told to play the one announcement, now whole in the cache.
    played = {Path(str(push.body["audio_url"])).name for push in speakers.received()}
    assert len(played) == 1, played
    assert wav_seconds(cache / played.pop()) > 5
    assert not [path for path in cache.iterdir() if path.name.endswith(".partial")]
