"""The dashboard's pure JavaScript helpers, run in Chromium as ES modules (chart ticks, form parsing)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dashboard_static_server import serve_static

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def js(chromium: Any) -> Iterator[Any]:
    with serve_static() as base:
        page = chromium.new_page()
        page.goto(f"{base}/ui/static/css/app.css")  # same origin, so module imports are allowed
        yield page
        page.close()


def run(page: Any, module: str, body: str) -> Any:
    return page.evaluate(f"""async () => {{ const m = await import('/ui/static/js/{module}'); {body} }}""")


def test_nice_ticks_cover_the_range(js: Any, shot: Any) -> None:
    ticks = run(js, "charts.js", "return [m.niceTicks(0, 0.37), m.niceTicks(120, 980), m.niceTicks(5, 5)];")
    assert ticks[0][0] <= 0 and ticks[0][-1] >= 0.37 and len(ticks[0]) <= 8
    assert ticks[1][0] <= 120 and ticks[1][-1] >= 980
    assert ticks[2][0] < 5 < ticks[2][-1]
    shot(js, "page")


def test_parse_stages_and_spec(js: Any, shot: Any) -> None:
    stages = run(
        js, "pages/rollout_form.js", "return m.parseStages('canary: dev-a, dev-b\\nten: 10%\\nfive: 5');"
    )
    assert stages == [
        {"name": "canary", "devices": ["dev-a", "dev-b"]},
        {"name": "ten", "percent": 10},
        {"name": "five", "count": 5},
    ]
    spec = run(
        js,
        "pages/rollout_form.js",
        """return m.buildSpec({
        name: 'r1', model: 'digits@1.2.0', target_kind: 'selector', group: '', selector: 'site=lab, ring=a',
        stages: 'c: 1\\nall: 100%', success_share: '1', max_failed: '', max_failed_share: '0.05', soak_s: '0',
        manual_approval: false, metric: 'psi', bound_drift: '0.2', bound_confidence_drop: '',
        bound_error_rate: '0.05', bound_latency_p95: '1.5', gate_action: 'hold', min_samples: '50', window_s: '600'});""",
    )
    assert spec["target"] == {"selector": {"site": "lab", "ring": "a"}}
    assert [s["name"] for s in spec["stages"]] == ["c", "all"]
    assert spec["stages"][0]["error"] == {"max_failed": None, "max_failed_share": 0.05}
    assert [b["gate"] for b in spec["health"]["bounds"]] == ["drift", "error_rate", "latency_p95"]
    assert all(b["action"] == "hold" for b in spec["health"]["bounds"])
    assert spec["health"]["min_samples"] == 50
    err = run(
        js,
        "pages/rollout_form.js",
        "try { m.parseStages('bad line'); return null; } catch (e) { return e.message; }",
    )
    assert err and "stage line 1" in err
    shot(js, "page")
