"""The library of alert templates the composer starts from, read from ``config/templates/``.

Each ``*.toml`` file there holds ``[[template]]`` entries: a key, names in
both languages, the CAP category, the warning level's colour, urgency,
certainty, response types, the status it is issued with (Exercise for a
drill), how many hours it stays in force, and per language the event,
sender name, headline, description and instruction. A wrong entry is a
ConfigError naming the file, the template and the field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from publisher.cap.model import Category, Certainty, ResponseType, Status, Urgency
from publisher.cap.municipal import SEVERITY_OF_WARNING_COLOR
from publisher.config import ConfigError
from publisher.services.drafts import PUBLIC_STATUSES
from publisher.services.languages import LANGUAGES

__all__ = ["TEMPLATES_DIR_NAME", "AlertTemplate", "AlertTemplates", "TemplateText",
           "load_alert_templates"]

TEMPLATES_DIR_NAME = "templates"
_TEXT_FIELDS = ("event", "sender_name", "headline", "description", "instruction")


@dataclass(frozen=True, slots=True)
class TemplateText:
    event: str
    sender_name: str
    headline: str
    description: str
    instruction: str


@dataclass(frozen=True, slots=True)
class AlertTemplate:
    key: str
    name_zh: str
    name_en: str
    category: Category
    level: str
    urgency: Urgency
    certainty: Certainty
    response_types: tuple[ResponseType, ...]
    status: Status
    valid_hours: int
    texts: Mapping[str, TemplateText]

    def name(self, language: str) -> str:
        return self.name_zh if language == LANGUAGES[0] else self.name_en


class AlertTemplates:
    def __init__(self, templates: list[AlertTemplate]) -> None:
        self._by_key = {template.key: template for template in templates}

    def listed(self) -> list[AlertTemplate]:
        return list(self._by_key.values())

    def get(self, key: str) -> AlertTemplate | None:
        return self._by_key.get(key)


class _Entry:
    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self.data, self.where = data, where

    def fail(self, field: str, reason: str) -> ConfigError:
        return ConfigError(f"{self.where}: {field}: {reason}")

    def text(self, field: str, data: Mapping[str, Any] | None = None) -> str:
        value = (self.data if data is None else data).get(field)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(field, "required: a non-empty string")
        return value.strip()

    def choice(self, field: str, kind: type[Any], default: str | None = None) -> Any:
        value = self.data.get(field, default)
        try:
            return kind(value)
        except ValueError:
            known = ", ".join(str(member) for member in kind)
            raise self.fail(field, f"{value!r} is not one of {known}") from None


def _texts(entry: _Entry) -> dict[str, TemplateText]:
    texts = {}
    for language in LANGUAGES:
        block = entry.data.get(language)
        if not isinstance(block, Mapping):
            raise entry.fail(language, "required: a table of the texts in that language")
        texts[language] = TemplateText(*(entry.text(field, block) for field in _TEXT_FIELDS))
    return texts


def _template(data: Any, where: str) -> AlertTemplate:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: a template is a table")
    entry = _Entry(data, where)
    level = entry.text("level")
    if level not in SEVERITY_OF_WARNING_COLOR:
        raise entry.fail("level", f"{level!r} is not a warning colour "
                                  f"({', '.join(SEVERITY_OF_WARNING_COLOR)})")
    status = entry.choice("status", Status, str(Status.ACTUAL))
    if status not in PUBLIC_STATUSES:
        raise entry.fail("status", f"{status} is not published by the center")
    hours = data.get("valid_hours", 6)
    if not isinstance(hours, int) or not 1 <= hours <= 72:
        raise entry.fail("valid_hours", f"must be a whole number of hours, 1 to 72, not {hours!r}")
    responses = data.get("response", [])
    if not isinstance(responses, list):
        raise entry.fail("response", "must be a list of CAP response types")
    return AlertTemplate(
        key=entry.text("key"), name_zh=entry.text("name_zh"), name_en=entry.text("name_en"),
        category=entry.choice("category", Category), level=level,
        urgency=entry.choice("urgency", Urgency), certainty=entry.choice("certainty", Certainty),
        response_types=tuple(_Entry({"response": item}, where).choice("response", ResponseType)
                             for item in responses),
        status=status, valid_hours=hours, texts=_texts(entry))


def load_alert_templates(config_dir: Path) -> AlertTemplates:
    """Every template of ``config_dir/templates/*.toml``, in file and then entry order."""
    templates: list[AlertTemplate] = []
    for path in sorted((config_dir / TEMPLATES_DIR_NAME).glob("*.toml")):
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: {error}") from None
        entries = document.get("template", [])
        templates.extend(_template(entry, f"{path} template[{index}]")
                         for index, entry in enumerate(entries))
    keys = [template.key for template in templates]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ConfigError(f"{config_dir / TEMPLATES_DIR_NAME}: template key {repeated[0]!r} "
                          "is used more than once")
    return AlertTemplates(templates)
