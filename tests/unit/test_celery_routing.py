"""Every task lands in exactly one queue: batches in their channel's, the rest in fan-out's."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from publisher.celery_app import FANOUT_QUEUE, channel_queue, make_celery
from publisher.config import load_settings


def test_each_queue_has_its_own_binding(tmp_path: Path) -> None:
    settings = replace(load_settings({}, tmp_path), channels=("memory", "sms", "led"))
    app = make_celery(settings)
    bindings = [(queue.exchange.name, queue.routing_key) for queue in app.amqp.queues.values()]
    # fanout, a queue per channel, and the SMS early warnings' own (channel.sms.eew)
    assert len(bindings) == len(set(bindings)) == 5

    def routed(task: str, args: tuple[object, ...]) -> tuple[str, str]:
        queue = app.amqp.router.route({}, task, args=args, kwargs={})["queue"]
        # A direct exchange delivers to every queue bound with this key.
        matches = [name for name, bound in app.amqp.queues.items()
                   if (bound.exchange.name, bound.routing_key)
                   == (queue.exchange.name, queue.routing_key)]
        assert matches == [queue.name]
        return queue.name, queue.routing_key

    assert routed("publisher.send_batch", ("sms", [1, 2])) == (channel_queue("sms"),) * 2
    assert routed("publisher.fanout", (7,)) == (FANOUT_QUEUE, FANOUT_QUEUE)
