"""Real browser: the embedding view after the guided demo (forget star). Selecting points in one panel selects
the same images in the others, the inspector opens on one of them, and the computed sentence names star.
Screenshots go to $UNSIR_SCREENSHOTS like the other browser tests."""

from __future__ import annotations

import pytest

from tests.test_browser import LONG, chromium, go, idle, shot
from tests.test_browser import browser_page as open_page
from tests.test_browser import server as server  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(2400)]

# Per panel, the test indices of its selected points (customdata is not sent: the hover text starts with them).
SELECTED_BY_PANEL = """() => {
  const gd = [...document.querySelectorAll('[data-testid=stMain] .js-plotly-plot')]
    .find(g => (g.layout.dragmode === 'select') && g.data.length > 6);
  const panels = {};
  gd.data.forEach(t => {
    if (!t.selectedpoints || t.x[0] === null) return;
    const axis = t.xaxis || 'x';
    const ids = t.selectedpoints.map(k => t.text[k].split(' · test image ')[1].split('<br>')[0]);
    panels[axis] = (panels[axis] || []).concat(ids);
  });
  return Object.values(panels).map(p => p.sort().join(','));
}"""


# The panel titles (subplot annotations) whose box meets the modebar's.
TITLES_UNDER_MODEBAR = """g => {
  const bar = g.querySelector('.modebar').getBoundingClientRect();
  return [...g.querySelectorAll('.annotation')].filter(a => {
    const r = a.getBoundingClientRect();
    return r.left < bar.right && r.right > bar.left && r.top < bar.bottom && r.bottom > bar.top;
  }).map(a => a.textContent);
}"""


def test_selecting_points_in_one_panel_selects_them_in_the_others_and_opens_the_inspector(server):  # noqa: F811
    with chromium() as browser:
        page = open_page(browser, server)
        idle(page)
        page.get_by_role("button", name="Run the guided demo").click()
        idle(page)
        expect_visible(page.get_by_text("Latest result:").first, 4 * LONG)  # a whole run
        go(page, "Results")
        main = page.get_by_test_id("stMain")
        heading = main.get_by_role("heading", name="Where did the forget class go in feature space?")
        expect_visible(heading)
        sentence = main.get_by_test_id("stAlertContentInfo").filter(has_text="star images")
        expect_visible(sentence.first)
        plots = main.locator(".js-plotly-plot")
        target = None
        for i in range(plots.count()):
            if plots.nth(i).evaluate("g => g.layout.dragmode === 'select' && g.data.length > 6"):
                target = plots.nth(i)
                break
        assert target is not None, "no embedding chart on the Results page"
        target.scroll_into_view_if_needed()
        target.hover()  # shows the modebar: it must not cover a panel's title
        assert target.evaluate(TITLES_UNDER_MODEBAR) == []
        box = target.locator(".nsewdrag").first.bounding_box()  # the first panel's plotting area
        page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.8, steps=8)
        page.mouse.up()
        idle(page)
        # the rerun the selection triggers opens the inspector and marks the same images in every panel
        expect_visible(main.get_by_text("from the selection (").first)
        page.wait_for_function(f"() => ({SELECTED_BY_PANEL})().length === 3", timeout=LONG)
        panels = page.evaluate(SELECTED_BY_PANEL)
        assert len(panels) == 3 and panels[0] and panels[0] == panels[1] == panels[2], panels
        shot(page, "views-1-selection")
        count = len(panels[0].split(","))
        expect_visible(main.get_by_text(f"from the selection ({count})"))
        picked = main.get_by_test_id("stSelectbox").filter(has_text="Selected test image")
        expect_visible(picked)
        expect_visible(main.get_by_text("membership score").first)
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=stMain] img')].filter(i => i.complete && "
            "i.naturalWidth > 0).length >= 4",
            timeout=LONG,
        )
        picked.scroll_into_view_if_needed()
        shot(page, "views-2-inspector")


def expect_visible(locator, timeout: int = LONG) -> None:
    from playwright.sync_api import expect

    expect(locator).to_be_visible(timeout=timeout)
