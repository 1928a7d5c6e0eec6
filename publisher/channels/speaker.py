"""The speaker channel: alerts spoken by IP loudspeakers in communities and villages.

Each target is a speaker (a device row beside its target). ``send`` makes
the announcement's audio once per language of the batch (``speech``: an
attention tone, then the script ``repeat`` times; cached on disk, so every
speaker, batch and worker shares one synthesis) and pushes to each speaker
``{"action": "play", "audio_url", "repeat", "volume", "language", ...}``
through ``device_push`` (docs/protocols/speaker.md). The speaker fetches the
audio from the platform (``GET /audio/<key>.wav``), plays it, and acks
"played": that ack is the receipt. A message that has expired before it is
pushed is not played at all (EXPIRED).

A Cancel stops the speaker and plays a short all-clear instead, with its own
script; the speaker acks "stopped".

An earthquake early warning (``eew_text``) is pushed with ``"priority":
"interrupt"``: the speaker drops what it plays for it. Its audio is the
standard recording of the fixed words, made before any quake
(``prepare_eew_audio``), and the magnitude and countdown go beside it as
``text``.

The volume pushed is the speaker's own, as registered in its capabilities
(``{"formats": ["audio/wav"], "volume": 80, ...}``); a speaker registered
with formats that exclude WAV gets nothing (FAILED, saying so).

Options (``channel_options["speaker"]``): those of every device channel
(``device_push.DeviceOptions``: ``callback_url`` required, ``timeout``,
``concurrency``), and ``audio_dir`` (where audio is cached; configuration
loading fills in ``<data_dir>/audio``), ``repeat`` (3), ``volume`` (0-100,
100: for speakers registered without one), ``rate`` (words per minute,
``speech.DEFAULT_RATE``) and ``voices`` (espeak-ng voice per script
language, over ``speech.DEFAULT_VOICES``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from publisher.cap.model import Status
from publisher.channels.base import (
    Channel,
    DeliveryStatus,
    OutgoingMessage,
    ParsedReceipt,
    PermanentChannelError,
    SendResult,
    TargetRef,
)
from publisher.channels.device_push import (
    DeviceOptions,
    DevicePushClient,
    Push,
    expired_result,
    parse_ack,
    referenced_identifiers,
)
from publisher.channels.eew_text import (
    EEW_SCRIPTS,
    EEW_SOURCE,
    EEW_STATUSES,
    INTERRUPT,
    eew_script_text,
    is_interrupting,
)
from publisher.channels.sms_text import choose_info
from publisher.channels.speaker_script import render_script
from publisher.channels.speech import (
    DEFAULT_RATE,
    DEFAULT_VOICES,
    AnnouncementAudio,
    SpeechAudio,
    SpeechScript,
)
from publisher.channels.speech_cache import AudioCache, audio_path

__all__ = [
    "ALL_CLEAR_REPEAT",
    "AUDIO_MEDIA_TYPE",
    "DEFAULT_REPEAT",
    "DEFAULT_VOLUME",
    "SpeakerChannel",
    "SpeakerSettings",
    "message_source",
]

log = logging.getLogger(__name__)

DEFAULT_REPEAT = 3
DEFAULT_VOLUME = 100
# The all-clear is short and heard after the warning: once is enough.
ALL_CLEAR_REPEAT = 1
# Words per minute espeak-ng speaks at: its own bounds.
ESPEAK_RATES = (80, 450)
AUDIO_MEDIA_TYPE = "audio/wav"
_OPTIONS = "channel_options.speaker"


def _whole_number(options: Mapping[str, Any], key: str, default: int, lowest: int,
                  highest: int | None = None) -> int:
    value = options.get(key, default)
    if (isinstance(value, bool) or not isinstance(value, int) or value < lowest
            or (highest is not None and value > highest)):
        bounds = f"from {lowest}" if highest is None else f"from {lowest} to {highest}"
        raise PermanentChannelError(f"{_OPTIONS}.{key}: {value!r} is not a whole number {bounds}")
    return value


@dataclass(frozen=True, slots=True)
class SpeakerSettings:
    """How announcements are made and played; shared by the channel and the composer's preview."""

    audio_dir: Path
    repeat: int = DEFAULT_REPEAT
    volume: int = DEFAULT_VOLUME
    rate: int = DEFAULT_RATE
    voices: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_VOICES))

    @classmethod
    def read(cls, options: Mapping[str, Any]) -> SpeakerSettings:
        """Read and check them; raises PermanentChannelError naming the option at fault."""
        audio_dir = options.get("audio_dir")
        if not isinstance(audio_dir, str | Path) or not str(audio_dir).strip():
            raise PermanentChannelError(f"{_OPTIONS}.audio_dir: required: the directory where"
                                        f" announcements are cached (got {audio_dir!r})")
        voices = options.get("voices", {})
        if not isinstance(voices, Mapping) or not all(
                isinstance(key, str) and isinstance(value, str) for key, value in voices.items()):
            raise PermanentChannelError(f"{_OPTIONS}.voices: a table of espeak-ng voice ids by"
                                        f" language, e.g. {{\"zh-CN\" = \"sit/cmn\"}}")
        return cls(Path(audio_dir), _whole_number(options, "repeat", DEFAULT_REPEAT, 1),
                   _whole_number(options, "volume", DEFAULT_VOLUME, 0, 100),
                   _whole_number(options, "rate", DEFAULT_RATE, *ESPEAK_RATES),
                   {**DEFAULT_VOICES, **voices})

    def speech_audio(self) -> SpeechAudio:
        return SpeechAudio(AudioCache(self.audio_dir), voices=self.voices, rate=self.rate)


