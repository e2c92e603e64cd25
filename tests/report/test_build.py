"""`loadlab report` on a recorded small run: what a reader of the report gets."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from loadlab.core.errors import LabError
from loadlab.report import build_report, write_index
from loadlab.report.claims import load_claims
from tests.report import expected
from tests.report.conftest import derive_run, load_json, metrics, parse

URL_ATTRIBUTES = {"src", "href", "xlink:href", "action", "formaction", "poster", "data", "srcset"}


def shown_number(text: str) -> tuple[float, float]:
    """The first number in a cell's text, and half a unit of its last digit (its rounding)."""
    match = re.search(r"\d[\d,]*(?:\.(\d+))?", text)
    assert match, f"no number in {text!r}"
    decimals = len(match.group(1) or "")
    return float(match.group(0).replace(",", "")), 0.5 * 10**-decimals + 1e-9


def test_report_has_html_markdown_charts_and_the_raw_data(report: Path, run_dir: Path) -> None:
    assert (report / "index.html").stat().st_size > 10_000
    assert (report / "report.md").stat().st_size > 1_000
    for name in ("summary.json", "manifest.json", "config.json"):
        assert (report / name).read_bytes() == (run_dir / name).read_bytes()
    for cell in (run_dir / "cells").iterdir():
        for raw in cell.iterdir():
            if raw.suffix in {".csv", ".hdr", ".json"}:
                assert (report / "cells" / cell.name / raw.name).read_bytes() == raw.read_bytes()
    charts = sorted(p.name for p in (report / "charts").glob("*.svg"))
    for wanted in ("headline.svg", "throughput.svg", "latency.svg", "ratios.svg"):
        assert wanted in charts
    assert any(name.startswith("cpu-") for name in charts)
    # the Markdown shows its charts from files beside it
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (report / "report.md").read_text())
    assert "charts/headline.svg" in images
    for image in images:
        assert (report / image).is_file(), image
    # and the reports index lists it
    index = (report.parent / "index.html").read_text()
    assert f'href="{report.name}/index.html"' in index


def test_html_loads_nothing_from_anywhere(report: Path) -> None:
    html = (report / "index.html").read_text()
    page = parse(html)
    tags = {e.tag for e in page.elements}
    assert not tags & {"link", "script", "iframe", "object", "embed", "img", "base"}
    for element in page.elements:
        for name, value in element.attrs.items():
            value = value.strip()
            assert "http://" not in value and "https://" not in value, (element.tag, name, value)
            if name in URL_ATTRIBUTES:
                assert value.startswith(("#", "data:")), (element.tag, name, value)
    css = "\n".join(page.styles)
    assert "@import" not in css and "@font-face" not in css
    for target in re.findall(r"url\(\s*['\"]?([^)'\"]*)", html):
        assert target.startswith(("#", "data:")), target
    assert page.elements.count  # parsed something
    assert len([e for e in page.elements if e.tag == "svg"]) >= 5


def test_headline_table_shows_the_numbers_in_summary_json(report: Path, run_dir: Path) -> None:
    summary = load_json(run_dir / "summary.json")
    cells = metrics(parse((report / "index.html").read_text()))
    label = summary["run_id"]
    seen: set[tuple[str, str]] = set()
    for workload in expected.workloads(summary):
        for variant, row in expected.rows(summary, workload).items():
            for metric, value in (
                ("throughput", row.throughput),
                ("p50", row.p50),
                ("p99", row.p99),
            ):
                [cell] = [
                    c
                    for c in cells
                    if c.attrs["data-metric"] == metric
                    and c.attrs.get("data-workload") == workload
                    and c.attrs.get("data-variant") == variant
                    and c.attrs["data-run"] == label
                ]
                if value is None:
                    assert cell.attrs["data-value"] == "" and "—" in cell.text
                    continue
                assert float(cell.attrs["data-value"]) == pytest.approx(value, rel=1e-12)
                shown, rounding = shown_number(cell.head)
                assert abs(shown - value) <= rounding, (workload, variant, metric, cell.text)
            seen.add((workload, variant))
        for denominator in ("flask-sync", "flask-gevent"):
            figure = expected.ratio(summary, workload, summary["baseline_numerator"], denominator)
            assert figure is not None
            [cell] = [
                c
                for c in cells
                if c.attrs["data-metric"] == "ratio"
                and c.attrs["data-workload"] == workload
                and c.attrs["data-denominator"] == denominator
            ]
            assert float(cell.attrs["data-value"]) == pytest.approx(figure.median, rel=1e-12)
            assert float(cell.attrs["data-ci-low"]) == pytest.approx(figure.ci_low, rel=1e-12)
            assert float(cell.attrs["data-ci-high"]) == pytest.approx(figure.ci_high, rel=1e-12)
            shown, rounding = shown_number(cell.head)
            assert abs(shown - figure.median) <= rounding
            if figure.ci_low != figure.ci_high:
                assert f"{figure.ci_low:.2f}" in cell.text and f"{figure.ci_high:.2f}" in cell.text
    every = {(a["workload"], a["variant"]) for a in summary["aggregates"]}
    assert seen == every


def test_markdown_headline_tables_match_summary_json(report: Path, run_dir: Path) -> None:
    summary = load_json(run_dir / "summary.json")
    markdown = (report / "report.md").read_text()
    rendered = MarkdownIt("commonmark").enable("table").render(markdown)
    # a headline table per workload, the claims, the variants and the environment tables
    assert rendered.count("<table") >= len(expected.workloads(summary)) + 3
    assert rendered.count("<img") >= 5
    for workload in expected.workloads(summary):
        section = markdown.split(f"\n### {workload}\n", 1)[1].split("\n#", 1)[0]
        for variant, row in expected.rows(summary, workload).items():
            [line] = [ln for ln in section.splitlines() if ln.startswith(f"| {variant} |")]
            shown, rounding = shown_number(line.split("|")[2])
            assert abs(shown - row.throughput) <= rounding, line


