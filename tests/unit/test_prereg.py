"""preregistration.md: parsing, the lock, silent edits refused, dated amendments."""

import shutil
import subprocess
import sys

import pytest

from polyrot import prereg

# a date after every real amendment, so that the test amendments always come last
LATER = "2999-01-01"

AMENDMENT = """
```yaml amendment
date: {date}
reason: test amendment
changes:
  {key}: {value}
```
"""


@pytest.fixture
def doc(tmp_path, repo):
    shutil.copy(repo / "preregistration.md", tmp_path / "p.md")
    shutil.copy(repo / "preregistration.lock", tmp_path / "p.lock")
    return tmp_path / "p.md", tmp_path / "p.lock"


def test_repository_preregistration_is_locked(repo):
    reg = prereg.load(repo / "preregistration.md", repo / "preregistration.lock")
    assert reg.bar("B")["threshold"] == 1e-4 and reg.bar("B")["epsilon"] == 1e-6
    assert (
        reg.bar("P")["threshold"] == 1e-3 and reg.bar("C")["threshold"] == 0.99 and reg.bar("Pr")["comparison"] == ">"
    )
    assert len(reg.file_sha256) == 64


def test_silent_threshold_edit_is_refused(doc):
    path, lock = doc
    text = path.read_text()
    path.write_text(text.replace("threshold: 1.0e-4", "threshold: 1.0e-3", 1))
    with pytest.raises(prereg.PreregError, match="edited after registration"):
        prereg.load(path, lock)
    # and lock refuses to paper over it
    with pytest.raises(prereg.PreregError, match="amendment"):
        prereg.write_lock(path, lock)


def test_prose_edits_outside_the_block_are_allowed(doc):
    path, lock = doc
    path.write_text(path.read_text() + "\nA new paragraph of discussion.\n")
    reg = prereg.load(path, lock)
    assert reg.bar("B")["threshold"] == 1e-4


def test_amendment_must_be_locked_then_applies(doc):
    path, lock = doc
    path.write_text(path.read_text() + AMENDMENT.format(date=LATER, key="bars.B.threshold", value="2.0e-4"))
    with pytest.raises(prereg.PreregError, match="not locked"):
        prereg.load(path, lock)
    prereg.write_lock(path, lock)
    reg = prereg.load(path, lock)
    assert reg.bar("B")["threshold"] == 2e-4 and reg.registered["bars"]["B"]["threshold"] == 1e-4
    prov = reg.provenance()
    assert prov["amendments"][-1]["date"] == LATER and prov["amendments"][-1]["changes"] == {"bars.B.threshold": 2e-4}
    # editing a locked amendment is a silent edit too
    path.write_text(path.read_text().replace("bars.B.threshold: 2.0e-4", "bars.B.threshold: 5.0e-4"))
    with pytest.raises(prereg.PreregError, match="append-only"):
        prereg.load(path, lock)


def test_amendment_can_register_a_new_claim(doc):
    path, lock = doc
    path.write_text(
        path.read_text() + AMENDMENT.format(date=LATER, key="claims.naive_ev_negative", value="{threshold: 0.0}")
    )
    prereg.write_lock(path, lock)
    assert prereg.load(path, lock).claim("naive_ev_negative") == {"threshold": 0.0}


@pytest.mark.parametrize(
    ("date", "key", "match"),
    [("2026-01-01", "bars.B.threshold", "before the previous"), (LATER, "nothing.B.threshold", "not a key")],
)
def test_bad_amendments(doc, date, key, match):
    path, lock = doc
    path.write_text(path.read_text() + AMENDMENT.format(date=date, key=key, value="1"))
    with pytest.raises(prereg.PreregError, match=match):
        prereg.load(path, lock)


def test_reregister_only_before_results(doc, tmp_path):
    path, lock = doc
    path.write_text(path.read_text().replace("threshold: 1.0e-4", "threshold: 1.0e-3", 1))
    (tmp_path / "results" / "bars").mkdir(parents=True)
    (tmp_path / "results" / "bars" / "B.json").write_text("{}")
    with pytest.raises(prereg.PreregError, match="verdicts already exist"):
        prereg.write_lock(path, lock, reregister=True, results_dir=tmp_path / "results")
    prereg.write_lock(path, lock, reregister=True, results_dir=tmp_path / "empty")
    assert prereg.load(path, lock).bar("B")["threshold"] == 1e-3


def test_cli(doc):
    path, lock = doc
    ok = subprocess.run(
        [sys.executable, "-m", "polyrot.prereg", "check", "--document", str(path), "--lock", str(lock)],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and '"registered_sha256"' in ok.stdout
    path.write_text(path.read_text().replace("threshold: 0.99", "threshold: 0.9", 1))
    bad = subprocess.run(
        [sys.executable, "-m", "polyrot.prereg", "check", "--document", str(path), "--lock", str(lock)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "edited after registration" in bad.stderr