def message_source(message: OutgoingMessage) -> str:
    """What a message's audio is made from: its signed XML, by SHA-256."""
    return hashlib.sha256(message.xml).hexdigest()


def _expires(message: OutgoingMessage, language: str) -> datetime | None:
    """Until when the info a listener of ``language`` hears holds; None without an info."""
    return choose_info(message.alert, language).expires if message.alert.infos else None


def _unplayable(target: TargetRef) -> SendResult | None:
    """FAILED for a speaker registered as playing no WAV; None when it may play it."""
    formats = target.capabilities.get("formats")
    if formats is None or AUDIO_MEDIA_TYPE in formats:
        return None
    return SendResult(target.delivery_id, None, DeliveryStatus.FAILED,
                      f"capabilities.formats: the speaker plays {formats!r},"
                      f" not {AUDIO_MEDIA_TYPE}")


class SpeakerChannel(Channel[SpeechScript]):
    name = "speaker"
    # Pushes are small (the audio is fetched by each speaker), so a batch is
    # bounded by how long its pushes take at ``concurrency`` at a time.
    batch_size = 500

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self.device_options = DeviceOptions.read(self.name, self.options)
        self.settings = SpeakerSettings.read(self.options)
        self.speech = self.settings.speech_audio()
        self._client = DevicePushClient.from_options(self.device_options)

    def render(self, message: OutgoingMessage, language: str) -> SpeechScript:
        return render_script(message.alert, language)

    def send(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        return self._push(message, targets, "play", self.settings.repeat)

    def cancel(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        """Stop what the cancelled messages play, and play the all-clear of ``message``."""
        return self._push(message, targets, "stop", ALL_CLEAR_REPEAT)

    def parse_receipt(self, raw: Mapping[str, Any]) -> ParsedReceipt:
        return parse_ack(raw, delivered=("played", "stopped"))

    def close(self) -> None:
        self._client.close()

    def prepare_eew_audio(self) -> list[AnnouncementAudio]:
        """Synthesise the early warning's standard recordings now, in every language and status."""
        return [self._eew_announcement(language, status)[1]
                for language in EEW_SCRIPTS for status in EEW_STATUSES]

    def audio_url(self, audio: AnnouncementAudio) -> str:
        return f"{self.device_options.callback_url}{audio_path(audio.key)}"

    def _push(self, message: OutgoingMessage, targets: Sequence[TargetRef], action: str,
              repeat: int) -> list[SendResult]:
        announcements: dict[str, tuple[SpeechScript, AnnouncementAudio]] = {}
        urgent = action == "play" and is_interrupting(message.alert)
        results: dict[int, SendResult] = {}
        pushes = []
        for target in targets:
            unplayable = _unplayable(target)
            if unplayable is not None:
                results[target.delivery_id] = unplayable
                continue
            # An all-clear is played whatever its message's expiry: a stop is never held back.
            expires = None if action == "stop" else _expires(message, target.language)
            expired = expired_result(target.delivery_id, expires)
            if expired is not None:
                results[target.delivery_id] = expired
                continue
            if target.language not in announcements:
                announcements[target.language] = (
                    self._eew_announcement(target.language, Status(message.status)) if urgent
                    else self._announcement(message, target.language, repeat))
            script, audio = announcements[target.language]
            fields = {"audio_url": self.audio_url(audio), "repeat": repeat,
                      "volume": self._volume(target), "language": script.language}
            if urgent:
                fields |= {"priority": INTERRUPT,
                           "text": message.info_for(target.language).headline or ""}
            try:
                pushes.append(Push.to(
                    target, self.device_options, action=action, identifier=message.identifier,
                    references=referenced_identifiers(message.alert), expires=expires,
                    fields=fields))
            except PermanentChannelError as error:
                results[target.delivery_id] = SendResult(
                    target.delivery_id, None, DeliveryStatus.FAILED, error.reason)
        for result in self._client.push(pushes):
            results[result.delivery_id] = result
        return [results[target.delivery_id] for target in targets]

    def _volume(self, target: TargetRef) -> int:
        """The speaker's own volume, as registered, else the channel's."""
        volume = target.capabilities.get("volume")
        if isinstance(volume, int) and not isinstance(volume, bool) and 0 <= volume <= 100:
            return volume
        return self.settings.volume

    def _eew_announcement(self, language: str,
                          status: Status) -> tuple[SpeechScript, AnnouncementAudio]:
        script = SpeechScript(language if language in EEW_SCRIPTS else "en-US",
                              eew_script_text(language, status))
        return script, self.speech.announcement(script, self.settings.repeat, EEW_SOURCE)

    def _announcement(self, message: OutgoingMessage, language: str,
                      repeat: int) -> tuple[SpeechScript, AnnouncementAudio]:
        script = render_script(message.alert, language)
        audio = self.speech.announcement(script, repeat, message_source(message))
        log.info("speaker announcement ready", extra={
            "alert_identifier": message.identifier, "language": script.language,
            "audio_key": audio.key, "seconds": round(audio.seconds, 1),
            "synthesised": audio.made})
        return script, audio
