"""The template library of config/templates/: what the city ships, and a wrong entry named."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.cap.model import Status
from publisher.config import ConfigError
from publisher.services.alert_templates import load_alert_templates

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_the_shipped_library_covers_the_hazards() -> None:
    templates = load_alert_templates(CONFIG)
    keys = {template.key for template in templates.listed()}
    assert {"rainstorm-red", "rainstorm-orange", "rainstorm-yellow", "rainstorm-blue",
            "heat-orange", "wind-yellow", "sandstorm-yellow", "blizzard-orange",
            "earthquake-red", "chemical-leak-orange", "air-raid-drill"} <= keys
    drill = templates.get("air-raid-drill")
    assert drill is not None and drill.status is Status.EXERCISE
    assert all(set(template.texts) == {"zh-CN", "en-US"} for template in templates.listed())


@pytest.mark.parametrize(("entry", "named"), [
    ('level = "purple"', "level"),
    ('status = "Draft"', "status"),
    ('urgency = "Soon"', "urgency"),
    ("valid_hours = 0", "valid_hours"),
])
def test_a_wrong_entry_names_the_file_and_the_field(tmp_path: Path, entry: str,
                                                    named: str) -> None:
    shipped = (CONFIG / "templates" / "rainstorm.toml").read_text(encoding="utf-8")
    first = shipped.split("\n[[template]]\n")[1]
    name = entry.split(" = ")[0]
    lines = [line for line in first.splitlines() if not line.startswith(f"{name} = ")]
    lines.insert(1, entry)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "wrong.toml").write_text("[[template]]\n" + "\n".join(lines),
                                                        encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"wrong\.toml template\[0\]: {named}:"):
        load_alert_templates(tmp_path)
