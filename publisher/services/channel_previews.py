"""Every channel's preview of an alert, in every language, before anybody approves it.

Each preview is made by the channel's own code, never by a second
implementation: the SMS text by ``render_sms`` and measured by the
segmenter that encodes it (``measure_sms``), the board pages by
``render_board`` and drawn by ``led_preview``, the speech by
``render_script`` and the speaker's cached synthesis, the WeChat card by
``render_template_data``, the feed entry by the feed writer itself
(``feed_preview``), and the CAP XML by ``write_alert``. Each is made with
the channel's own options, as the installation configures it.

A channel that cannot render the alert (no CJK font, no speech engine, a
text that does not fit) gives ``Unavailable`` with the reason, and the
other previews stand. The alert is its draft read back as its next message
will be (``previews.preview_alert``: author or approver only); the CAP XML
is that message as the center would issue it now, unsigned, with the
sequence number 0 in its identifier where approval allocates the real one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from publisher.cap.model import Alert
from publisher.cap.writer import write_alert
from publisher.channels.base import ChannelError
from publisher.channels.led_layout import LayoutError
from publisher.channels.led_preview import FontNotFoundError, preview_message
from publisher.channels.led_text import Board, BoardMessage, read_board, render_board
from publisher.channels.sms_encoding import SmsEncodingError, measure_sms
from publisher.channels.sms_text import DEFAULT_SIGNATURE, render_sms
from publisher.channels.speaker_script import render_script
from publisher.channels.speech import SpeechAudio
from publisher.channels.wechat_template import (
    TemplateMessage,
    WechatTemplateError,
    render_template_data,
)
from publisher.config import Settings
from publisher.services.actors import Actor
from publisher.services.feed_preview import FeedEntryPreview, feed_entry
from publisher.services.feeds import FeedOptions
from publisher.services.issuer import Issuer
from publisher.services.languages import LANGUAGES
from publisher.services.previews import AlertPreview, preview_alert
from publisher.services.targets import reaches_only_test_targets

__all__ = [
    "ChannelPreviewer",
    "ChannelPreviews",
    "LanguagePreviews",
    "LedPreview",
    "SmsPreview",
    "SpeechPreview",
    "Unavailable",
]

T = TypeVar("T")
_LED = "led"
_SMS = "sms"
_UNALLOCATED_SEQUENCE = 0


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A channel that cannot preview the alert here, and why, in its own words."""

    reason: str


@dataclass(frozen=True, slots=True)
class SmsPreview:
    """The SMS as it goes out: its text, and how the SMSC carries it.

    ``units`` are GSM 7-bit septets (an escaped character such as ``{`` or
    ``€`` costs two) or UCS-2 code units (an emoji costs two).
    """

    text: str
    encoding: str
    units: int
    units_per_segment: int
    segments: int

    @property
    def characters(self) -> int:
        return len(self.text)


@dataclass(frozen=True, slots=True)
class LedPreview:
    """What the channel's default board shows: its pages, and how many PNG images draw them.

    A scrolling board is drawn as the frames a reader sees, so ``images``
    may exceed the pages.
    """

    board: Board
    colour: str
    pages: tuple[tuple[str, ...], ...]
    images: int


@dataclass(frozen=True, slots=True)
class SpeechPreview:
    """The speakers' script and the length of its announcement, made and cached for playing."""

    language: str
    script: str
    repeat: int
    seconds: float


@dataclass(frozen=True, slots=True)
class LanguagePreviews:
    language: str
    sms: SmsPreview | Unavailable
    led: LedPreview | Unavailable
    speech: SpeechPreview | Unavailable
    wechat: TemplateMessage | Unavailable
    feed: FeedEntryPreview | Unavailable


@dataclass(frozen=True, slots=True)
class ChannelPreviews:
    alert_id: int
    status: str
    languages: tuple[LanguagePreviews, ...]
    cap_xml: str


def _unless_failing(make: Callable[[], T]) -> T | Unavailable:
    """What ``make`` makes, or why it could not: each channel's errors name their field."""
    try:
        return make()
    except (ChannelError, SmsEncodingError, LayoutError, FontNotFoundError,
            WechatTemplateError) as error:
        return Unavailable(error.reason if isinstance(error, ChannelError) else str(error))


