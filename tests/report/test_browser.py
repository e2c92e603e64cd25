"""The report as a reader opens it: headless Chromium, no network, charts on screen."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from loadlab.report import build_report
from loadlab.report.charts import VARIANT_COLORS
from tests.report.chromium import Chromium, find_chromium

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        pytest.fail(
            "headless Chromium is needed to check the report renders: install Debian's "
            "`chromium` package (apt-get install chromium); .ci/run installs it when missing"
        )
    return binary


def _pixels_near(image: Image.Image, hex_color: str, tolerance: int = 24) -> int:
    target = tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return sum(
        count
        for count, rgb in image.getcolors(maxcolors=1 << 24)
        if all(abs(a - b) <= tolerance for a, b in zip(rgb, target, strict=True))
    )


def test_report_renders_its_charts_without_errors_or_requests(chromium: str, report: Path) -> None:
    with Chromium(chromium) as browser:
        visit = browser.visit(report / "index.html", open_details=True)

    assert visit.console_errors == []
    # nothing but the page itself was requested
    assert visit.requests == [(report / "index.html").resolve().as_uri()]
    # every chart is on the page with a real size and drawn content
    assert len(visit.charts) >= 6
    for chart in visit.charts:
        assert chart["width"] > 300 and chart["height"] > 150, chart
        assert chart["shapes"] > 20, chart

    image = Image.open(io.BytesIO(visit.screenshot)).convert("RGB")
    width, height = image.size
    assert width >= 1000 and height > 3000  # the whole page, not a blank viewport
    colors = image.getcolors(maxcolors=1 << 24)
    white = sum(c for c, rgb in colors if min(rgb) >= 245)
    assert white < 0.97 * width * height, "the screenshot is blank"
    assert len(colors) > 200
    # each variant's colour was painted: the charts rendered, not just the tables' swatches
    for variant, color in VARIANT_COLORS.items():
        if variant in ("flask-sync", "flask-gevent", "fastapi-async"):
            assert _pixels_near(image, color) > 2_000, variant


def test_several_runs_and_the_index_render_cleanly(
    chromium: str, tmp_path: Path, run_dir: Path
) -> None:
    from tests.report.conftest import derive_run

    other = derive_run(
        tmp_path / "results", "20250302T090000Z-cloud", hostname="cloud-vm", json_ratio_factor=1.2
    )
    report = build_report([run_dir, other], out_root=tmp_path / "reports", name="side-by-side")
    with Chromium(chromium) as browser:
        page = browser.visit(report / "index.html")
        index = browser.visit(tmp_path / "reports" / "index.html", full_page=False)
    assert page.console_errors == [] and index.console_errors == []
    assert all(url.startswith("file://") for url in page.requests + index.requests)
    assert any(c["id"] == "chart-headline" and c["width"] > 300 for c in page.charts)