def test_claims_carry_each_published_figure_with_a_computed_verdict(
    report: Path, run_dir: Path
) -> None:
    summary = load_json(run_dir / "summary.json")
    claims = load_claims()
    sources = " ".join(c.source for c in claims)
    for name in (
        "Tech-Insider",
        "Strapi",
        "Codecademy",
        "XpertLab",
        "Manjusaka",
        "Cal Paterson",
        "Grinberg",
        "Bilouro",
    ):
        assert name in sources
    verdicts = {
        e.attrs["data-claim"]: e.attrs["data-verdict"]
        for e in parse((report / "index.html").read_text()).elements
        if "data-claim" in e.attrs
    }
    assert set(verdicts) == {c.id for c in claims}
    ran = set(expected.workloads(summary))
    for claim in claims:
        workload = next((w for w in claim.workloads if w in ran), None)
        figure = (
            expected.ratio(summary, workload, claim.fastapi_variant, claim.flask_variant)
            if workload
            else None
        )
        if figure is None:
            assert verdicts[claim.id] == "not measured", claim.id
        else:
            want = expected.verdict(claim.ratio_low, claim.ratio_high, figure)
            assert verdicts[claim.id] == want, claim.id
    assert "not measured in this run" in (report / "index.html").read_text()


def test_environment_and_method_come_from_the_manifest(report: Path, run_dir: Path) -> None:
    manifest = load_json(run_dir / "manifest.json")
    summary = load_json(run_dir / "summary.json")
    html = (report / "index.html").read_text()
    text = re.sub(r"<[^>]+>", " ", html)
    text = re.sub(
        r"\s+", " ", text.replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&")
    )
    for value in (
        manifest["machine"]["hostname"],
        manifest["machine"]["cpu_model"],
        manifest["python"],
        manifest["postgres"]["version"],
        manifest["data"]["checksum"],
        manifest["postgres"]["settings"]["shared_buffers"],
    ):
        assert str(value) in text, value
    for record in manifest["variants"].values():
        assert " ".join(record["command"]) in text
    for caveat in manifest["caveats"] + summary["caveats"]:
        assert caveat in text
    for cell in summary["cells"]:
        if not cell["validity"]["valid"]:
            assert cell["spec"]["cell_id"] in text
            for reason in cell["validity"]["reasons"]:
                # a coded finding shows its message; a run from before codes, its string
                assert (reason["message"] if isinstance(reason, dict) else reason) in text
    repeats = len({c["spec"]["repeat"] for c in summary["cells"] if c["spec"]["phase"] == "matrix"})
    assert f"repeats {repeats}" in text
    # the one command that re-runs it, pointed at this report's copy of the config
    assert f"--config {report.name}/config.json" in text or "config.json" in text
    assert manifest["command"] in text


def test_several_runs_side_by_side(tmp_path: Path, run_dir: Path) -> None:
    other = derive_run(
        tmp_path / "results", "20250302T090000Z-cloud", hostname="cloud-vm", json_ratio_factor=1.5
    )
    report = build_report([run_dir, other], out_root=tmp_path / "reports", name="local-vs-cloud")
    html = (report / "index.html").read_text()
    cells = metrics(parse(html))
    assert {c.attrs["data-run"] for c in cells} == {
        "20250301T101500Z-small",
        "20250302T090000Z-cloud",
    }
    assert "Run against run" in html
    assert "cloud-vm" in html and "fixture-host" in html  # environment side by side
    assert 'class="badge v-higher"' in html  # json ratios moved beyond their CIs
    assert 'class="badge v-reproduced"' in html  # db-read ratios did not move
    for run in ("20250301T101500Z-small", "20250302T090000Z-cloud"):
        assert (report / "runs" / run / "summary.json").is_file()
    meta = load_json(report / "report.json")
    assert [r["path"] for r in meta["runs"]] == [
        "runs/20250301T101500Z-small",
        "runs/20250302T090000Z-cloud",
    ]


def test_rebuilding_replaces_the_report_and_leaves_nothing_behind(
    tmp_path: Path, run_dir: Path
) -> None:
    first = build_report([run_dir], out_root=tmp_path, name="again")
    (first / "stale.txt").write_text("from an older build")
    second = build_report([first], out_root=tmp_path, name="again")  # from the report's own copy
    assert second == first and not (second / "stale.txt").exists()
    assert (second / "cells").is_dir() and (second / "summary.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "index.html"]
    index = write_index(tmp_path)
    assert 'href="again/index.html"' in index.read_text()


def test_a_run_without_summary_is_a_clear_error(tmp_path: Path, run_dir: Path) -> None:
    broken = tmp_path / "run"
    shutil.copytree(run_dir, broken)
    (broken / "summary.json").unlink()
    with pytest.raises(LabError, match="loadlab summarize"):
        build_report([broken], out_root=tmp_path / "reports")
    assert not (tmp_path / "reports").exists() or not any(
        p.is_dir() for p in (tmp_path / "reports").iterdir()
    )


def test_bad_report_names_are_refused(tmp_path: Path, run_dir: Path) -> None:
    with pytest.raises(LabError):
        build_report([run_dir], out_root=tmp_path, name="../escape")
