"""The workspace's pages and JSON API (FastAPI's TestClient): every route and role, forged and expired tokens,
CSRF, privacy (403 and small-cell suppression recomputed from the assets), rounds through the pipeline, the
audit log across a restart, concurrent rounds refused, bad input answered with a message (never a 500)."""

from __future__ import annotations

import sqlite3
import time
import warnings

import pandas as pd
import pytest

from tests.serve_fixtures import PASSWORDS, crash_round, write_workspace

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from pooling.consortium.packages import package_labels
from pooling.errors import InputError
from pooling.pipeline import prepare
from pooling.scenario import load_scenario
from pooling.serve.app import COOKIE, create_app
from pooling.serve.privacy import CONTRIBUTED, Views
from pooling.serve.rounds import DIMENSIONS, round_cells, round_process
from pooling.serve.store import Store
from pooling.serve.users import add_user, load_users

API_ROUTES = [("get", "/api/me"), ("get", "/api/amcs/NAT/assets"), ("get", "/api/pool/summary"),
              ("get", "/api/rounds"), ("get", "/api/rounds/1"), ("post", "/api/rounds"),
              ("post", "/api/rounds/1/decision"), ("get", "/api/audit"), ("get", "/api/packages"),
              ("post", "/api/packages")]
PAGES = ["/", "/amcs/NAT/assets", "/rounds/new", "/audit", "/packages"]


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """A workspace with one finished round (requested by the coordinator)."""
    folder = tmp_path_factory.mktemp("serve")
    scenario, users = write_workspace(folder)
    app = create_app(scenario, users, folder / "state")
    client = TestClient(app)
    tokens = {name: _login(client, name) for name in PASSWORDS}
    first = client.post("/api/rounds", json={"changes": {}}, headers=tokens["coord"])
    second = client.post("/api/rounds", json={"changes": {}}, headers=tokens["coord"])  # while the first runs
    app.state.workspace.worker.join(120)
    assets = prepare(load_scenario(scenario)).assets
    nat_round1 = client.get("/api/rounds/1", headers=tokens["nat"]).json()  # NAT's view before any later round
    return {"folder": folder, "scenario": scenario, "users": users, "app": app, "client": client, "tokens": tokens,
            "first": first, "second": second, "assets": assets, "nat_round1": nat_round1}


def _login(client, name: str) -> dict:
    r = client.post("/api/login", json={"username": name, "password": PASSWORDS[name]})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _browser(ws, name: str) -> TestClient:
    """A client with a page session of ``name`` (its own cookie jar)."""
    c = TestClient(ws["app"])
    r = c.post("/login", data={"username": name, "password": PASSWORDS[name]}, follow_redirects=False)
    assert r.status_code == 303 and COOKIE in r.cookies
    return c


def _csrf(html: str) -> str:
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


# -- users ---------------------------------------------------------------------------------------------------------


def test_users_add_hashes_and_refuses_bad_roles(tmp_path):
    path = tmp_path / "users.yaml"
    add_user(path, "c", "coordinator", "long-enough-pw")
    add_user(path, "a", "amc", "long-enough-pw", "NAT", {"NAT", "ZJ"})
    add_user(path, "a", "amc", "another-password", "ZJ", {"NAT", "ZJ"})  # replaces
    users = load_users(path, {"NAT", "ZJ"})
    assert sorted(users) == ["a", "c"] and users["a"].amc_id == "ZJ"
    assert all(u.password_hash.startswith("$argon2id$") for u in users.values())
    assert "long-enough-pw" not in path.read_text() and "another-password" not in path.read_text()
    for args, words in [(("x", "boss", "long-enough-pw"), "role 'boss'"),
                        (("x", "amc", "long-enough-pw", "XX", {"NAT"}), "'XX': not an AMC"),
                        (("x", "amc", "long-enough-pw"), "needs the id"),
                        (("x", "coordinator", "short"), "at least 8")]:
        with pytest.raises(InputError, match=words):
            add_user(path, *args)
    with pytest.raises(InputError, match="amc_id 'ZJ' is not an AMC"):
        load_users(path, {"NAT"})


# -- authentication ------------------------------------------------------------------------------------------------


def test_every_api_route_needs_a_token(ws):
    c = ws["client"]
    for method, path in API_ROUTES:
        r = getattr(c, method)(path, **({"json": {}} if method == "post" else {}))
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.headers["www-authenticate"] == "Bearer"


