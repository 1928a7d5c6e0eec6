"""The MQTT channel: alerts to industry terminals and infrastructure control systems.

Terminals in schools, hospitals, newsrooms and the control rooms of rail,
water, power, gas, heat and telecoms listen on a broker. Each is a target
(one delivery row each, as boards are) whose address names its district and
sector (``mqtt_protocol.TerminalAddress``). A batch is published once per
district and sector among its targets, not once per terminal, in two forms:
the signed CAP XML and the compact JSON (``mqtt_compact``), each retained
under a topic of its own message (docs/protocols/mqtt.md), at QoS 1, with
the MQTT 5 message expiry set to the alert's ``expires``: a terminal that
connects later gets every alert in force, and the broker drops an alert
when it expires. Every PUBACK is awaited within ``publish_timeout``; a
broker that is down or slow is a ``TransientChannelError`` and the fan-out
retries the batch. Each target is then SENT, with the provider id its ack
will name (``mqtt_protocol.provider_id``); the terminal's ack on
``acks/{terminal_id}`` is the receipt, recorded by the ack listener
(``publisher.services.terminal_acks``).

An Update is retained under its own topic and the messages it replaces are
cleared (an empty retained payload, which also tells the terminals
listening). A Cancel clears the messages it names and is published, not
retained, so that a terminal listening gets it signed and acks ``cleared``.

One connection per process (``mqtt_client.MqttConnection``), opened by the
first batch and kept: a priority lane publishes on it without connecting.

Options (``channel_options["mqtt"]``): ``host``, ``port``,
``connect_timeout``, ``publish_timeout`` (``mqtt_client.BrokerOptions``) and
``client_id`` (default: unique to the host and process).
"""

from __future__ import annotations

import collections
import logging
import math
import os
import socket
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from publisher.channels.base import (
    Channel,
    DeliveryStatus,
    OutgoingMessage,
    ParsedReceipt,
    PermanentChannelError,
    ReceiptError,
    SendResult,
    TargetRef,
)
from publisher.channels.device_push import expired_result, referenced_identifiers
from publisher.channels.mqtt_client import BrokerOptions, MqttConnection, Publication
from publisher.channels.mqtt_compact import compact_json
from publisher.channels.mqtt_protocol import (
    ACK_STATES,
    CAP_FORMAT,
    FORMATS,
    PUBLISHED_AT_PROPERTY,
    TerminalAddress,
    alert_topic,
    provider_id,
)

__all__ = ["MqttChannel", "TopicGroup", "alert_expires"]

log = logging.getLogger(__name__)

# What a terminal acks once it acts on a message: received an alert, or cleared one.
_DELIVERED_STATES = ("received", "cleared")
_FAILED_STATES = tuple(state for state in ACK_STATES if state not in _DELIVERED_STATES)


def alert_expires(message: OutgoingMessage) -> datetime | None:
    """When the whole message expires: its last info block's ``expires`` (None if one has none)."""
    moments = [info.expires for info in message.alert.infos]
    if not moments or any(moment is None for moment in moments):
        return None
    return max(moment for moment in moments if moment is not None)


TopicGroup = tuple[str, str, bool]
"""District, sector, and whether the terminals are test terminals: one set of topics."""


def _grouped(targets: Sequence[TargetRef], results: list[SendResult]
             ) -> dict[TopicGroup, list[tuple[TargetRef, TerminalAddress]]]:
    """The targets by the topics that reach them; one with a bad address fails in ``results``."""
    groups: dict[TopicGroup, list[tuple[TargetRef, TerminalAddress]]] = {}
    for target in targets:
        try:
            address = TerminalAddress.parse(target.address)
        except ValueError as error:
            results.append(SendResult(target.delivery_id, None, DeliveryStatus.FAILED,
                                      str(error)))
            continue
        key = (address.district, address.sector, target.is_test)
        groups.setdefault(key, []).append((target, address))
    return groups


def _clears(group: TopicGroup, identifiers: Sequence[str]) -> list[Publication]:
    district, sector, test = group
    return [Publication(alert_topic(district, sector, form, identifier, test=test), b"",
                        retain=True)
            for identifier in identifiers for form in FORMATS]


def _forms(message: OutgoingMessage, payloads: Mapping[str, bytes], group: TopicGroup, *,
           retain: bool, expires_in: int | None) -> list[Publication]:
    """A publication of each form in ``payloads``."""
    district, sector, test = group
    stamp = {PUBLISHED_AT_PROPERTY: datetime.now(UTC).isoformat()}
    return [Publication(alert_topic(district, sector, form, message.identifier, test=test),
                        payload, retain=retain, expires_in=expires_in, user_properties=stamp)
            for form, payload in payloads.items()]


