"""The terminals' fast path: an early warning published to its MQTT terminals by the web process.

Terminals are the quickest way to people and machines (a school's bell, a
train's brakes), so the process that accepted the warning publishes to them
itself, on its open MQTT connections, as soon as the center's message is
signed and journalled, while its transaction commits (``eew_early``): before
any delivery row is written, and without waiting for the lane. One
publication per district, sector and test flag (``TopicGroup``) in each form,
not one per terminal: the broker fans out. Each district gets its own
countdown in the compact form, as the lane would give it
(``eew_text.for_district``); the signed XML is the center's, the same for
all, so every group's goes out first, before a compact form is rendered.

The bookkeeping follows on the lane, which is told which groups were
published (``EewLaneSender``): it writes every delivery row as for any
warning and records those terminals as sent with the provider ids their
acks name, without publishing to those groups again
(``MqttChannel.send_leaving_out``). An ack that arrives before its row is
recorded is stored as unknown and found by the rematching the recording
does in the same transaction. If the process dies between the publish and
the lane, the outbox relay's ordinary fan-out plans the rows and publishes
again (before the commit: the journal's recovery stores it, and the outbox
then); a terminal acts on an identifier once, so nothing is lost or doubled.

The targets come from a ``TargetIndex`` of the MQTT channel alone (the same
rules and the same district per target as the lane), with each terminal's
topic group beside it, both read at start, again every ``REFRESH_SECONDS``
in the background, and at once when terminals were added since: planning a
warning reads nothing but one probe of the targets' primary key. A terminal
added after that probe is left to the lane, which publishes to any terminal
whose group the fast path did not.

The broker takes only a few unacknowledged publications from a client at a
time (its MQTT 5 receive maximum: 20 on Mosquitto), so a city's hundreds of
publications would go out in many round trips, each waiting for the MQTT
client's network thread. The fast path publishes on ``CONNECTIONS``
connections of its own side by side.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.districts import DistrictTable
from publisher.cap.model import Alert as CapAlert
from publisher.channels.base import OutgoingMessage
from publisher.channels.eew_text import for_district
from publisher.channels.mqtt import MqttChannel, TopicGroup, alert_expires
from publisher.channels.mqtt_client import MqttConnection, Publication
from publisher.channels.mqtt_protocol import CAP_FORMAT, JSON_FORMAT, TerminalAddress
from publisher.services.eew_index import TargetIndex
from publisher.services.targets import AreaSelection, reaches_only_test_targets
from publisher.store.models import Target

__all__ = ["MQTT_CHANNEL", "TerminalFastPath", "TerminalPlan"]

log = logging.getLogger("publisher.eew")

MQTT_CHANNEL = "mqtt"
CONNECTIONS = 4


@dataclass(frozen=True, slots=True)
class TerminalPlan:
    """The topic groups a warning reaches, by the district whose countdown each gets."""

    message: OutgoingMessage
    by_district: dict[str | None, list[TopicGroup]]

    @property
    def groups(self) -> list[TopicGroup]:
        return [group for groups in self.by_district.values() for group in groups]


class TerminalFastPath:
    """Plans a warning's topic groups in the request, publishes them once it is committed.

    ``channel`` renders the publications (as the MQTT channel does); they go
    out on connections of the fast path's own, to the channel's broker.
    """

    def __init__(self, sessions: sessionmaker[Session], channel: MqttChannel,
                 districts: DistrictTable | None) -> None:
        self.index = TargetIndex(sessions, [MQTT_CHANNEL])
        self._sessions = sessions
        self._channel = channel
        self._districts = districts
        self._topics: dict[int, TopicGroup] = {}
        self.connections = [
            MqttConnection(channel.broker, f"{channel.connection.client_id}-eew-{number}")
            for number in range(CONNECTIONS)]
        self._senders = ThreadPoolExecutor(CONNECTIONS, thread_name_prefix="eew-terminals")
        # Apart, so that one warning's wait for its PUBACKs never holds up the next's plan.
        self._planning = ThreadPoolExecutor(1, thread_name_prefix="eew-terminals-plan")
        self._publishing = ThreadPoolExecutor(1, thread_name_prefix="eew-terminals-publish")

    def warm_up(self) -> None:
        """Before any quake: the broker connected and the terminals indexed."""
        for connection in self.connections:
            connection.start()
        self.refresh()

    def close(self) -> None:
        self._planning.shutdown(wait=True)
        self._publishing.shutdown(wait=True)
        self._senders.shutdown(wait=True)
        for connection in self.connections:
            connection.close()

    @property
    def connected(self) -> bool:
        return all(connection.connected for connection in self.connections)

    def refresh(self) -> float:
        """Read the terminals and their topic groups again; how long it took, in seconds."""
        started = time.perf_counter()
        self.index.refresh()
        self._topics = self._read_topics()
        return time.perf_counter() - started

    def _read_topics(self) -> dict[int, TopicGroup]:
        topics = {}
        with self._sessions() as session:
            for target_id, address, is_test in session.execute(
                    select(Target.id, Target.address, Target.is_test).where(
                        Target.channel == MQTT_CHANNEL, Target.active.is_(True))):
                try:
                    parsed = TerminalAddress.parse(address)
                except ValueError:  # the lane records its delivery as failed, with the reason
                    continue
                topics[target_id] = (parsed.district, parsed.sector, is_test)
        return topics

    def plan(self, message: OutgoingMessage) -> TerminalPlan:
        """The groups the message reaches; a terminal left out here is published to by the lane."""
        return TerminalPlan(message, self.groups_of(message.alert))

    def groups_of(self, alert: CapAlert) -> dict[str | None, list[TopicGroup]]:
        """The groups ``alert``'s areas and status reach, by district.

        The sender's message names the same areas and status as the center's,
        so the groups can be found while the center's message is being issued.
        """
        if self.index.catch_up():
            self._topics = self._read_topics()
        terminals = self.index.targets(MQTT_CHANNEL)
        if terminals is None:
            return {}
        reached = terminals.reached(AreaSelection.of_alert(alert, self._districts),
                                    test_only=reaches_only_test_targets(str(alert.status)),
                                    districts=self._districts)
        topics = self._topics
        by_district: dict[str | None, set[TopicGroup]] = defaultdict(set)
        for each in reached:
            group = topics.get(each.target_id)
            if group is not None:
                by_district[each.district_code].add(group)
        return {district: sorted(groups) for district, groups in by_district.items()}

    def groups_soon(self, alert: CapAlert) -> Future[dict[str | None, list[TopicGroup]]]:
        """``groups_of`` in the background, before the publication it is for."""
        return self._planning.submit(self.groups_of, alert)

    def publish(self, plan: TerminalPlan) -> list[TopicGroup]:
        """Publish the plan and wait for the broker's PUBACKs; the groups published.

        Nothing when the broker is not connected (the lane publishes then, at
        once, rather than this request waiting for a connection) or the
        message has expired; a broker error is logged and leaves them to the
        lane as well.
        """
        now = datetime.now(UTC)
        expires = alert_expires(plan.message)
        if not plan.by_district or (expires is not None and expires <= now):
            return []
        if not self.connected:
            for connection in self.connections:
                connection.start()
            log.warning("early warning not published to terminals from the web: the MQTT"
                        " broker is not connected; the lane publishes it",
                        extra={"alert_identifier": plan.message.identifier})
            return []
        started = time.perf_counter()
        try:
            count = self._publish_signed_then_compact(plan, now)
        except Exception as error:  # the lane publishes what was not acknowledged here
            log.warning("early warning not published to terminals from the web; the lane"
                        " publishes it", extra={"alert_identifier": plan.message.identifier,
                                                "error": str(error)})
            return []
        log.info("early warning published to terminals", extra={
            "alert_identifier": plan.message.identifier, "publications": count,
            "ms": round((time.perf_counter() - started) * 1000, 2)})
        return plan.groups

    def _publish_signed_then_compact(self, plan: TerminalPlan, now: datetime) -> int:
        """The signed form to every group, then each district's compact form; how many.

        The signed form is the same in every district, so it goes out before
        the compact forms, each district's own, are even rendered.
        """
        signed = self._channel.publications(plan.message, plan.groups, now,
                                            forms=(CAP_FORMAT,))
        sending = self._start_side_by_side(signed)
        compact = [publication for district, groups in plan.by_district.items()
                   for publication in self._channel.publications(
                       replace(plan.message, alert=for_district(plan.message.alert, district)),
                       groups, now, forms=(JSON_FORMAT,))]
        sending += self._start_side_by_side(compact)
        wait(sending)
        for done in sending:
            done.result()
        return len(signed) + len(compact)

    def publish_soon(self, plan: TerminalPlan) -> Future[list[TopicGroup]]:
        """``publish`` in the background: the caller's transaction goes on meanwhile."""
        return self._publishing.submit(self.publish, plan)

    def _start_side_by_side(self, publications: Sequence[Publication]) -> list[Future[None]]:
        """Each connection its share, in order, in the background."""
        count = len(self.connections)
        return [self._senders.submit(connection.publish, publications[number::count])
                for number, connection in enumerate(self.connections)
                if publications[number::count]]