def test_forged_expired_and_wrong_kind_tokens_are_refused(ws):
    c, tokens = ws["client"], ws["app"].state.workspace.tokens
    good = ws["tokens"]["coord"]["Authorization"].split()[1]
    body, sig = good.split(".")
    forged_body = tokens.issue("coord", "api", 3600).split(".")[0]
    for token in [f"{forged_body}.{sig}", f"{body}.{sig[:-2]}AA", "nonsense", tokens.issue("coord", "api", -1),
                  tokens.issue("coord", "session", 3600), tokens.issue("nobody", "api", 3600)]:
        assert c.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    # pages: a forged, an expired and an API token as cookie all lead to the login page
    for cookie in [f"{body}.{sig}", tokens.issue("coord", "session", -1), tokens.issue("coord", "session", 3600)[:-3] + "xyz"]:
        b = TestClient(ws["app"])
        b.cookies.set(COOKIE, cookie)
        r = b.get("/", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    assert c.get("/api/me", headers=ws["tokens"]["nat"]).json() == {"name": "nat", "role": "amc", "amc_id": "NAT"}


def test_login_cookie_flags_wrong_password_and_rate_limit(tmp_path):
    scenario, users = write_workspace(tmp_path, n_assets=200)
    app = create_app(scenario, users, tmp_path / "state", login_attempts=3, login_window=60)
    c = TestClient(app)
    r = c.post("/login", data={"username": "zj", "password": PASSWORDS["zj"]}, follow_redirects=False)
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=" in cookie
    assert c.post("/api/login", json={"username": 3}).status_code == 422
    r = c.post("/login", data={})  # empty form: a message, not a 500
    assert r.status_code == 401 and "wrong user name or password" in r.text
    for _ in range(2):
        assert c.post("/api/login", json={"username": "nat", "password": "wrong"}).status_code == 401
    r = c.post("/api/login", json={"username": "nat", "password": PASSWORDS["nat"]})
    assert r.status_code == 429 and "try again" in r.json()["detail"]
    r = c.post("/login", data={"username": "nat", "password": PASSWORDS["nat"]})
    assert r.status_code == 429 and "too many failed logins" in r.text


def test_logout_revokes_the_session_and_needs_csrf(ws):
    b = _browser(ws, "zj")
    html = b.get("/").text
    assert b.post("/logout", data={}, follow_redirects=False).status_code == 403  # no CSRF token
    old = b.cookies.get(COOKIE)
    r = b.post("/logout", data={"csrf": _csrf(html)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    again = TestClient(ws["app"])
    again.cookies.set(COOKIE, old)
    assert again.get("/", follow_redirects=False).status_code == 303


# -- privacy -------------------------------------------------------------------------------------------------------


def test_assets_only_for_own_amc_or_coordinator(ws):
    c, t = ws["client"], ws["tokens"]
    assets = ws["assets"]
    r = c.get("/api/amcs/NAT/assets", headers=t["nat"])
    assert r.status_code == 200
    data = r.json()
    assert data["total"] == int((assets["amc_id"] == "NAT").sum())
    assert {row["asset_id"] for row in data["assets"]} <= set(assets.loc[assets["amc_id"] == "NAT", "asset_id"].astype(str))
    assert c.get("/api/amcs/ZJ/assets", headers=t["nat"]).status_code == 403
    assert c.get("/api/amcs/NAT/assets", headers=t["zj"]).status_code == 403
    assert c.get("/api/amcs/ZJ/assets", headers=t["coord"]).status_code == 200
    assert c.get("/api/amcs/XX/assets", headers=t["coord"]).status_code == 404
    assert c.get("/api/amcs/NAT/assets?limit=0", headers=t["nat"]).status_code == 422
    page = _browser(ws, "nat")
    assert page.get("/amcs/NAT/assets").status_code == 200
    r = page.get("/amcs/ZJ/assets")
    assert r.status_code == 403 and "visible only to ZJ" in r.text
    zj_ids = assets.loc[assets["amc_id"] == "ZJ", "asset_id"].astype(str)
    for path in ["/", "/rounds/1"]:  # no other AMC's asset id anywhere on an AMC user's pages
        html = page.get(path).text
        assert not any(f">{a}<" in html for a in zj_ids)
    for path in ["/rounds/new", "/audit"]:
        assert page.get(path).status_code == 403
    assert c.get("/api/audit", headers=t["nat"]).status_code == 403


def _independent_cells(pool: pd.DataFrame, dim: str, amc: str) -> pd.DataFrame:
    n = pool.groupby(dim, observed=True).size()
    others = pool[pool["amc_id"] != amc].groupby(dim, observed=True).size().reindex(n.index, fill_value=0)
    return pd.DataFrame({"n": n, "others": others})


def test_pool_summary_suppresses_small_cells_of_other_amcs(ws):
    c, t, assets = ws["client"], ws["tokens"], ws["assets"]
    rounds = c.get("/api/rounds", headers=t["coord"]).json()["rounds"]
    coord = c.get("/api/pool/summary", headers=t["coord"]).json()
    assert coord["round"] == rounds[0]["id"]
    selected = c.get("/api/rounds/1", headers=t["coord"]).json()["result"]["selected"]
    keys = pd.DataFrame([(a, i) for a, ids in selected.items() for i in ids], columns=["amc_id", "asset_id"])
    pool = assets.astype({"asset_id": str}).merge(keys, on=["amc_id", "asset_id"])
    assert len(pool) == coord["pool"]["n_assets"]
    nat = c.get("/api/pool/summary", headers=t["nat"]).json()
    hidden_somewhere = 0
    for dim in DIMENSIONS:
        truth = _independent_cells(pool, dim, "NAT")
        assert {r["category"]: r["n_assets"] for r in coord["aggregates"][dim]} == truth["n"].to_dict()
        assert not any(r["suppressed"] for r in coord["aggregates"][dim])
        shown = {r["category"]: r for r in nat["aggregates"][dim]}
        small = truth[(truth["others"] > 0) & (truth["others"] < 3)].index
        for cat in small:  # every small cell hidden, numbers and all
            assert shown[cat]["suppressed"] and shown[cat]["n_assets"] is None and shown[cat]["gbv"] is None
        n_hidden = sum(r["suppressed"] for r in shown.values())
        assert n_hidden != 1  # one hidden cell alone would be the total minus the others
        hidden_somewhere += n_hidden
        for cat, r in shown.items():
            if not r["suppressed"]:
                assert r["n_assets"] == truth.loc[cat, "n"]
    assert hidden_somewhere > 0  # the fixture does have small cells
    # AMC totals: other AMCs' selected ids never reach an AMC user
    r1 = c.get("/api/rounds/1", headers=t["nat"]).json()["result"]
    assert set(r1["selected"]) == {"NAT"} and "cells" in r1
    assert c.get("/api/rounds/1", headers=t["zj"]).json()["result"]["selected"].keys() == {"ZJ"}


# -- rounds --------------------------------------------------------------------------------------------------------


def test_round_ran_through_the_pipeline_and_a_concurrent_one_was_refused(ws):
    assert ws["first"].status_code == 202 and ws["first"].json()["round_id"] == 1
    assert ws["second"].status_code == 409
    c, t = ws["client"], ws["tokens"]
    r = c.get("/api/rounds/1", headers=t["coord"]).json()
    assert r["status"] == "done", r
    res = r["result"]
    assert sum(a["n_assets"] for a in res["amcs"].values()) == res["pool"]["n_assets"]
    assert abs(sum(a["gbv"] for a in res["amcs"].values()) - res["pool"]["gbv"]) < 1e-3 * res["pool"]["gbv"]
    assert abs(sum(a["share"] for a in res["amcs"].values()) - 1) < 1e-9
    assert sum(len(v) for v in res["selected"].values()) == res["pool"]["n_assets"]
    assert res["structure"]["senior_size"] > 0
    for name in ("nat", "zj"):
        assert c.post("/api/rounds", json={"changes": {}}, headers=t[name]).status_code == 403


def test_a_crashed_round_is_failed_and_the_server_keeps_serving(ws):
    """Runs before the second round's test, whose round then shows the worker recovered (a fresh process)."""
    c, t, worker = ws["client"], ws["tokens"], ws["app"].state.workspace.worker
    worker.task = crash_round
    try:
        rid = c.post("/api/rounds", json={"changes": {}}, headers=t["coord"]).json()["round_id"]
        worker.join(120)
    finally:
        worker.task = round_process
    r = c.get(f"/api/rounds/{rid}", headers=t["coord"]).json()
    assert r["status"] == "failed" and "ended abruptly" in r["error"] and "exit code 3" in r["error"], r["error"]
    failed = next(a for a in c.get("/api/audit", headers=t["coord"]).json()["audit"] if a["what"] == "round failed")
    assert failed["round_id"] == rid and "ended abruptly" in failed["after"]["error"]
    assert c.get("/api/me", headers=t["nat"]).status_code == 200 and not c.get("/api/rounds", headers=t["coord"]).json()["busy"]
    assert c.get("/api/pool/summary", headers=t["coord"]).json()["round"] != rid  # the latest finished round stands


def test_bad_round_input_is_a_message_and_a_second_round_shows_its_diff(ws):
    c, t = ws["client"], ws["tokens"]
    r = c.post("/api/rounds", json={"changes": {"pool.limits.nonsense": 1, "amcs.XX.max_share": 0.5}}, headers=t["coord"])
    assert r.status_code == 400 and len(r.json()["detail"]) == 2
    r = c.post("/api/rounds", json={"changes": {"pool.limits.max_province_share": 7}}, headers=t["coord"])
    assert r.status_code == 400 and "max_province_share" in str(r.json()["detail"])
    assert c.post("/api/rounds", json={"changes": {"pool.limits.max_province_share": "x"}},
                  headers=t["coord"]).status_code == 422
    # the page form: text that is not a number names the field; a missing/wrong CSRF token is refused
    b = _browser(ws, "coord")
    token = _csrf(b.get("/rounds/new").text)
    r = b.post("/rounds", data={"csrf": token, "pool.limits.max_province_share": "lots"})
    assert r.status_code == 400 and "pool.limits.max_province_share: &#39;lots&#39; is not a number" in r.text
    assert b.post("/rounds", data={"pool.limits.max_province_share": "0.3"}).status_code == 403
    assert b.post("/rounds", data={"csrf": token[::-1], "pool.limits.max_province_share": "0.3"}).status_code == 403
    # ZJ's package with the most assets in round 1's pool is withdrawn for round 2
    assets = ws["assets"].assign(package=package_labels(ws["assets"]).to_numpy(), asset_id=ws["assets"]["asset_id"].astype(str))
    r1 = c.get("/api/rounds/1", headers=t["coord"]).json()["result"]
    zj = assets[(assets["amc_id"] == "ZJ") & assets["asset_id"].isin(r1["selected"]["ZJ"])]
    package = zj["package"].value_counts().index[0]
    package_ids = set(assets.loc[(assets["amc_id"] == "ZJ") & (assets["package"] == package), "asset_id"])
    assert c.post("/api/packages", json={"amc_id": "ZJ", "package": package, "action": "withdraw"},
                  headers=t["coord"]).json()["withdrawn"] == [package]
    r = b.post("/rounds", data={"csrf": token, "pool.limits.max_province_share": "0.22", "amcs.NAT.max_share": "0.55"},
               follow_redirects=False)
    assert r.status_code == 303
    rid = int(r.headers["location"].rsplit("/", 1)[1])
    seen, deadline = set(), time.time() + 120  # progress is visible while the round runs
    while time.time() < deadline:
        d = c.get(f"/api/rounds/{rid}", headers=t["coord"]).json()
        seen.add((d["status"], d["stage"]))
        if d["status"] not in ("queued", "running"):
            break
        if not c.get("/api/rounds", headers=t["coord"]).json()["busy"]:  # idle only once the round has ended
            assert c.get(f"/api/rounds/{rid}", headers=t["coord"]).json()["status"] not in ("queued", "running")
        time.sleep(0.05)
    assert any(status == "running" for status, _ in seen), seen
    assert any(stage.startswith("coalition values: ") and " of 15" in stage for _, stage in seen), seen  # game progress
    assert not c.get("/api/rounds", headers=t["coord"]).json()["busy"]
    assert d["status"] == "done" and d["previous_round"] == 1
    assert d["changes"] == {"pool.limits.max_province_share": 0.22, "amcs.NAT.max_share": 0.55}
    assert d["diff"]["limits"]["amcs.NAT.max_share"] == {"before": 0.6, "after": 0.55}
    r1 = c.get("/api/rounds/1", headers=t["coord"]).json()["result"]
    r2 = d["result"]
    for amc, x in d["diff"]["amcs"].items():  # recomputed from the two rounds' own numbers and ids
        assert x["n_assets"] == r2["amcs"][amc]["n_assets"] - r1["amcs"][amc]["n_assets"]
        assert x["added"] == len(set(r2["selected"].get(amc, [])) - set(r1["selected"].get(amc, [])))
        assert x["added"] - x["removed"] == x["n_assets"]
    assert r2["amcs"]["NAT"]["share"] <= 0.55 + 1e-6
    html = b.get(f"/rounds/{rid}").text
    assert "Limits changed since round 1" in html and "Plotly.newPlot" in html and "<script src" not in html
    # the withdrawn package: none of its assets in the pool, nor among ZJ's contributed assets; the diff says so
    assert d["withdrawn"] == {"ZJ": [package]} and r2["withdrawn"] == {"ZJ": [package]}
    assert not package_ids & set(r2["selected"]["ZJ"]) and package_ids & set(r1["selected"]["ZJ"])
    assert r2["amcs"]["ZJ"]["contributed_assets"] == r1["amcs"]["ZJ"]["contributed_assets"] - len(package_ids)
    assert d["diff"]["packages"] == {"ZJ": {"withdrawn": [package], "added_back": []}}
    assert all(p["package"] != package for p in r2["packages"] if p["amc_id"] == "ZJ")  # not valued: not in the run
    # who gained: each AMC's allocation change, recomputed from the two rounds
    for amc, x in d["diff"]["consortium"]["amcs"].items():
        assert x["allocation"] == pytest.approx(r2["consortium"]["amcs"][amc]["allocation"]
                                                - r1["consortium"]["amcs"][amc]["allocation"], abs=1e-6)
    assert "Packages changed since round 1" in html and package in html and "Δ allocation" in html
    # ZJ sees its withdrawal; NAT sees neither ZJ's packages nor its allocation
    assert c.get(f"/api/rounds/{rid}", headers=t["zj"]).json()["withdrawn"] == {"ZJ": [package]}
    nat = c.get(f"/api/rounds/{rid}", headers=t["nat"]).json()
    assert nat["withdrawn"] == {} and nat["diff"]["packages"] == {} and set(nat["diff"]["consortium"]["amcs"]) == {"NAT"}
    assert package not in _browser(ws, "nat").get(f"/rounds/{rid}").text
    assert c.post("/api/packages", json={"amc_id": "ZJ", "package": package, "action": "add"},
                  headers=t["coord"]).json()["withdrawn"] == []


def _other_sets(assets: pd.DataFrame, selected: dict, amc: str) -> dict[tuple[str, str], frozenset]:
    """Per (dimension, category): the other AMCs' (amc_id, asset_id) in a round's pool, from its selected ids."""
    keys = pd.DataFrame([(a, i) for a, ids in selected.items() for i in ids], columns=["amc_id", "asset_id"])
    pool = assets.astype({"asset_id": str}).merge(keys, on=["amc_id", "asset_id"])
    pool = pool[pool["amc_id"] != amc]
    out = {}
    for dim in DIMENSIONS:
        for cat, g in pool.groupby(pool[dim].astype(str), observed=True):
            out[(dim, cat)] = frozenset(zip(g["amc_id"], g["asset_id"], strict=True))
    return out


def test_a_cell_cannot_be_differenced_across_rounds(ws):
    """Rule: taking the views in order (contributed assets, then finished rounds by id), a cell of a round is hidden
    from an AMC user when the same cell shown to that user in an earlier view differs by 1 … min_cell − 1 other-AMC
    assets (symmetric difference of the asset sets); a round's view never changes when later rounds run. Round 3
    (ZJ's biggest package withdrawn, a tighter province limit) against round 1, for NAT."""
    c, t, assets = ws["client"], ws["tokens"], ws["assets"]
    rounds = [r for r in c.get("/api/rounds", headers=t["coord"]).json()["rounds"] if r["status"] == "done"]
    assert [r["id"] for r in rounds] == [1, 3]
    sets = {r["id"]: _other_sets(assets, r["result"]["selected"], "NAT") for r in rounds}
    views = {r["id"]: {(dim, x["category"]): x for dim, cells in r["result"]["cells"].items() for x in cells}
             for r in c.get("/api/rounds", headers=t["nat"]).json()["rounds"] if r["status"] == "done"}
    coord = {r["id"]: {(dim, x["category"]): x for dim, cells in r["result"]["cells"].items() for x in cells}
             for r in rounds}
    assert {k: v for k, v in views[1].items()} == {(dim, x["category"]): x for dim, cells in
                                                     ws["nat_round1"]["result"]["cells"].items() for x in cells}
    for rid in (1, 3):  # the same view in /api/rounds/{id}
        one = c.get(f"/api/rounds/{rid}", headers=t["nat"]).json()["result"]["cells"]
        assert {(dim, x["category"]): x for dim, cells in one.items() for x in cells} == views[rid]
    close, far = [], []
    for cell, x in views[3].items():
        d = len(sets[1].get(cell, frozenset()) ^ sets[3].get(cell, frozenset()))
        assert not coord[3][cell]["suppressed"]
        if cell in views[1] and not views[1][cell]["suppressed"]:
            if 0 < d < 3:
                assert x["suppressed"] and x["gbv"] is None, cell
                close.append(cell)
            elif d >= 3 and not x["suppressed"]:
                far.append(cell)
        if not x["suppressed"]:
            assert x["n_assets"] == coord[3][cell]["n_assets"] and x["gbv"] == coord[3][cell]["gbv"]
    assert close and far, (close, far)  # the fixture has both kinds
    assert any(len(sets[3].get(cell, ())) >= 3 for cell in close)  # hidden for the difference, not as a small cell
    # recomputed from the outputs: no two shown cells of the same (dimension, category) differ by 1 … 2
    for cell in set(views[1]) & set(views[3]):
        if not views[1][cell]["suppressed"] and not views[3][cell]["suppressed"]:
            assert not 0 < len(sets[1].get(cell, frozenset()) ^ sets[3].get(cell, frozenset())) < 3, cell
    for dim in DIMENSIONS:  # complementary suppression holds after the extra suppressions
        for rid in (1, 3):
            assert sum(x["suppressed"] for (d, _), x in views[rid].items() if d == dim) != 1
    # the pool summary and the home page show the latest round as in /api/rounds
    summary = c.get("/api/pool/summary", headers=t["nat"]).json()
    assert summary["round"] == 3
    assert {(dim, x["category"]): x for dim, cells in summary["aggregates"].items() for x in cells} == views[3]
    html = _browser(ws, "nat").get("/").text
    assert html.count('<tr class="suppressed">') == sum(x["suppressed"] for x in views[3].values())


def test_cross_round_rule_counts_swaps_and_hides_unchecked_rounds(ws):
    """One other-AMC asset swapped for another in the same province (counts equal) hides the later view's cell;
    a stored round whose ids are not in the tapes cannot be checked: its cells holding other AMCs' assets are hidden."""
    assets = ws["assets"].astype({"asset_id": str})
    zj = assets[assets["amc_id"] == "ZJ"]
    province = zj["province"].value_counts().index[0]
    x, y = zj.loc[zj["province"] == province, "asset_id"].iloc[:2]

    def view(frame):
        return {a: sorted(g["asset_id"]) for a, g in frame.groupby("amc_id")}, round_cells(frame)

    without_y = assets[assets["asset_id"].ne(y) | assets["amc_id"].ne("ZJ")]
    without_x = assets[assets["asset_id"].ne(x) | assets["amc_id"].ne("ZJ")]
    bogus = {"NAT": ["no-such-asset"]}
    hidden = Views(assets, [(CONTRIBUTED, None, round_cells(assets)), (1, *view(without_y)), (2, *view(without_x))],
                   DIMENSIONS).hidden("NAT", 3)
    contributed = round_cells(assets)["province"][province]["by_amc"]
    assert sum(v for a, v in contributed.items() if a != "NAT") >= 3 and province not in hidden[CONTRIBUTED]["province"]
    assert province in hidden[1]["province"] and province in hidden[2]["province"]  # 1 asset out, then a swap
    assert Views(assets, [(1, *view(without_y)), (2, *view(without_x))], DIMENSIONS).hidden("NAT", 3)[2]["province"] \
        >= {province}  # the swap alone: same count, two assets differ
    stale = round_cells(without_x)
    unchecked = Views(assets, [(7, bogus, stale)], DIMENSIONS).hidden("NAT", 3)[7]
    for dim, cells in stale.items():
        assert {cat for cat, cell in cells.items() if set(cell["by_amc"]) - {"NAT"}} <= unchecked[dim]


def test_round_runs_the_consortium_game_and_each_amc_sees_its_part(ws):
    c, t = ws["client"], ws["tokens"]
    game = c.get("/api/rounds/1", headers=t["coord"]).json()["result"]["consortium"]
    assert set(game["amcs"]) == {"NAT", "ZJ", "GD", "SC"} and game["rule"] == "nucleolus"
    # the allocation adds up to v(N), recomputed from the parts of the deals that achieve it (a block whose
    # members hold, which the partition may hold when a short coalition time limit finds no deal, has no parts: 0)
    def part(b: dict, key: str) -> float:
        return b[key] if b[key] is not None else 0.0

    parts = sum(part(b, "senior_proceeds") + part(b, "retained_value") + part(b, "servicing_value")
                - part(b, "outside_value") - part(b, "issuance_cost") for b in game["blocks"])
    assert game["grand_value"] > 0  # the fixture's consortium has a surplus to share
    assert sum(a["allocation"] for a in game["amcs"].values()) == pytest.approx(parts, rel=1e-6)
    assert parts == pytest.approx(game["grand_value"], rel=1e-9)
    for a in game["amcs"].values():  # each member's total value realises its allocation (amounts to the fen)
        total = a["transfer_price"] + a["retained_notes_value"] + a["servicing_value"] - a["outside_value"]
        assert total == pytest.approx(a["total_value"], abs=0.05) and total == pytest.approx(a["allocation"], abs=0.05)
    for b in game["blocks"]:  # a deal's transfer prices are its senior proceeds net of the issuance cost
        prices = sum(game["amcs"][m]["transfer_price"] for m in b["members"])
        assert prices == pytest.approx(part(b, "senior_proceeds") - part(b, "issuance_cost") + sum(
            game["amcs"][m]["allocation"] for m in b["members"]) - part(b, "surplus"), abs=0.05 * len(b["members"]))
    mine = c.get("/api/rounds/1", headers=t["nat"]).json()["result"]["consortium"]
    assert set(mine["amcs"]) == {"NAT"} and "blocks" not in mine and mine["grand_value"] == game["grand_value"]
    assert mine["amcs"]["NAT"] == game["amcs"]["NAT"]
    html = _browser(ws, "nat").get("/rounds/1").text
    assert html.count('<tr data-amc="') == 1 and 'data-amc="NAT"' in html and "transfer price" in html
    assert _browser(ws, "coord").get("/rounds/1").text.count('<tr data-amc="') == 4


def test_packages_edited_by_the_coordinator_only_and_audited(ws):
    c, t = ws["client"], ws["tokens"]
    since = c.get("/api/audit", headers=t["coord"]).json()["audit"][0]["id"]
    everything = c.get("/api/packages", headers=t["coord"]).json()["packages"]
    assets = ws["assets"]
    truth = assets.assign(package=package_labels(assets).to_numpy()).groupby(["amc_id", "package"])["gbv"].agg(["size", "sum"])
    assert len(everything) == len(truth)
    for p in everything:  # n_assets and gbv recomputed from the tapes
        assert (p["n_assets"], p["gbv"]) == (truth.loc[(p["amc_id"], p["package"]), "size"],
                                             pytest.approx(truth.loc[(p["amc_id"], p["package"]), "sum"]))
    assert any(p["marginal"] and p["marginal"]["dual_value"] is not None for p in everything)
    mine = c.get("/api/packages", headers=t["nat"]).json()
    assert {p["amc_id"] for p in mine["packages"]} == {"NAT"}
    zj = sorted(p["package"] for p in everything if p["amc_id"] == "ZJ")
    html = _browser(ws, "nat").get("/packages").text
    assert not any(f">{p}<" in html for p in set(zj) - {p["package"] for p in mine["packages"]})
    body = {"amc_id": "ZJ", "package": zj[0], "action": "withdraw"}
    for name in ("nat", "zj"):
        assert c.post("/api/packages", json=body, headers=t[name]).status_code == 403
    assert c.post("/api/packages", json=body | {"package": "CN-XX/castle"}, headers=t["coord"]).status_code == 404
    assert c.post("/api/packages", json=body | {"amc_id": "XX"}, headers=t["coord"]).status_code == 404
    assert c.post("/api/packages", json=body | {"action": "keep"}, headers=t["coord"]).status_code == 422
    r = c.post("/api/packages", json=body, headers=t["coord"]).json()
    assert r["changed"] and r["withdrawn"] == [zj[0]] and r["in_round"] is False
    assert not c.post("/api/packages", json=body, headers=t["coord"]).json()["changed"]  # already out: no edit
    # the page form: CSRF required; the coordinator withdraws a second package, an AMC user may not
    b = _browser(ws, "coord")
    token = _csrf(b.get("/packages").text)
    form = {"amc_id": "ZJ", "package": zj[1], "action": "withdraw"}
    assert b.post("/packages", data=form).status_code == 403
    assert b.post("/packages", data=form | {"csrf": token[::-1]}).status_code == 403
    z = _browser(ws, "zj")
    assert z.post("/packages", data=form | {"csrf": _csrf(z.get("/packages").text)}).status_code == 403
    r = b.post("/packages", data=form | {"csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/packages#amc-ZJ"
    assert c.get("/api/packages", headers=t["zj"]).json()["withdrawn"] == {"ZJ": [zj[0], zj[1]]}
    assert c.get("/api/packages", headers=t["nat"]).json()["withdrawn"] == {}
    assert c.get("/api/rounds", headers=t["coord"]).json()["withdrawn"] == {"ZJ": [zj[0], zj[1]]}
    assert c.get("/api/rounds", headers=t["nat"]).json()["withdrawn"] == {}
    assert zj[1] in b.get("/rounds/new").text  # the next round's page says what it leaves out
    # an AMC keeps one package at least
    for p in zj[2:-1]:
        assert c.post("/api/packages", json=body | {"package": p}, headers=t["coord"]).status_code == 200
    r = c.post("/api/packages", json=body | {"package": zj[-1]}, headers=t["coord"])
    assert r.status_code == 400 and "last package" in r.json()["detail"]
    for p in zj:
        c.post("/api/packages", json=body | {"package": p, "action": "add"}, headers=t["coord"])
    assert c.get("/api/packages", headers=t["coord"]).json()["withdrawn"] == {}
    # every edit in the audit log, before and after
    audit = [a for a in c.get("/api/audit", headers=t["coord"]).json()["audit"]
             if a["what"].startswith("package ") and a["id"] > since]
    first = next(a for a in reversed(audit) if a["after"]["package"] == zj[0])
    assert first["who"] == "coord" and first["what"] == "package withdrawn"
    assert first["before"] == {"amc_id": "ZJ", "package": zj[0], "in_round": True, "withdrawn": []}
    assert first["after"] == {"amc_id": "ZJ", "package": zj[0], "in_round": False, "withdrawn": [zj[0]]}
    second = next(a for a in reversed(audit) if a["after"]["package"] == zj[1])
    assert second["before"]["withdrawn"] == [zj[0]] and second["after"]["withdrawn"] == [zj[0], zj[1]]
    assert sum(a["what"] == "package withdrawn" for a in audit) == len(zj) - 1
    assert sum(a["what"] == "package added" for a in audit) == len(zj) - 1
    added = audit[0]
    assert added["what"] == "package added" and added["before"]["in_round"] is False and added["after"]["in_round"] is True


def test_decisions(ws):
    c, t = ws["client"], ws["tokens"]
    assert c.post("/api/rounds/1/decision", json={"decision": "accept"}, headers=t["coord"]).status_code == 403
    assert c.post("/api/rounds/99/decision", json={"decision": "accept"}, headers=t["nat"]).status_code == 404
    assert c.post("/api/rounds/1/decision", json={"decision": "maybe"}, headers=t["nat"]).status_code == 422
    r = c.post("/api/rounds/1/decision", json={"decision": "object"}, headers=t["nat"])
    assert r.status_code == 400 and "say why" in r.json()["detail"]
    assert c.post("/api/rounds/1/decision", json={"decision": "accept", "comment": "fine"}, headers=t["nat"]).status_code == 200
    b = _browser(ws, "zj")
    token = _csrf(b.get("/rounds/1").text)
    assert b.post("/rounds/1/decision", data={"decision": "object", "comment": "x"}).status_code == 403  # no CSRF
    r = b.post("/rounds/1/decision", data={"csrf": token, "decision": "object", "comment": "<script>alert(1)</script> too small"})
    assert r.status_code == 200 and "&lt;script&gt;alert(1)&lt;/script&gt; too small" in r.text and "<script>alert(1)" not in r.text
    r = b.post("/rounds/1/decision", data={"csrf": token, "decision": "whatever"})
    assert r.status_code == 400 and "choose accept or object" in r.text
    got = c.get("/api/rounds/1", headers=t["coord"]).json()["decisions"]
    assert got["NAT"]["decision"] == "accept" and got["ZJ"]["decision"] == "object"


def test_audit_log_is_append_only_and_survives_a_restart(ws):
    c, t = ws["client"], ws["tokens"]
    before = c.get("/api/audit", headers=t["coord"]).json()["audit"]
    whats = {a["what"] for a in before}
    assert {"login", "round requested", "round done"} <= whats
    requested = next(a for a in before if a["what"] == "round requested" and a["round_id"] == 1)
    assert requested["who"] == "coord" and requested["after"] == {}
    db = sqlite3.connect(ws["folder"] / "state" / "workspace.sqlite")
    for sql in ("UPDATE audit SET who='x'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(sql)
    db.close()
    app2 = create_app(ws["scenario"], ws["users"], ws["folder"] / "state")
    c2 = TestClient(app2)
    t2 = _login(c2, "coord")
    assert c2.get("/api/me", headers=t["coord"]).status_code == 200  # the signing key is kept too
    after = c2.get("/api/audit", headers=t2).json()["audit"]
    assert [a["id"] for a in after[1:]][: len(before)] == [a["id"] for a in before]
    assert c2.get("/api/rounds", headers=t2).json()["rounds"] == c.get("/api/rounds", headers=t["coord"]).json()["rounds"]


def test_a_round_running_when_the_server_stopped_is_interrupted(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    rid = store.new_round("coord", {}, None)
    store.set_stage(rid, "selecting the pool")
    again = Store(tmp_path / "w.sqlite")
    r = again.round(rid)
    assert r["status"] == "interrupted" and "stopped" in r["error"]
    assert [a["what"] for a in again.audit_log()][:2] == ["round interrupted", "round requested"]


def test_a_state_file_of_the_first_version_is_upgraded(tmp_path):
    path = tmp_path / "w.sqlite"
    db = sqlite3.connect(path)  # the rounds table before rounds kept their withdrawn packages
    db.execute("CREATE TABLE rounds (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, created_by TEXT "
               "NOT NULL, changes TEXT NOT NULL, status TEXT NOT NULL, stage TEXT, finished_at REAL, result TEXT, error TEXT)")
    db.execute("INSERT INTO rounds (created_at, created_by, changes, status) VALUES (1, 'coord', '{}', 'done')")
    db.commit()
    db.close()
    store = Store(path)
    assert store.round(1)["withdrawn"] == {}
    rid = store.new_round("coord", {}, None, {"ZJ": ["CN-ZJ/land"]})
    assert store.round(rid)["withdrawn"] == {"ZJ": ["CN-ZJ/land"]}


def test_pages_for_every_role(ws):
    for name in PASSWORDS:
        b = _browser(ws, name)
        for path in [*PAGES, "/rounds/1", "/docs"]:
            r = b.get(path)
            allowed = name == "coord" or path not in ("/rounds/new", "/audit", "/amcs/NAT/assets") or (
                name == "nat" and path == "/amcs/NAT/assets")
            assert r.status_code == (200 if allowed else 403), (name, path, r.status_code)
            assert "Traceback" not in r.text
        assert b.get("/rounds/999").status_code == 404
        assert b.get("/rounds/abc").status_code == 400
    anon = TestClient(ws["app"])
    for path in [*PAGES, "/rounds/1"]:
        r = anon.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    docs = anon.get("/docs")
    assert docs.status_code == 200 and "/api/rounds/{rid}/decision" in docs.text and "<script src" not in docs.text
    spec = anon.get("/openapi.json").json()
    assert {"/api/login", "/api/amcs/{amc_id}/assets", "/api/pool/summary", "/api/rounds",
            "/api/rounds/{rid}/decision"} <= set(spec["paths"])


def test_users_add_command(tmp_path, ws):
    from typer.testing import CliRunner

    from pooling.cli.main import app as cli

    runner, users = CliRunner(), tmp_path / "u.yaml"
    r = runner.invoke(cli, ["users", "add", str(users), "--name", "zj2", "--role", "amc", "--amc", "ZJ", "--scenario",
                            str(ws["scenario"]), "--password-stdin"], input="zj-secret-pw\n")
    assert r.exit_code == 0, r.output
    assert "wrote user zj2 (amc of ZJ)" in r.output and load_users(users)["zj2"].amc_id == "ZJ"
    r = runner.invoke(cli, ["users", "add", str(users), "--name", "x", "--role", "amc", "--amc", "XX", "--scenario",
                            str(ws["scenario"]), "--password-stdin"], input="long-enough\n")
    assert r.exit_code == 1 and "'XX': not an AMC of the scenario" in r.output
    r = runner.invoke(cli, ["users", "add", str(users), "--name", "x", "--role", "coordinator"], input="long-enough\n")
    assert r.exit_code == 1 and "--password-stdin" in r.output
    assert runner.invoke(cli, ["users", "add", str(users), "--name", "x", "--role", "boss", "--password-stdin"],
                         input="long-enough\n").exit_code == 2
    assert sorted(load_users(users)) == ["zj2"]


def test_an_other_amcs_small_total_is_hidden_with_a_complement() -> None:
    """An other AMC holding 1 to min_cell − 1 pool assets has its total hidden from AMC users and, when it is the
    only one, the next smallest other AMC's too: the pool total minus the shown totals must not give it away."""
    from types import SimpleNamespace

    from pooling.serve.app import Workspace
    from pooling.serve.users import User

    ws = SimpleNamespace(min_cell=3)
    ws.may_see_amc = lambda user, amc: Workspace.may_see_amc(ws, user, amc)
    hidden = lambda user, amcs: Workspace._hidden_amcs(ws, user, amcs)  # noqa: E731
    nat = User("nat", "amc", "NAT", "")
    amcs = {"NAT": {"n_assets": 1}, "ZJ": {"n_assets": 2}, "GD": {"n_assets": 40}, "SC": {"n_assets": 9}, "HB": {"n_assets": 0}}
    assert hidden(nat, amcs) == {"ZJ", "SC"}  # ZJ small; SC the smallest other shown (HB holds nothing: nothing to hide)
    # recomputed: from what NAT sees, no hidden AMC's total is the pool total minus the shown ones
    shown = {a for a in amcs if a not in hidden(nat, amcs)}
    assert len(set(amcs) - shown) != 1
    amcs["SC"]["n_assets"] = 1
    assert hidden(nat, amcs) == {"ZJ", "SC"}  # two small ones hide each other
    assert hidden(User("coord", "coordinator", None, ""), amcs) == set()
    assert hidden(User("zj", "amc", "ZJ", ""), {"ZJ": {"n_assets": 1}, "NAT": {"n_assets": 2}}) == {"NAT"}
