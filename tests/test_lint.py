"""The determinism linter against a labelled corpus, and its command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agenthub.cli import app
from agenthub.determinism.lint import RULES, lint_paths, lint_source

CORPUS = Path(__file__).parent / "lint_corpus"
SNIPPETS = sorted(CORPUS.glob("*.py"))
runner = CliRunner()


def expected_codes(path: Path) -> set[str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} has no '# expect:' label"
    label = first.removeprefix("# expect: ").strip()
    return set() if label == "clean" else set(label.split(","))


def test_corpus_is_big_and_mixed() -> None:
    labels = [expected_codes(p) for p in SNIPPETS]
    assert len(SNIPPETS) >= 25
    assert sum(not codes for codes in labels) >= 5, "clean snippets guard precision"
    assert set().union(*labels) == set(RULES), "every rule has a labelled violation"


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda p: p.stem)
def test_snippet(snippet: Path) -> None:
    findings = lint_source(snippet.read_text(), str(snippet))
    assert {f.code for f in findings} == expected_codes(snippet), [f.format() for f in findings]
    for finding in findings:
        assert finding.line > 1 and finding.col >= 1
        assert "use " in finding.message, "every finding says what to use instead"


def test_precision_and_recall_on_the_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    true_pos = false_pos = false_neg = 0
    for snippet in SNIPPETS:
        found = {f.code for f in lint_source(snippet.read_text(), str(snippet))}
        expected = expected_codes(snippet)
        true_pos += len(found & expected)
        false_pos += len(found - expected)
        false_neg += len(expected - found)
    precision = true_pos / (true_pos + false_pos)
    recall = true_pos / (true_pos + false_neg)
    with capsys.disabled():
        print(f"\nlint corpus: {len(SNIPPETS)} snippets, precision {precision:.2f}, "
              f"recall {recall:.2f}")  # fmt: skip
    assert precision == 1.0 and recall == 1.0


def test_message_names_the_call_and_the_replacement() -> None:
    (finding,) = lint_source((CORPUS / "d02_datetime_now.py").read_text(), "x.py")
    assert finding.format() == (
        "x.py:11:16: AH101 datetime.datetime.now() reads the wall clock (date/time differs on "
        "replay); use workflow.now()"
    )


def test_the_package_itself_is_clean() -> None:
    src = Path(__file__).parent.parent / "src" / "agenthub"
    assert lint_paths([src]) == []


def test_cli_exit_codes_and_json(tmp_path: Path) -> None:
    dirty = CORPUS / "d08_random.py"
    result = runner.invoke(app, ["lint", str(dirty)])
    assert result.exit_code == 1
    assert "AH104" in result.output
    result = runner.invoke(app, ["lint", "--format", "json", str(dirty)])
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    assert rows[0]["code"] == "AH104" and rows[0]["path"] == str(dirty)
    assert runner.invoke(app, ["lint", str(CORPUS / "d01_clean_basic.py")]).exit_code == 0
    broken = tmp_path / "broken.py"
    broken.write_text("def (:\n")
    result = runner.invoke(app, ["lint", str(broken)])
    assert result.exit_code == 2 and "cannot parse" in result.output
    result = runner.invoke(app, ["lint", str(tmp_path / "missing.py")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_pathological_files_are_unreadable_input_not_a_crash(tmp_path: Path) -> None:
    deep = tmp_path / "deep.py"
    deep.write_text("x = " + "-" * 200_000 + "1\n")
    nul = tmp_path / "nul.py"
    nul.write_bytes(b"a = 1\x00\n")
    for path in (deep, nul):
        result = runner.invoke(app, ["lint", str(path)])
        assert result.exit_code == 2, result.output
        assert "cannot parse" in result.output and "Traceback" not in result.output