class MqttChannel(Channel[bytes]):
    name = "mqtt"
    # One publication serves every terminal of a district and sector in the batch.
    batch_size = 5000
    # A terminal keeps one message per identifier: published twice, it acts once.
    idempotent_by_delivery_id = True
    inline_first_batch = False

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self.broker = BrokerOptions.read(self.options)
        client_id = self.options.get("client_id") or \
            f"publisher-{socket.gethostname()}-{os.getpid()}"
        if not isinstance(client_id, str):
            raise PermanentChannelError(
                f"channel_options.mqtt.client_id: {client_id!r} is not a string")
        self.connection = MqttConnection(self.broker, client_id)

    def render(self, message: OutgoingMessage, language: str) -> bytes:
        """The compact JSON form (the same for every language: it carries every info block)."""
        return compact_json(message)

    def send(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        return self.send_leaving_out(message, targets, frozenset())

    def send_leaving_out(self, message: OutgoingMessage, targets: Sequence[TargetRef],
                         published: Collection[TopicGroup]) -> list[SendResult]:
        """``send``, less the publications of the groups in ``published``.

        Those were put out already (the early warning's fast path publishes
        before any delivery row exists): their targets are SENT all the same,
        with the provider ids their acks name.
        """
        results: list[SendResult] = []
        expires = alert_expires(message)
        now = datetime.now(UTC)
        live = []
        for target in targets:
            expired = expired_result(target.delivery_id, expires, now)
            if expired is None:
                live.append(target)
            else:
                results.append(expired)
        groups = _grouped(live, results)
        publications = self.publications(message, [group for group in groups
                                                   if group not in published], now)
        self.connection.publish(publications)
        results += self._sent(message, groups)
        _log_batch("mqtt terminals sent", message, len(publications), results)
        return results

    def publications(self, message: OutgoingMessage, groups: Sequence[TopicGroup],
                     now: datetime, *, forms: Sequence[str] = FORMATS) -> list[Publication]:
        """What reaches the terminals of ``groups``: the message retained in ``forms``
        (both by default), and the clearing of those it replaces, which goes with the
        signed form."""
        if not groups:
            return []
        expires = alert_expires(message)
        expires_in = None if expires is None else math.ceil((expires - now).total_seconds())
        replaced = referenced_identifiers(message.alert) if CAP_FORMAT in forms else []
        payloads = self._payloads(message, forms)
        return [publication for group in groups for publication in (
            *_forms(message, payloads, group, retain=True, expires_in=expires_in),
            *_clears(group, replaced))]

    def cancel(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        """Clear what ``message`` (the Cancel) names, and publish the Cancel to those listening."""
        cancelled = referenced_identifiers(message.alert)
        if not cancelled:
            raise PermanentChannelError(f"references: Cancel {message.identifier} names no"
                                        " message to clear")
        results: list[SendResult] = []
        groups = _grouped(targets, results)
        payloads = self._payloads(message)
        publications = [publication for group in groups for publication in (
            *_clears(group, cancelled),
            *_forms(message, payloads, group, retain=False, expires_in=None))]
        self.connection.publish(publications)
        results += self._sent(message, groups)
        _log_batch("mqtt terminals cleared", message, len(publications), results)
        return results

    def parse_receipt(self, raw: Mapping[str, Any]) -> ParsedReceipt:
        """A terminal's ack as the listener stores it: received or cleared is DELIVERED."""
        fields = {}
        for name in ("terminal", "identifier", "state"):
            value = raw.get(name)
            if not isinstance(value, str) or not value:
                raise ReceiptError(name, f"{value!r} is not a non-empty string")
            fields[name] = value
        detail = raw.get("detail") or ""
        if not isinstance(detail, str):
            raise ReceiptError("detail", f"{detail!r} is not text")
        state = fields["state"]
        if state in _DELIVERED_STATES:
            status = DeliveryStatus.DELIVERED
        elif state in _FAILED_STATES:
            status = DeliveryStatus.FAILED
        else:
            raise ReceiptError("state", f"{state!r} is not one of {', '.join(ACK_STATES)}")
        return ParsedReceipt(provider_id(fields["terminal"], fields["identifier"]), status,
                             f"{state}: {detail}" if detail else state)

    def close(self) -> None:
        self.connection.close()

    def _payloads(self, message: OutgoingMessage,
                  forms: Sequence[str] = FORMATS) -> dict[str, bytes]:
        """Each of ``forms``, rendered only when asked for."""
        return {form: message.xml if form == CAP_FORMAT else self.render(message, "")
                for form in forms}

    @staticmethod
    def _sent(message: OutgoingMessage,
              groups: Mapping[TopicGroup, list[tuple[TargetRef, TerminalAddress]]]
              ) -> list[SendResult]:
        return [SendResult(target.delivery_id,
                           provider_id(address.terminal_id, message.identifier),
                           DeliveryStatus.SENT)
                for members in groups.values() for target, address in members]


def _log_batch(event: str, message: OutgoingMessage, publications: int,
               results: Sequence[SendResult]) -> None:
    counts = collections.Counter(result.status.value for result in results)
    log.info(event, extra={"alert_identifier": message.identifier, "publications": publications,
                           "counts": dict(counts)})
