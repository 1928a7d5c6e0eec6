"""The platform's log lines: JSON or console, with the bound context, and never a secret."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import structlog
from structlog.contextvars import bound_contextvars

from publisher.cli_logging import LOG_FORMAT_VARIABLE, LogFormat, configure_logging
from publisher.config import ConfigError, Settings, load_settings
from publisher.observability.redaction import MASK, mask_url_passwords, redacted

JSON = {LOG_FORMAT_VARIABLE: "json"}


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_a_json_line_has_the_time_level_logger_event_and_extra_fields(capsys) -> None:
    assert configure_logging(environ=JSON) is LogFormat.JSON
    logging.getLogger("publisher.test").warning("batch %s handed over", 7,
                                                extra={"alert_identifier": "A-1", "counts": {
                                                    "sent": 2}})
    (line,) = _lines(capsys)
    record = json.loads(line)
    assert record["event"] == "batch 7 handed over"
    assert record["level"] == "warning" and record["logger"] == "publisher.test"
    assert record["timestamp"].endswith("Z") and record["timestamp"][:4].isdigit()
    assert record["alert_identifier"] == "A-1" and record["counts"] == {"sent": 2}


def test_the_bound_context_is_on_every_line_of_both_apis_until_unbound(capsys) -> None:
    configure_logging(environ=JSON)
    with bound_contextvars(alert_identifier="A-2", delivery_ids=[5, 6]):
        logging.getLogger("publisher.stdlib").info("one")
        structlog.get_logger("publisher.native").info("two", channel="sms")
    logging.getLogger("publisher.stdlib").info("three")
    one, two, three = (json.loads(line) for line in _lines(capsys))
    for record in (one, two):
        assert record["alert_identifier"] == "A-2" and record["delivery_ids"] == [5, 6]
    assert two["channel"] == "sms" and two["logger"] == "publisher.native"
    assert "alert_identifier" not in three


def test_a_field_given_on_the_line_wins_over_the_bound_one(capsys) -> None:
    configure_logging(environ=JSON)
    with bound_contextvars(channel="sms"):
        logging.getLogger("publisher.x").info("moved", extra={"channel": "sms.eew"})
    assert json.loads(_lines(capsys)[0])["channel"] == "sms.eew"


@pytest.mark.parametrize("chosen", ["json", "console"])
def test_secrets_are_masked_in_fields_nested_values_urls_and_tracebacks(capsys, chosen) -> None:
    configure_logging(environ={LOG_FORMAT_VARIABLE: chosen})
    log = logging.getLogger("publisher.secrets")
    log.info("bind to amqp://guest:rabbit-pw-1@broker:5672// failed",
             extra={"smpp_password": "smpp-pw-2", "options": {"auth_token": "twilio-tok-3",
                                                              "routes": [{"secret": "wx-4"}]},
                    "database_url": "postgresql://pub:pg-pw-5@db/publisher"})
    structlog.get_logger("publisher.secrets").info("token issued", api_token="api-tok-6")
    try:
        raise ConnectionError("could not reach redis://:redis-pw-7@cache:6379/0")
    except ConnectionError:
        log.exception("lost")
    output = capsys.readouterr().err
    for secret in ("rabbit-pw-1", "smpp-pw-2", "twilio-tok-3", "wx-4", "pg-pw-5", "api-tok-6",
                   "redis-pw-7"):
        assert secret not in output
    assert output.count(MASK) >= 7
    assert "amqp://guest:***@broker" in output and "ConnectionError" in output


def test_the_console_line_reads_as_before(capsys) -> None:
    assert configure_logging(environ={}) is LogFormat.CONSOLE
    logging.getLogger("publisher.serve").info("worker stopped", extra={"exit_code": 0,
                                                                       "reason": "asked to"})
    (line,) = _lines(capsys)
    assert line.split(" ", 1)[1] == "INFO publisher.serve worker stopped exit_code=0 " \
                                    "reason='asked to'"


def test_an_unknown_format_names_the_variable_and_the_choices() -> None:
    with pytest.raises(ConfigError, match=rf"{LOG_FORMAT_VARIABLE}: 'xml' .*json"):
        configure_logging(environ={LOG_FORMAT_VARIABLE: "xml"})


def test_the_settings_repr_shows_no_password_or_token(tmp_path: Path) -> None:
    settings = load_settings({"PUBLISHER_DATABASE_URL": "postgresql+psycopg://pub:pg-pw@db/x",
                              "PUBLISHER_BROKER_URL": "amqp://pub:mq-pw@mq//"},
                             data_dir=tmp_path)
    settings = Settings(settings.paths, settings.database_url, settings.broker_url,
                        channels=("sms", "wechat"), channel_options={
                            "sms": {"routes": [{"name": "primary", "password": "smpp-pw"},
                                               {"name": "rest", "auth_token": "tw-tok"}]},
                            "wechat": {"appid": "wx1", "secret": "wx-secret",
                                       "callback_token": "cb-tok"},
                            "district": {"center_token": "node-tok"}})
    shown = repr(settings)
    for secret in ("pg-pw", "mq-pw", "smpp-pw", "tw-tok", "wx-secret", "cb-tok", "node-tok"):
        assert secret not in shown
    assert "postgresql+psycopg://pub:***@db/x" in shown and "'appid': 'wx1'" in shown
    assert "channels=('sms', 'wechat')" in shown and str(settings) == shown


@pytest.mark.parametrize(("text", "masked"), [
    ("amqp://guest:guest@127.0.0.1:5672//", "amqp://guest:***@127.0.0.1:5672//"),
    ("sqla+sqlite:////var/broker.db", "sqla+sqlite:////var/broker.db"),
    ("see http://example.org/a@b and smtp://u:p@h", "see http://example.org/a@b and smtp://u:***@h"),
    ("redis://:pw@h:6379", "redis://:***@h:6379"),
])
def test_url_passwords(text: str, masked: str) -> None:
    assert mask_url_passwords(text) == masked


def test_empty_secrets_stay_visible_as_empty_and_look_alike_names_keep_their_values() -> None:
    assert redacted({"password": "", "token": None, "tokens_issued": 3, "passive": True,
                     "authToken": "t", "AWS_ACCESS_KEY": "k", "api-key": "k"}) == {
        "password": "", "token": None, "tokens_issued": 3, "passive": True,
        "authToken": MASK, "AWS_ACCESS_KEY": MASK, "api-key": MASK}
