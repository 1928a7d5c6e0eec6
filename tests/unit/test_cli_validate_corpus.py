"""`publisher cap validate` over the real-world corpus gives each file its right verdict."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from publisher.cli import main
from tests.corpus import corpus_dir, corpus_files

# The official XSD rejects these three; the verdict and the reason we give.
XSD_REJECTED = {
    "cpl_sweden.cap": (False, r"senderName: .*(order|before)"),
    "twab_fifows_typhoon-warning_201908230536.xml": (False, r"description: .*markup"),
    # CAP 1.1 3.3.2.1 allows an enveloped XML-DSig Signature in <alert>; its XSD forgot it.
    "gcap_earthquake_signed.cap": (True, r"Signature.*3\.3\.2\.1|3\.3\.2\.1.*Signature"),
}
# The official XSD accepts these; the CAP 1.2 text does not.
SPEC_REJECTED = {
    # 3.2.1: <references> holds "sender,identifier,sent" triples; an empty one names nothing.
    # Google's cap12_extended.xsd rejects all three for this.
    "twab_tra.gov.tw_railAccident_201908220619.xml": r"references: .*empty",
    "cpl_CanadaNaad.xml": r"references: .*empty",
    "gcca_alert_5.xml": r"references: .*empty",
    # 3.2.4: a polygon is a whitespace-delimited list of "lat,lon" pairs. GDACS wrote the
    # rings of a multipolygon into one string with WKT parentheses ("8.72977),-68.13409").
    "kde_gdacs-cap_1023542.xml": r'polygon\[0\]: point 144 .* is not "lat,lon"',
    # XML-DSig: the signature of a registered signing authority (config/authorities.toml)
    # must hold; these two do not under any reading, signxml agrees.
    "wmocv_bz_valid.xml": r"Signature: the digest .* differs .*registered signing authority",
    "wmocv_cm_valid.xml": r"Signature: the digest .* differs .*registered signing authority",
}


def _verdicts(files: list[Path], capsys: pytest.CaptureFixture[str],
              *options: str) -> tuple[int, dict[str, list[str]]]:
    code = main(["cap", "validate", *options, *map(str, files)])
    blocks: dict[str, list[str]] = {}
    current = ""
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("  "):
            blocks[current].append(line.strip())
        else:
            current = Path(line.split(": ", 1)[0]).name
            blocks[current] = [line.split(": ", 1)[1]]
    return code, blocks


def test_every_real_file_gets_its_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    files = corpus_files("real")
    code, blocks = _verdicts(files, capsys)
    assert code == 1
    assert set(blocks) == {path.name for path in files}
    for name, lines in blocks.items():
        verdict = lines[0]
        if name in XSD_REJECTED:
            expect_ok, reason = XSD_REJECTED[name]
            assert (verdict == "ok") == expect_ok, (name, lines)
            assert any(re.search(reason, line) for line in lines), (name, lines)
        elif name in SPEC_REJECTED:
            assert verdict.startswith("invalid: "), (name, lines)
            assert re.search(SPEC_REJECTED[name], verdict), (name, lines)
        else:
            assert verdict == "ok", (name, lines)


def test_json_output_agrees_with_text(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    files = corpus_files("real")[:20]
    main(["cap", "validate", "--json", *map(str, files)])
    results = json.loads(capsys.readouterr().out)
    assert [Path(result["file"]).name for result in results] == [path.name for path in files]
    for result in results:
        assert result["ok"] == (not result["errors"])


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    real = corpus_dir("real")
    assert main(["cap", "validate", str(real / "does-not-exist.xml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit) as raised:
        main(["cap", "validate", "--profile"])
    assert raised.value.code == 2
    assert main(["cap", "validate", "--profile", "municipl", str(corpus_files("real")[0])]) == 2
    assert "did you mean" in capsys.readouterr().err
