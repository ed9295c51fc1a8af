"""The HTML report: self-contained, escaped, rebuilt from stored results, renders in Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from deepscope.cli import main


@pytest.fixture()
def reproduction_copy(quick_reproduction, tmp_path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(quick_reproduction["out"], copy)
    return copy


def test_report_is_self_contained(quick_reproduction):
    html = (quick_reproduction["out"] / "report.html").read_text()
    # No fetch of anything: every src is inline data, no scripts, no external links.
    sources = re.findall(r'src="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<script" not in html
    assert "http://" not in html and "https://" not in html
    for claim in json.loads((quick_reproduction["out"] / "results.json").read_text())["claims"]:
        assert f'id="{claim["id"]}"' in html


def test_report_rebuilds_without_recomputing(reproduction_copy, capsys):
    before = {p: p.stat().st_mtime_ns for p in reproduction_copy.rglob("result.json")}
    (reproduction_copy / "report.html").unlink()
    assert main(["report", str(reproduction_copy)]) == 0
    assert (reproduction_copy / "report.html").stat().st_size > 10_000
    assert {p: p.stat().st_mtime_ns for p in reproduction_copy.rglob("result.json")} == before


def test_report_escapes_stored_text(reproduction_copy):
    path = reproduction_copy / "parameter-counting" / "result.json"
    result = json.loads(path.read_text())
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    result["statement"] = evil
    result["notes"] = [evil]
    result["checks"][0]["description"] = evil
    path.write_text(json.dumps(result))
    env_path = reproduction_copy / "parameter-counting" / "env.json"
    env = json.loads(env_path.read_text())
    env["command_line"] = ["deepscope", evil]
    env_path.write_text(json.dumps(env))
    assert main(["report", str(reproduction_copy)]) == 0
    html = (reproduction_copy / "report.html").read_text()
    assert "<script" not in html and "onerror=alert(1)>" not in html
    assert "&lt;script&gt;" in html


def test_report_escapes_deviations_and_sanity_checks(reproduction_copy):
    path = reproduction_copy / "parameter-counting" / "result.json"
    result = json.loads(path.read_text())
    evil = '<script>alert("d")</script>'
    result["deviations"] = [evil]
    sanity = [c for c in result["checks"] if c["role"] == "sanity"]
    assert sanity, "parameter-counting keeps a sanity check"
    sanity[0]["description"] = evil
    path.write_text(json.dumps(result))
    assert main(["report", str(reproduction_copy)]) == 0
    html = (reproduction_copy / "report.html").read_text()
    assert "<script" not in html and html.count("&lt;script&gt;alert(&#34;d&#34;)") == 2


def test_report_puts_evidence_first_and_folds_sanity(quick_reproduction):
    html = (quick_reproduction["out"] / "report.html").read_text()
    assert 'id="reduced-scale"' in html  # a quick run says its verdicts are at a reduced scale
    for claim in json.loads((quick_reproduction["out"] / "results.json").read_text())["claims"]:
        section = html.split(f'<section id="{claim["id"]}">', 1)[1].split("</section>", 1)[0]
        result = json.loads(
            (quick_reproduction["out"] / claim["run_dir"] / "result.json").read_text()
        )
        evidence = [c["name"] for c in result["checks"] if c["role"] == "evidence"]
        sanity = [c["name"] for c in result["checks"] if c["role"] == "sanity"]
        head, _, folded = section.partition('<details class="sanity">')
        assert all(f"<code class=\"muted\">{n}</code>" in head for n in evidence)
        assert all(f"<code class=\"muted\">{n}</code>" in folded for n in sanity)
        assert bool(folded) == bool(sanity)
        assert "Deviations from the paper" in head


def test_corrupt_result_is_refused_and_report_kept(reproduction_copy, capsys):
    report = reproduction_copy / "report.html"
    before = report.read_bytes()
    (reproduction_copy / "multiplication-gate" / "result.json").write_text('{"id": "multipl')
    capsys.readouterr()
    assert main(["report", str(reproduction_copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "corrupt result file" in err
    assert report.read_bytes() == before


def test_report_on_missing_or_empty_directory(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "neither" in err


def _chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.mark.browser
def test_report_renders_in_headless_chromium(quick_reproduction, tmp_path):
    found = _chromium()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver must be installed in CI (.ci/run does it)")
        pytest.skip("chromium/chromedriver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = found
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic",
                f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2400"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    out = quick_reproduction["out"]
    try:
        driver.get((out / "report.html").resolve().as_uri())
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
        )
        title = driver.title
        logs = driver.get_log("browser")
        driver.save_screenshot(str(out / "report.png"))
    finally:
        driver.quit()
    assert title == "deepscope report"
    assert len(images) >= 3
    broken = [alt for alt, complete, width in images if not complete or width == 0]
    assert broken == []
    errors = [entry for entry in logs if entry.get("level") in ("SEVERE", "ERROR")]
    assert errors == []
    assert (out / "report.png").stat().st_size > 10_000
