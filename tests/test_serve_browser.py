"""The workspace end to end in headless Chromium (Debian's ``chromium`` driven by playwright): the coordinator and
two AMC users log in, the coordinator withdraws a package and runs a round (with the consortium game), the AMCs
accept and object, each view shows only what it may (its own packages and allocation),
and an AMC asking for another AMC's assets (page and API) gets 403. Screenshots of the main pages are saved under
``test-artifacts/serve/`` (or ``$POOLING_TEST_ARTIFACTS/serve``)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import warnings
from pathlib import Path

import pytest

from tests.serve_fixtures import PASSWORDS, write_workspace

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"no {CHROMIUM}: install Debian's chromium (apt-get install chromium) to run the browser tests",
                allow_module_level=True)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install '.[test]')")
    uvicorn = pytest.importorskip("uvicorn", reason="the serve extra is not installed (pip install '.[serve]')")

from pooling.serve.app import create_app  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("POOLING_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts")) / "serve"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """uvicorn serving a small workspace on a free loopback port, in a thread."""
    folder = tmp_path_factory.mktemp("browser")
    scenario, users = write_workspace(folder)
    app = create_app(scenario, users, folder / "state")
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield {"url": f"http://127.0.0.1:{port}", "app": app}
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


def _login(browser, url: str, name: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{url}/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")
    assert page.inner_text("#who") == name
    return page


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def test_round_end_to_end_in_chromium(server, browser):
    url = server["url"]
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    coord = _login(browser, url, "coord")
    nat = _login(browser, url, "nat")
    zj = _login(browser, url, "zj")
    _shot(coord, "01-coordinator-home-before")

    # wrong password: a message on the login page
    other = browser.new_context().new_page()
    other.goto(f"{url}/login")
    other.fill("#username", "nat")
    other.fill("#password", "not the password")
    other.click("button[type=submit]")
    assert "wrong user name or password" in other.inner_text("[role=alert]")

    # the coordinator withdraws one of ZJ's packages on the packages page
    coord.goto(f"{url}/packages")
    zj_rows = coord.locator("table.packages[data-amc=ZJ] tr[data-package]")
    assert zj_rows.count() > 1 and coord.locator("table.packages[data-amc=NAT]").count() == 1
    package = zj_rows.first.get_attribute("data-package")
    zj_rows.first.locator("button[type=submit]").click()
    coord.wait_for_url(f"{url}/packages#amc-ZJ")
    row = coord.locator(f"table.packages[data-amc=ZJ] tr[data-package='{package}']")
    assert row.locator("td.state").inner_text() == "withdrawn" and "add back" in row.inner_text()
    _shot(coord, "02-coordinator-packages")

    # the coordinator runs a round with a changed limit; the page follows its progress until it is done
    coord.goto(f"{url}/rounds/new")
    coord.fill("[id='pool.limits.max_province_share']", "0.24")
    _shot(coord, "03-coordinator-new-round")
    coord.click("#round-form button[type=submit]")
    coord.wait_for_url(f"{url}/rounds/1")
    coord.wait_for_function("document.querySelector('#round-status').textContent.trim() == 'done'", timeout=180_000)
    assert coord.locator("#amc-table tr").count() == 1 + 4
    assert coord.locator(".js-plotly-plot").count() == 1  # the chart drew (plotly inline, no network)
    assert coord.locator("#consortium-table tr[data-amc]").count() == 4  # the coordinator sees every allocation
    assert package in coord.inner_text("#round-withdrawn")
    coord.locator("#consortium-table").scroll_into_view_if_needed()
    _shot(coord, "04-coordinator-round")

    # AMC users: accept / object, each names only its own AMC and sees no other AMC's rows
    for page, amc, decision, comment in [(nat, "NAT", "accept", "agreed"), (zj, "ZJ", "object", "ZJ share too small")]:
        page.goto(f"{url}/rounds/1")
        assert page.locator("#consortium-table tr[data-amc]").all_inner_texts()[0].startswith(amc)  # its own part only
        assert page.locator("#consortium-table tr[data-amc]").count() == 1
        assert (package in page.inner_text("main")) == (amc == "ZJ")  # ZJ's withdrawal shown to ZJ alone
        page.check(f"input[name=decision][value={decision}]")
        page.fill("textarea[name=comment]", comment)
        page.click("#decision-form button[type=submit]")
        page.wait_for_url(f"{url}/rounds/1")
        row = page.locator("#decisions tr", has_text=amc)
        assert decision in row.inner_text() and comment in row.inner_text()
        nav = page.inner_text("nav")
        assert "New round" not in nav and "Audit log" not in nav
        page.goto(f"{url}/amcs/{amc}/assets")
        assert page.locator("#assets tr").count() > 1
        ids = page.locator("#assets tr td:first-child").all_inner_texts()
        assert ids  # its own rows
        other_amc = "ZJ" if amc == "NAT" else "NAT"
        response = page.goto(f"{url}/amcs/{other_amc}/assets")
        assert response.status == 403 and "Not allowed" in page.inner_text("h2")
        if amc == "NAT":
            _shot(page, "07-amc-forbidden")
        api = page.request.get(f"{url}/api/amcs/{other_amc}/assets")
        assert api.status == 401  # the API needs a bearer token, not the page's cookie
        token = page.request.post(f"{url}/api/login", data={"username": page.inner_text("#who"),
                                                             "password": PASSWORDS[page.inner_text("#who")]}).json()["token"]
        api = page.request.get(f"{url}/api/amcs/{other_amc}/assets", headers={"Authorization": f"Bearer {token}"})
        assert api.status == 403
        for forbidden in ("/rounds/new", "/audit"):
            assert page.goto(f"{url}{forbidden}").status == 403
        page.goto(f"{url}/packages")  # its own packages, no buttons
        assert page.locator("table.packages").count() == 1 and page.locator(f"table.packages[data-amc={amc}]").count() == 1
        assert page.locator("table.packages button").count() == 0
        if amc == "ZJ":
            _shot(page, "06-amc-packages")
    nat.goto(f"{url}/")
    assert "suppressed" in nat.inner_text("main")  # small cells of other AMCs hidden in NAT's view
    _shot(nat, "05-amc-home")

    coord.goto(f"{url}/rounds/1")
    text = coord.inner_text("#decisions")
    assert "agreed" in text and "ZJ share too small" in text
    coord.goto(f"{url}/audit")
    audit = coord.inner_text("#audit")
    assert "decision: accept" in audit and "decision: object" in audit and "round done" in audit
    assert "package withdrawn" in audit
    _shot(coord, "08-coordinator-audit")

    # logout ends the session
    zj.goto(f"{url}/")
    zj.click("nav button[type=submit]")
    zj.wait_for_url(f"{url}/login")
    zj.goto(f"{url}/")
    assert zj.url == f"{url}/login"
    assert sorted(p.name for p in ARTIFACTS.glob("*.png")) == [
        "01-coordinator-home-before.png", "02-coordinator-packages.png", "03-coordinator-new-round.png",
        "04-coordinator-round.png", "05-amc-home.png", "06-amc-packages.png", "07-amc-forbidden.png",
        "08-coordinator-audit.png"]
