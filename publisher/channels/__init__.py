"""Delivery channels: the Channel contract, the registry of channels by name, and the channels."""

from publisher.channels.base import (
    Channel,
    ChannelError,
    DeliveryStatus,
    OutgoingMessage,
    ParsedReceipt,
    PermanentChannelError,
    ReceiptError,
    SendResult,
    TargetRef,
    TransientChannelError,
)
from publisher.channels.registry import (
    UnknownChannelError,
    available_channels,
    channel_class,
    create_channel,
    register_channel,
)

__all__ = [
    "Channel",
    "ChannelError",
    "DeliveryStatus",
    "OutgoingMessage",
    "ParsedReceipt",
    "PermanentChannelError",
    "ReceiptError",
    "SendResult",
    "TargetRef",
    "TransientChannelError",
    "UnknownChannelError",
    "available_channels",
    "channel_class",
    "create_channel",
    "register_channel",
]