@dataclass(frozen=True)
class ChannelPreviewer:
    """The installation's channels as they render: their options, read once at start-up."""

    issuer: Issuer
    sms_signature: str
    led_options: Mapping[str, Any]
    feed: FeedOptions
    speech: SpeechAudio
    speaker_repeat: int

    @classmethod
    def from_settings(cls, settings: Settings, issuer: Issuer, speech: SpeechAudio,
                      speaker_repeat: int) -> ChannelPreviewer:
        options = settings.channel_options
        return cls(issuer, str(options.get(_SMS, {}).get("signature", DEFAULT_SIGNATURE)),
                   dict(options.get(_LED, {})), FeedOptions.read(settings), speech,
                   speaker_repeat)

    def preview(self, session: Session, actor: Actor, alert_id: int) -> ChannelPreviews:
        """Every channel's preview of the alert's draft, in each language the platform speaks."""
        return self.previews_of(preview_alert(session, actor, alert_id, self.issuer.profile),
                                alert_id)

    def previews_of(self, preview: AlertPreview, alert_id: int) -> ChannelPreviews:
        """Every channel's preview of ``preview`` (alert ``alert_id``), each language in turn."""
        alert = preview.alert
        return ChannelPreviews(
            alert_id=alert_id, status=alert.status.value,
            languages=tuple(self._language(preview, alert_id, language)
                            for language in LANGUAGES),
            cap_xml=self._cap_xml(alert))

    def _cap_xml(self, alert: Alert) -> str:
        """The message as the center would issue it now, unsigned; sequence number 0 marks
        the identifier that approval will allocate."""
        sent = self.issuer.sent_time(datetime.now(UTC))
        issued = replace(alert, identifier=self.issuer.identifier(sent, _UNALLOCATED_SEQUENCE),
                         sender=self.issuer.sender, sent=sent)
        return write_alert(issued).decode("utf-8")

    def led_images(self, session: Session, actor: Actor, alert_id: int,
                   language: str) -> list[bytes]:
        """The PNGs of the board pages (frames, on a scrolling board) of the alert's draft."""
        alert = preview_alert(session, actor, alert_id, self.issuer.profile).alert
        return self._drawn(alert, language)[2]

    def _drawn(self, alert: Alert, language: str) -> tuple[Board, BoardMessage, list[bytes]]:
        board = read_board(self.led_options, Board(), where=f"channel_options.{_LED}")
        shown = render_board(alert, language, board)
        return board, shown, preview_message(shown.pages, shown.colour, board)

    def _language(self, preview: AlertPreview, alert_id: int,
                  language: str) -> LanguagePreviews:
        alert = preview.alert
        return LanguagePreviews(
            language=language,
            sms=_unless_failing(lambda: self._sms(alert, language)),
            led=_unless_failing(lambda: self._led(alert, language)),
            speech=_unless_failing(lambda: self._speech(preview, language)),
            wechat=_unless_failing(lambda: render_template_data(alert, language)),
            feed=self._feed(alert, alert_id, language))

    def _sms(self, alert: Alert, language: str) -> SmsPreview:
        text = render_sms(alert, alert.msg_type.value, language, signature=self.sms_signature)
        measure = measure_sms(text)
        return SmsPreview(text, measure.encoding, measure.units, measure.units_per_part,
                          measure.part_count)

    def _led(self, alert: Alert, language: str) -> LedPreview:
        board, shown, images = self._drawn(alert, language)
        return LedPreview(board, shown.colour, tuple(page.rows for page in shown.pages),
                          len(images))

    def _speech(self, preview: AlertPreview, language: str) -> SpeechPreview:
        script = render_script(preview.alert, language)
        audio = self.speech.announcement(script, self.speaker_repeat, preview.source)
        return SpeechPreview(script.language, script.text, self.speaker_repeat, audio.seconds)

    def _feed(self, alert: Alert, alert_id: int,
              language: str) -> FeedEntryPreview | Unavailable:
        if reaches_only_test_targets(alert.status.value) and not self.feed.test_target:
            return Unavailable(f"status: an {alert.status.value} reaches test targets only,"
                               " and the public feed is not one in this installation")
        return feed_entry(alert, alert_id, language, self.feed.site, datetime.now(UTC))
