"""A center and one district node as deployed, each link between them through a PartitionLink.

The center is the installation's processes: ``publisher web`` (the node's
catch-up stream and receipts), ``publisher worker --queues
fanout,channel.district`` (the pushes) and ``publisher beat`` (outbox relay
and heartbeats). Its alerts are composed and approved through the lifecycle
services, signed with the installation's center key. The node is
``publisher district-node`` (Chaoyang) with two simulated boards; it knows
the center only through one link and is registered at the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from publisher.cap.districts import load_districts
from publisher.config import load_paths, load_settings
from publisher.local_ports import free_port
from publisher.services.district_names import DistrictNames
from publisher.services.district_nodes import add_node, find_node, is_offline
from publisher.services.lifecycle import approve, cancel, compose, submit, update
from publisher.services.signer import CERTIFICATE_FILE, CenterSigner
from publisher.sim.device_sim import DeviceSimulatorThread
from publisher.sim.led import LedBoardSimulator
from publisher.store.db import session_scope
from publisher.store.models import Delivery, Message, utcnow
from tests.district_nodes.node_support import CODE, FakeCenter, NodeProcess, board_fleet
from tests.e2e.worker_support import stop
from tests.faults.installation import FaultInstallation, answers
from tests.faults.partition_link import PartitionLink
from tests.integration.lifecycle_support import People, content, make_people

__all__ = ["CenterAndNode", "center_and_node"]

CENTER_TOKEN = "center-token-of-the-partition-case"
DISTRICT_QUEUES = ("fanout", "channel.district")
START_SECONDS = 90.0


@dataclass
class CenterAndNode:
    installation: FaultInstallation
    signer: CenterSigner
    people: People
    node: NodeProcess
    boards: DeviceSimulatorThread[LedBoardSimulator]
    to_node: PartitionLink    # the center's pushes and heartbeats
    to_center: PartitionLink  # the node's catch-up, receipts and alerts

    def partition(self) -> None:
        self.to_node.partition()
        self.to_center.partition()

    def heal(self) -> None:
        self.to_node.heal()
        self.to_center.heal()

    def publish(self, headline: str) -> Message:
        """A new Exercise alert, composed, submitted and approved; its first message."""
        with session_scope(self.installation.session_factory) as session:
            alert = compose(session, self.people.author, content(headline=headline))
            submit(session, self.people.author, alert.id)
            return approve(session, self.people.approver, alert.id, self.signer)

    def update(self, alert_id: int, headline: str) -> Message:
        with session_scope(self.installation.session_factory) as session:
            return update(session, self.people.approver, alert_id, content(headline=headline),
                          self.signer)

    def cancel(self, alert_id: int) -> Message:
        with session_scope(self.installation.session_factory) as session:
            return cancel(session, self.people.approver, alert_id, self.signer,
                          reason="the rain has passed")

    def node_offline(self) -> bool:
        """Whether the center shows the node offline now."""
        with self.installation.session_factory() as session:
            node = find_node(session, CODE)
            assert node is not None
            return is_offline(node, utcnow())

    def node_deliveries(self) -> dict[str, list[Delivery]]:
        """The center's delivery rows to the node, by message identifier."""
        with self.installation.session_factory() as session:
            node = find_node(session, CODE)
            assert node is not None
            found: dict[str, list[Delivery]] = {}
            for delivery, identifier in session.execute(
                    select(Delivery, Message.identifier)
                    .join(Message, Message.id == Delivery.message_id)
                    .where(Delivery.target_id == node.target_id)):
                found.setdefault(identifier, []).append(delivery)
            return found


def _register(installation: FaultInstallation, node: NodeProcess, url: str,
              interval: int) -> None:
    """Register the node at ``url`` as a test target; its credential in its file."""
    names = DistrictNames(load_districts(load_paths().districts_file))
    with session_scope(installation.session_factory) as session:
        added = add_node(session, {
            "code": CODE, "url": url, "heartbeat_interval": interval,
            "certificate_pem": (node.directory / "identity" / "cert.pem").read_text()}, names)
        added.node.target.is_test = True
        credential = added.credential
    (node.directory / "credential").write_text(credential)


@contextmanager
def center_and_node(installation: FaultInstallation, directory: Path,
                    heartbeat_interval: int) -> Iterator[CenterAndNode]:
    """The center's processes and the node, running, linked through two PartitionLinks."""
    installation.configure(["district"], {"district": {"center_token": CENTER_TOKEN,
                                                       "timeout": 5}}, batch_size=10)
    factory = installation.session_factory
    settings = load_settings({}, data_dir=installation.directory)
    signer = CenterSigner.load_or_create(settings)
    people = make_people(factory)
    web_port = free_port()
    with ExitStack() as stack:
        to_center = PartitionLink(web_port)
        stack.callback(to_center.close)
        # The node's view of the center: the link's address, the center's token and key.
        holder = FakeCenter(directory / "center-holder")
        holder.url, holder.token = to_center.url, CENTER_TOKEN
        holder.certificate = settings.paths.keys_dir / CERTIFICATE_FILE
        simulator, devices_file = stack.enter_context(board_fleet(directory, 2, ack_delay=0.05))
        node_directory = directory / "node"
        node_directory.mkdir()
        node = NodeProcess(node_directory, holder, devices_file,
                           heartbeat_interval=heartbeat_interval)
        stack.callback(node.stop)
        to_node = PartitionLink(node.port)
        stack.callback(to_node.close)
        _register(installation, node, to_node.url, heartbeat_interval)

        for name, arguments in (("web", ("web", "--host", "127.0.0.1", "--port", str(web_port))),
                                ("worker", ("worker", "--pool", "solo", "--queues",
                                            ",".join(DISTRICT_QUEUES))),
                                ("beat", ("beat",))):
            stack.callback(stop, installation.start(name, *arguments))
        installation.wait(lambda: answers(f"http://127.0.0.1:{web_port}/health"),
                          START_SECONDS, "the center's web answering")
        node.start()
        yield CenterAndNode(installation, signer, people, node, simulator, to_node, to_center)
