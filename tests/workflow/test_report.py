"""`snakemake --report` after the test DAG, opened in a real browser (headless Chromium).

Every image result of the report is displayed the way the report's own eye button displays it
(``app.setView``) and must load; the ledger table must have one row per ledger entry; a
screenshot of the front page is saved under the test's temporary folder."""

import os
import shutil
import zipfile
from pathlib import Path

import pytest
from _workflow import copy_workflow, snakemake

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("POLYROT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("POLYROT_CHROMEDRIVER", "/usr/bin/chromedriver")
# the paper figures, each a report result
FIGURES = {
    "training_curves",
    "figure1",
    "decoder_cosine",
    "figure2",
    "figure3",
    "figure3_accuracy",
    "figure4",
    "drift",
}
# the main tables, each a report result (the ledger twice: its TSV and its HTML rendering)
TABLES = {
    "toy/audit/ev.tsv",
    "neox/audit/ev.tsv",
    "bars/summary.tsv",
    "claims/summary.tsv",
    "benchmarks/summary.tsv",
    "ledger.tsv",
    "ledger.html",
}


def ledger_entries(path: Path) -> int:
    """Data rows of ledger.tsv: lines that are neither '#' comments nor blank, less the header."""
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return len(lines) - 1


@pytest.fixture(scope="module")
def report(run, tmp_path_factory):
    """The report of the test DAG's run, as one HTML file."""
    path = tmp_path_factory.mktemp("report") / "report.html"
    snakemake(run, "--report", str(path), "--configfile", "config/test.yaml")
    return path


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:  # pragma: no cover - the test extra installs it
        pytest.skip(f"selenium is not installed ({e}); pip install -e '.[test]'")
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not (Path(exe).exists() or shutil.which(exe)):
            pytest.skip(f"{exe} not found: install Debian's chromium and chromium-driver (.ci/run does, as root)")
    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"polyrot-chromium-{os.getpid()}"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1600,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    try:
        # an explicit driver: Selenium Manager downloads nothing
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    except Exception as e:
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"headless Chromium could not be started: {type(e).__name__}: {str(e).splitlines()[0]}")
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, script, *args, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: d.execute_script(script, *args))


def _show(driver, path, content):
    """Display one result as its eye button does."""
    driver.switch_to.default_content()
    driver.execute_script(
        "app.setView({content: arguments[1], contentPath: results[arguments[0]].data_uri, resultPath: arguments[0]});",
        path,
        content,
    )


def test_figures_redraws_from_results(run):
    """`snakemake figures` redraws every figure of the run, and runs no other job."""
    figures = sorted((run / "results/figures").glob("*.png"))
    assert {p.stem for p in figures} >= FIGURES
    before = {p: p.stat().st_mtime_ns for p in figures}
    proc = snakemake(run, "figures", "--cores", "1", "--configfile", "config/test.yaml")
    assert "1 of 1 steps (100%) done" in proc.stderr + proc.stdout
    stale = [p.name for p in figures if p.stat().st_mtime_ns <= before[p]]
    assert not stale, f"not redrawn: {stale}"


def test_figures_names_every_missing_result(repo, tmp_path):
    """Without results, `snakemake figures` schedules nothing upstream and names what is missing."""
    work = copy_workflow(repo, tmp_path)
    dry = snakemake(work, "-n", "figures", "--configfile", "config/test.yaml")
    assert "figures        1" in dry.stdout and "total          1" in dry.stdout, dry.stdout
    proc = snakemake(work, "figures", "--cores", "1", "--configfile", "config/test.yaml", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    for missing in ("results/haar/power.tsv", "results/bars/B.json", "results/toy/audit/ev.tsv", "train_log.tsv"):
        assert missing in out, out[-3000:]


def test_report_zip(run, tmp_path):
    path = tmp_path / "report.zip"
    snakemake(run, "--report", str(path), "--configfile", "config/test.yaml")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    assert any(n.endswith("report.html") for n in names), names[:20]
    assert sum(n.endswith(".png") for n in names) >= len(FIGURES), names


def test_report_in_chromium(run, report, browser, tmp_path):
    driver = browser
    driver.get(report.as_uri())
    _wait(driver, "return typeof app !== 'undefined' && document.querySelector('#app') !== null;")
    # the front page: the workflow description names the config and the preregistration hash
    desc = driver.execute_script("return workflow_desc;")
    assert "config/test.yaml" in desc and "sha256" in desc
    shot = tmp_path / "report_main.png"
    driver.save_screenshot(str(shot))
    print(f"\nscreenshot of the report's main page: {shot}")
    assert shot.stat().st_size > 10_000

    entries = driver.execute_script("return Object.entries(results).map(([p, r]) => [p, r.mime_type, r.caption]);")
    paths = {p: mime for p, mime, _ in entries}
    images = sorted(p for p, mime in paths.items() if mime.startswith("image/"))
    assert {Path(p).stem for p in images} >= FIGURES, images
    missing_tables = sorted(t for t in TABLES if not any(p.endswith(t) for p in paths))
    # every result has a caption that names the config and the preregistration hash
    uncaptioned = [p for p, _, caption in entries if "config/test.yaml" not in caption or "sha256" not in caption]
    assert not uncaptioned, uncaptioned
    # categories by hypothesis, subcategories by arm
    categories = driver.execute_script("return categories;")
    hypotheses = {"H2 rotation audit", "H3 Haar", "H4 steering", "H5 checkpoints", "H6 bars and decoy (H1: Bar B)"}
    assert hypotheses <= set(categories), sorted(categories)
    assert set(categories["H2 rotation audit"]) >= {"toy", "GPT-NeoX"}, categories["H2 rotation audit"]

    # every image, displayed as the report displays it, loads
    broken = []
    for p in images:
        _show(driver, p, "img")
        width = _wait(
            driver,
            "const want = results[arguments[0]].data_uri;"
            "const img = Array.from(document.querySelectorAll('#app img')).find(i => i.src === want);"
            "return img && img.complete ? [img.naturalWidth] : null;",
            p,
        )[0]
        if width == 0:
            broken.append(p)
    assert not broken, f"broken images in the report: {broken}"
    _show(driver, images[images.index(next(p for p in images if p.endswith("figure1.png")))], "img")
    driver.save_screenshot(str(tmp_path / "report_figure1.png"))
    # and no image anywhere on the page is broken (logo, icons)
    assert (
        driver.execute_script(
            "return Array.from(document.images).filter(i => i.complete && i.naturalWidth === 0).map(i => i.src.slice(0, 80));"
        )
        == []
    )
    assert not missing_tables, f"tables missing from the report: {missing_tables}"

    # the ledger, rendered in the report: one row per entry of results/ledger.tsv
    expected = ledger_entries(run / "results/ledger.tsv")
    ledger = next(p for p in paths if p.endswith("ledger.html"))
    _show(driver, ledger, "html")
    frame = _wait(driver, "return document.querySelector('#app iframe');")
    driver.switch_to.frame(frame)
    rows = _wait(
        driver,
        "const tables = Array.from(document.querySelectorAll('table'));"
        "if (!tables.length) return null;"
        "const counts = tables.map(t => Array.from(t.querySelectorAll('tr')).filter(r => r.querySelector('td')).length);"
        "return [Math.max(...counts)];",
    )[0]
    driver.switch_to.default_content()
    driver.save_screenshot(str(tmp_path / "report_ledger.png"))
    assert rows == expected, f"the report's ledger table has {rows} rows, results/ledger.tsv {expected} entries"
