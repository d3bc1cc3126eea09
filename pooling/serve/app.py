"""The FastAPI application of ``pooling serve``: pages (jinja2, server-rendered) and a JSON API (``/api``).

Privacy rules, enforced here and nowhere else:

- a ``coordinator`` sees everything and is the only one who runs rounds;
- an ``amc`` user sees its own AMC's assets and selected assets, pool aggregates, per-AMC totals, limits, rounds,
  and decides for its AMC; another AMC's loan-level rows answer 403 (pages and API);
- in aggregates shown to an AMC user, a cell holding 1 to ``min_cell - 1`` assets of other AMCs is suppressed,
  and when a dimension has exactly one suppressed cell the next smallest is suppressed too (so it cannot be
  recovered by subtraction from the pool total);
- across rounds, a cell shown to an AMC user never differs from the same cell shown in an earlier round (or in the
  contributed assets' summary) by 1 to ``min_cell - 1`` assets of other AMCs (:mod:`pooling.serve.privacy`).
"""


import contextlib
import datetime as dt
import functools
import json
import logging
from pathlib import Path
from typing import Annotated, Any, Literal

import jinja2
import markupsafe
import plotly.offline
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from pooling.consortium.packages import package_labels
from pooling.errors import PoolingError
from pooling.pipeline import prepare
from pooling.scenario import load_scenario
from pooling.serve.auth import RateLimiter, Tokens, load_secret
from pooling.serve.privacy import CONTRIBUTED, Views
from pooling.serve.rounds import (
    DIMENSIONS,
    Worker,
    apply_changes,
    check_changes,
    diff,
    editable_limits,
    latest_done,
    previous_done,
    round_cells,
)
from pooling.serve.store import Store
from pooling.serve.users import User, load_users, verify

log = logging.getLogger("pooling.serve")
COOKIE = "pooling_session"
#: columns of an AMC's asset table (page and API)
ASSET_COLUMNS = ("asset_id", "obligor_id", "gbv", "npv", "expected_recovery", "province", "industry",
                 "collateral_type", "asset_type", "legal_status", "package")
PAGE_ROWS = 500


class LoginBody(BaseModel):
    """``POST /api/login``."""

    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)


class RoundBody(BaseModel):
    """``POST /api/rounds``: limits to change (dotted keys as in ``GET /api/rounds`` → ``limits``), on top of the
    latest round's."""

    changes: dict[str, float | None] = {}


class PackageBody(BaseModel):
    """``POST /api/packages``: take one of an AMC's packages out of the next round, or put it back."""

    amc_id: str = Field(max_length=200)
    package: str = Field(max_length=1000)
    action: Literal["withdraw", "add"]


class DecisionBody(BaseModel):
    """``POST /api/rounds/{id}/decision``."""

    decision: Literal["accept", "object"]
    comment: str = Field("", max_length=4000)


class Workspace:
    """Everything one server holds: scenario, users, state store, tokens, the round worker."""

    def __init__(self, scenario_path: Path, users_path: Path, state_dir: Path, *, session_seconds: float,
                 min_cell: int, login_attempts: int, login_window: float):
        self.scenario_path = Path(scenario_path)
        self.scenario = load_scenario(self.scenario_path)
        self.amc_ids = [a.id for a in self.scenario.amcs]
        self.users = load_users(Path(users_path), set(self.amc_ids))
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(state_dir / "workspace.sqlite")
        self.tokens = Tokens(load_secret(state_dir))
        self.tokens.revoked |= self.store.revoked()
        self.limiter = RateLimiter(login_attempts, login_window)
        self.worker = Worker(self.store, self.scenario_path)
        self.session_seconds = session_seconds
        self.min_cell = min_cell
        self._assets = None
        self._packages = None
        self._views: tuple[tuple, Views] | None = None
        self._hidden: dict[tuple, dict] = {}

    def assets(self):
        """The scenario's valued assets (prepared once, on first use)."""
        if self._assets is None:
            self._assets = prepare(self.scenario).assets
        return self._assets

    def packages(self):
        """Every package of the scenario's assets: amc_id, package, n_assets, gbv, npv (one row each, by AMC in
        scenario order, then package). Labels as :func:`pooling.consortium.packages.package_labels` gives them."""
        if self._packages is None:
            assets = self.assets()
            frame = assets[["amc_id", "gbv", "npv"]].assign(amc_id=assets["amc_id"].astype(str),
                                                            package=package_labels(assets).to_numpy())
            t = frame.groupby(["amc_id", "package"], sort=True).agg(
                n_assets=("gbv", "size"), gbv=("gbv", "sum"), npv=("npv", "sum")).reset_index()
            order = {a: i for i, a in enumerate(self.amc_ids)}
            self._packages = t.sort_values(["amc_id", "package"], key=lambda c: c.map(order) if c.name == "amc_id" else c,
                                           kind="stable").reset_index(drop=True)
        return self._packages

    def package_view(self, user: User) -> dict:
        """The packages ``user`` may see (an AMC user: its own AMC's), each with its state for the next round and
        its marginal value from the newest finished round whose packages.csv has it."""
        withdrawn = self.store.withdrawn()
        table = self.packages()
        table = table[[self.may_see_amc(user, a) for a in table["amc_id"]]]
        marginal: dict[tuple[str, str], dict] = {}
        for r in reversed(self.store.rounds()):
            if r["status"] == "done" and r["result"]:
                for row in r["result"].get("packages") or []:
                    key = (row["amc_id"], row["package"])
                    if key not in marginal:
                        marginal[key] = {k: row.get(k) for k in ("whatif", "dual_value", "resolve_value", "method",
                                                                   "in_pool_share")} | {"round": r["id"]}
        rows = []
        for row in table.to_dict("records"):
            key = (row["amc_id"], row["package"])
            rows.append({"amc_id": row["amc_id"], "package": row["package"], "n_assets": int(row["n_assets"]),
                         "gbv": float(row["gbv"]), "npv": float(row["npv"]),
                         "in_round": row["package"] not in withdrawn.get(row["amc_id"], []),
                         "marginal": marginal.get(key)})
        return {"packages": rows,
                "withdrawn": {a: v for a, v in withdrawn.items() if self.may_see_amc(user, a)}}

    def edit_package(self, user: User, amc_id: str, package: str, action: str) -> tuple[int, str | bool]:
        """The coordinator withdraws a package from the next round or adds it back; (status, whether it changed)
        or (status, message) when refused."""
        if user.role != "coordinator":
            return 403, "only the coordinator may withdraw or add packages"
        if amc_id not in self.amc_ids:
            return 404, f"there is no AMC {amc_id!r}"
        mine = self.packages()
        mine = set(mine.loc[mine["amc_id"] == amc_id, "package"])
        if package not in mine:
            return 404, f"AMC {amc_id} has no package {package!r}"
        if action not in ("withdraw", "add"):
            return 400, "choose withdraw or add"
        out = set(self.store.withdrawn().get(amc_id, []))
        if action == "withdraw" and package not in out and len(out) + 1 >= len(mine):
            return 400, (f"{package} is {amc_id}'s last package in the round: an AMC keeps at least one "
                         "(to leave the consortium, withdraw the AMC in the scenario)")
        return 200, self.store.set_package(user.name, amc_id, package, action == "withdraw")

    def current_changes(self) -> dict:
        """The limits of the newest round (the base for the next one)."""
        rounds = self.store.rounds()
        return dict(rounds[-1]["changes"]) if rounds else {}

    def start_round(self, user: User, raw: dict) -> tuple[int | None, list[str]]:
        """Validate ``raw`` changes and start a round; (round id or None when busy, problems)."""
        changes, problems = check_changes(self.scenario, raw)
        if problems:
            return None, problems
        before = self.current_changes()
        current = editable_limits(self.scenario) | before
        changes = {k: v for k, v in changes.items() if current.get(k) != v}  # a form sends every field
        merged = before | changes
        withdrawn = self.store.withdrawn()
        try:
            scenario = apply_changes(self.scenario, merged, withdrawn)
        except PoolingError as e:
            return None, [str(e)]
        rid = self.worker.submit(lambda: self.store.new_round(user.name, merged, before, withdrawn), scenario)
        return rid, []

    # -- privacy ----------------------------------------------------------------------------------------------
    def may_see_amc(self, user: User, amc_id: str) -> bool:
        """Loan-level rows of ``amc_id``: its own users and the coordinator."""
        return user.role == "coordinator" or user.amc_id == amc_id

    def hidden_cells(self, user: User, rounds: list[dict] | None = None) -> dict[object, dict[str, set[str]]]:
        """Per view (:data:`~pooling.serve.privacy.CONTRIBUTED`, then each finished round's id), per dimension: the
        categories hidden from ``user`` (none for the coordinator), small cells and cells that differ from an
        earlier view's shown cell by 1 to ``min_cell - 1`` other-AMC assets included. Cached per set of finished
        rounds and AMC."""
        if user.role == "coordinator":
            return {}
        rounds = self.store.rounds() if rounds is None else rounds
        done = [r for r in rounds if r["status"] == "done" and r["result"]]
        key = tuple(r["id"] for r in done)
        views = self._views
        if views is None or views[0] != key:
            assets = self.assets()
            views = (key, Views(assets, [(CONTRIBUTED, None, round_cells(assets))]
                                + [(r["id"], r["result"]["selected"], r["result"]["cells"]) for r in done], DIMENSIONS))
            self._views, self._hidden = views, {}
        hidden = self._hidden.get((key, user.amc_id))
        if hidden is None:
            hidden = views[1].hidden(user.amc_id, self.min_cell)
            self._hidden[(key, user.amc_id)] = hidden
        return hidden

    def visible_result(self, user: User, result: dict | None, rid: int | None = None,
                       rounds: list[dict] | None = None) -> dict | None:
        """A round's result (round ``rid``) as ``user`` may see it: an AMC user gets only its own selected ids,
        suppressed cells (:meth:`hidden_cells`), and other AMCs' totals suppressed when they hold fewer than
        ``min_cell`` assets."""
        if result is None:
            return None
        hidden = self.hidden_cells(user, rounds).get(rid)
        if hidden is None and user.role != "coordinator":  # not a finished round of the store: hide every cell
            hidden = {dim: set(cells) for dim, cells in result["cells"].items()}
        out = {k: v for k, v in result.items() if k not in ("selected", "cells")}
        out["cells"] = {dim: self._cells(user, cells, (hidden or {}).get(dim, set()))
                        for dim, cells in result["cells"].items()}
        hidden_amcs = self._hidden_amcs(user, result["amcs"])
        out["amcs"] = {amc: (row if amc not in hidden_amcs else
                             {"suppressed": True, "share": None, "n_assets": None, "gbv": None, "npv": None,
                              "contributed_assets": None})
                       for amc, row in result["amcs"].items()}
        out["selected"] = {a: ids for a, ids in result["selected"].items() if self.may_see_amc(user, a)}
        out["withdrawn"] = {a: v for a, v in (result.get("withdrawn") or {}).items() if self.may_see_amc(user, a)}
        out["packages"] = [p for p in result.get("packages") or [] if self.may_see_amc(user, p["amc_id"])]
        game = result.get("consortium")
        if game is not None and user.role != "coordinator":  # an AMC sees v(N) and its own part, not the others'
            game = {k: v for k, v in game.items() if k != "blocks"}
            game["amcs"] = {a: v for a, v in game["amcs"].items() if self.may_see_amc(user, a)}
        out["consortium"] = game
        return out

    def _hidden_amcs(self, user: User, amcs: dict) -> set[str]:
        """The other AMCs whose pool totals ``user`` may not see: those holding 1 to ``min_cell − 1`` of the pool's
        assets and, when exactly one does, the next smallest other AMC too — else the hidden total would be the
        pool's total minus the ones shown (complementary suppression, as for cells). With one other AMC only
        (a two-member consortium) its total is the pool's minus the viewer's own and cannot be hidden."""
        if user.role == "coordinator":
            return set()
        others = {a: int(row.get("n_assets") or 0) for a, row in amcs.items() if not self.may_see_amc(user, a)}
        hidden = {a for a, n in others.items() if 0 < n < self.min_cell}
        if len(hidden) == 1:
            rest = sorted((n, a) for a, n in others.items() if a not in hidden and n > 0)
            if rest:
                hidden.add(rest[0][1])
        return hidden

    def _cells(self, user: User, cells: dict, hidden: set[str]) -> list[dict]:
        """One dimension's cells as rows; ``hidden``: its categories suppressed (small, complementary and
        cross-round suppression, :meth:`hidden_cells`)."""
        rows = [{"category": cat, "n_assets": sum(cell["by_amc"].values()), "gbv": cell["gbv"],
                 "suppressed": user.role != "coordinator" and cat in hidden} for cat, cell in cells.items()]
        total = sum(r["gbv"] for r in rows) or 1.0
        for r in rows:
            r["share"] = r["gbv"] / total
            if r["suppressed"]:
                r.update(n_assets=None, gbv=None, share=None)
        return sorted(rows, key=lambda r: r["category"])

    def round_view(self, user: User, r: dict, rounds: list[dict]) -> dict:
        """One round as ``user`` may see it, with its diff to the previous finished round."""
        prev = previous_done(rounds, r["id"])
        d = diff(prev["result"], r["result"]) if (r["result"] and prev) else {}
        if d and user.role != "coordinator":  # assets moved are loan-level counts: own AMC only
            hidden_amcs = self._hidden_amcs(user, r["result"]["amcs"]) | self._hidden_amcs(user, prev["result"]["amcs"])
            d["amcs"] = {a: (v if self.may_see_amc(user, a) else {k: v[k] for k in ("share", "gbv")}
                             if a not in hidden_amcs else {"suppressed": True})
                         for a, v in d["amcs"].items()}
            d["packages"] = {a: v for a, v in d.get("packages", {}).items() if self.may_see_amc(user, a)}
            if "consortium" in d:
                d["consortium"] = {"grand_value": d["consortium"]["grand_value"],
                                   "amcs": {a: v for a, v in d["consortium"]["amcs"].items() if self.may_see_amc(user, a)}}
        withdrawn = {a: v for a, v in (r.get("withdrawn") or {}).items() if self.may_see_amc(user, a)}
        return {"id": r["id"], "created_at": r["created_at"], "created_by": r["created_by"], "status": r["status"],
                "stage": r["stage"], "error": r["error"], "changes": r["changes"], "withdrawn": withdrawn,
                "previous_round": prev["id"] if prev else None,
                "result": self.visible_result(user, r["result"], r["id"], rounds), "diff": d,
                "decisions": {a: {k: v[k] for k in ("decision", "comment", "user", "at")} for a, v in r["decisions"].items()}}

    def pool_summary(self, user: User) -> dict:
        """Pool aggregates of the newest finished round (or of every contributed asset before any round)."""
        rounds = self.store.rounds()
        latest = latest_done(rounds)
        if latest is not None:
            res = self.visible_result(user, latest["result"], latest["id"], rounds)
            return {"round": latest["id"], "pool": res["pool"], "structure": res["structure"], "amcs": res["amcs"],
                    "aggregates": res["cells"], "min_cell": self.min_cell}
        assets = self.assets()
        cells = round_cells(assets)
        hidden = self.hidden_cells(user, rounds).get(CONTRIBUTED, {})
        return {"round": None, "pool": {"n_assets": len(assets), "gbv": float(assets["gbv"].sum())},
                "structure": None, "amcs": None,
                "aggregates": {dim: self._cells(user, c, hidden.get(dim, set())) for dim, c in cells.items()},
                "min_cell": self.min_cell}


def create_app(scenario_path: Path, users_path: Path, state_dir: Path, *, session_seconds: float = 8 * 3600,
               min_cell: int = 3, login_attempts: int = 5, login_window: float = 60.0) -> FastAPI:
    """The workspace application over ``scenario_path`` with the users of ``users_path``; rounds, decisions and the
    audit log are kept in ``state_dir`` (a restart on the same folder keeps them).

    Raises :class:`~pooling.errors.PoolingError` for a bad scenario or users file (before serving anything).
    """
    ws = Workspace(scenario_path, users_path, state_dir, session_seconds=session_seconds, min_cell=min_cell,
                   login_attempts=login_attempts, login_window=login_window)
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        ws.worker.close()  # a running round's process ends with the server

    app = FastAPI(title="pooling serve", version="1", docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="The negotiation workspace's JSON API. Log in with `POST /api/login`, then send "
                              "`Authorization: Bearer <token>`.")
    app.state.workspace = ws
    env = _environment()

    def page(request: Request, template: str, code: int = 200, **context: Any) -> HTMLResponse:
        payload = getattr(request.state, "session", None)
        user = getattr(request.state, "user", None)
        html = env.get_template(template).render(
            user=user, csrf=ws.tokens.csrf(payload) if payload else "", scenario=ws.scenario, amc_ids=ws.amc_ids,
            min_cell=ws.min_cell, **context)
        return HTMLResponse(html, status_code=code)

    # -- who is asking ----------------------------------------------------------------------------------------
    def session_user(request: Request) -> User | None:
        payload = ws.tokens.check(request.cookies.get(COOKIE), "session")
        user = ws.users.get(payload["u"]) if payload else None
        if user is not None:
            request.state.session, request.state.user = payload, user
        return user

    def page_user(request: Request) -> User:
        user = session_user(request)
        if user is None:
            raise _LoginNeeded()
        return user

    def api_user(request: Request) -> User:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        payload = ws.tokens.check(token.strip(), "api") if scheme.lower() == "bearer" else None
        user = ws.users.get(payload["u"]) if payload else None
        if user is None:
            raise HTTPException(401, "log in first: POST /api/login, then send 'Authorization: Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})
        return user

    async def form_of(request: Request) -> dict:
        try:
            form = await request.form()
        except Exception:
            raise HTTPException(400, "the form could not be read") from None
        payload = getattr(request.state, "session", None)
        if payload is None or not ws.tokens.csrf_ok(payload, form.get("csrf")):
            raise HTTPException(403, "the form's security token is missing or stale: reload the page and try again")
        return {k: v for k, v in form.items() if isinstance(v, str)}

    PageUser = Annotated[User, Depends(page_user)]
    ApiUser = Annotated[User, Depends(api_user)]

    # -- errors: never a traceback ---------------------------------------------------------------------------
    @app.exception_handler(_LoginNeeded)
    async def _to_login(request: Request, exc: _LoginNeeded):
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException):
        if request.url.path.startswith("/api") or request.url.path == "/openapi.json":
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return page(request, "error.html", exc.status_code, status=exc.status_code, message=exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        if request.url.path.startswith("/api"):
            return JSONResponse({"detail": problems}, status_code=422)
        return page(request, "error.html", 400, status=400, message="; ".join(problems))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        message = "internal error; the server log has the details"
        if request.url.path.startswith("/api"):
            return JSONResponse({"detail": message}, status_code=500)
        return page(request, "error.html", 500, status=500, message=message)

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    # -- login -------------------------------------------------------------------------------------------------
    def attempt_login(request: Request, name: str, password: str) -> tuple[User | None, str | None, int]:
        client = request.client.host if request.client else "?"
        wait = ws.limiter.blocked(f"ip:{client}", f"user:{name}")
        if wait > 0:
            return None, f"too many failed logins: try again in {int(wait) + 1} s", 429
        user = ws.users.get(name)
        if not verify(user, password):
            ws.limiter.failed(f"ip:{client}", f"user:{name}")
            ws.store.audit(name or "?", "login failed", after={"client": client})
            return None, "wrong user name or password", 401
        ws.store.audit(user.name, "login", after={"client": client})
        return user, None, 200

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request):
        if session_user(request) is not None:
            return RedirectResponse("/", status_code=303)
        return page(request, "login.html", message=None)

    @app.post("/login", include_in_schema=False)
    async def login_form(request: Request):
        try:
            form = await request.form()
        except Exception:
            form = {}
        name, password = str(form.get("username", ""))[:200], str(form.get("password", ""))[:1000]
        user, message, status = attempt_login(request, name, password)
        if user is None:
            return page(request, "login.html", status, message=message)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, ws.tokens.issue(user.name, "session", ws.session_seconds),
                            max_age=int(ws.session_seconds), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request, user: PageUser):
        await form_of(request)
        ws.tokens.revoked.add(request.state.session["n"])
        ws.store.revoke(request.state.session["n"], request.state.session["exp"])
        ws.store.audit(user.name, "logout")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    # -- pages -------------------------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request, user: PageUser):
        rounds = ws.store.rounds()
        latest = latest_done(rounds)
        view = ws.round_view(user, latest, rounds) if latest else None
        return page(request, "home.html", rounds=[ws.round_view(user, r, rounds) for r in reversed(rounds)],
                    latest=view, busy=ws.worker.busy, summary=ws.pool_summary(user), dimensions=DIMENSIONS,
                    chart=_share_chart(view["result"]["amcs"]) if view else None)

    @app.get("/amcs/{amc_id}/assets", response_class=HTMLResponse, include_in_schema=False)
    def assets_page(request: Request, amc_id: str, user: PageUser):
        rows, total, selected = _assets_of(ws, user, amc_id)
        return page(request, "assets.html", amc_id=amc_id, rows=rows, total=total, selected=selected,
                    columns=ASSET_COLUMNS)

    @app.get("/rounds/new", response_class=HTMLResponse, include_in_schema=False)
    def new_round_page(request: Request, user: PageUser):
        _coordinator(user)
        return page(request, "new_round.html", **_limits_context(ws), problems=[], busy=ws.worker.busy)

    @app.post("/rounds", include_in_schema=False)
    async def new_round_form(request: Request, user: PageUser):
        _coordinator(user)
        form = await form_of(request)
        raw = {k: v for k, v in form.items() if k != "csrf"}
        rid, problems = ws.start_round(user, raw)
        if problems or rid is None:
            status = 400 if problems else 409
            problems = problems or ["a round is already running: wait for it to finish"]
            return page(request, "new_round.html", status, **_limits_context(ws, raw), problems=problems,
                        busy=ws.worker.busy)
        return RedirectResponse(f"/rounds/{rid}", status_code=303)

    @app.get("/rounds/{rid}", response_class=HTMLResponse, include_in_schema=False)
    def round_page(request: Request, rid: int, user: PageUser):
        rounds = ws.store.rounds()
        r = next((x for x in rounds if x["id"] == rid), None)
        if r is None:
            raise HTTPException(404, f"there is no round {rid}")
        view = ws.round_view(user, r, rounds)
        chart = _share_chart(view["result"]["amcs"]) if view["result"] else None
        return page(request, "round.html", r=view, chart=chart, message=None, dimensions=DIMENSIONS)

    @app.post("/rounds/{rid}/decision", include_in_schema=False)
    async def decision_form(request: Request, rid: int, user: PageUser):
        form = await form_of(request)
        decision, comment = form.get("decision"), form.get("comment", "")
        problem = _decide(ws, user, rid, decision, comment)
        if problem is not None:
            status, message = problem
            rounds = ws.store.rounds()
            r = next((x for x in rounds if x["id"] == rid), None)
            if r is None:
                raise HTTPException(404, message)
            view = ws.round_view(user, r, rounds)
            return page(request, "round.html", status, r=view, message=message, dimensions=DIMENSIONS,
                        chart=_share_chart(view["result"]["amcs"]) if view["result"] else None)
        return RedirectResponse(f"/rounds/{rid}", status_code=303)

    @app.get("/packages", response_class=HTMLResponse, include_in_schema=False)
    def packages_page(request: Request, user: PageUser):
        return page(request, "packages.html", **ws.package_view(user), message=None)

    @app.post("/packages", include_in_schema=False)
    async def packages_form(request: Request, user: PageUser):
        _coordinator(user)
        form = await form_of(request)
        amc_id, package = form.get("amc_id", ""), form.get("package", "")
        status, outcome = ws.edit_package(user, amc_id, package, form.get("action", ""))
        if status != 200:
            return page(request, "packages.html", status, **ws.package_view(user), message=outcome)
        return RedirectResponse(f"/packages#amc-{amc_id}", status_code=303)

    @app.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit_page(request: Request, user: PageUser):
        _coordinator(user)
        return page(request, "audit.html", rows=ws.store.audit_log())

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs_page(request: Request):
        return page(request, "docs.html", spec=app.openapi())

    # -- API ---------------------------------------------------------------------------------------------------
    @app.post("/api/login", tags=["auth"], summary="Log in: a bearer token")
    def api_login(request: Request, body: LoginBody) -> dict:
        user, message, status = attempt_login(request, body.username, body.password)
        if user is None:
            raise HTTPException(status, message)
        return {"token": ws.tokens.issue(user.name, "api", ws.session_seconds), "token_type": "bearer",
                "expires_in": int(ws.session_seconds), "user": user.as_public()}

    @app.get("/api/me", tags=["auth"], summary="Who the token belongs to")
    def api_me(user: ApiUser) -> dict:
        return user.as_public()

    @app.get("/api/amcs/{amc_id}/assets", tags=["assets"], summary="An AMC's assets (own AMC or coordinator)")
    def api_assets(amc_id: str, user: ApiUser, offset: int = 0, limit: Annotated[int, Query(ge=1, le=5000)] = PAGE_ROWS) -> dict:
        rows, total, selected = _assets_of(ws, user, amc_id, offset=max(offset, 0), limit=limit)
        return {"amc_id": amc_id, "total": total, "offset": max(offset, 0), "selected_in_latest_round": selected,
                "assets": rows}

    @app.get("/api/pool/summary", tags=["pool"], summary="Pool aggregates (small cells suppressed for AMC users)")
    def api_pool(user: ApiUser) -> dict:
        return ws.pool_summary(user)

    @app.get("/api/rounds", tags=["rounds"], summary="Every round, the editable limits, the packages withdrawn for the next round, whether one runs")
    def api_rounds(user: ApiUser) -> dict:
        rounds = ws.store.rounds()
        withdrawn = {a: v for a, v in ws.store.withdrawn().items() if ws.may_see_amc(user, a)}
        return {"busy": ws.worker.busy, "limits": editable_limits(ws.scenario) | ws.current_changes(),
                "withdrawn": withdrawn, "rounds": [ws.round_view(user, r, rounds) for r in rounds]}

    @app.get("/api/rounds/{rid}", tags=["rounds"], summary="One round with its diff to the previous one")
    def api_round(rid: int, user: ApiUser) -> dict:
        rounds = ws.store.rounds()
        r = next((x for x in rounds if x["id"] == rid), None)
        if r is None:
            raise HTTPException(404, f"there is no round {rid}")
        return ws.round_view(user, r, rounds)

    @app.post("/api/rounds", tags=["rounds"], status_code=202,
              summary="Coordinator: run a round with changed limits (409 while one runs)")
    def api_new_round(body: RoundBody, user: ApiUser) -> dict:
        _coordinator(user)
        rid, problems = ws.start_round(user, body.changes)
        if problems:
            raise HTTPException(400, problems)
        if rid is None:
            raise HTTPException(409, "a round is already running: wait for it to finish")
        return {"round_id": rid, "status": "queued"}

    @app.get("/api/packages", tags=["packages"],
             summary="Packages (own AMC's for AMC users): state for the next round, n_assets, gbv, marginal value")
    def api_packages(user: ApiUser) -> dict:
        return ws.package_view(user)

    @app.post("/api/packages", tags=["packages"],
              summary="Coordinator: withdraw a package from the next round, or add it back (audited)")
    def api_edit_package(body: PackageBody, user: ApiUser) -> dict:
        status, outcome = ws.edit_package(user, body.amc_id, body.package, body.action)
        if status != 200:
            raise HTTPException(status, outcome)
        return {"amc_id": body.amc_id, "package": body.package, "in_round": body.action == "add", "changed": outcome,
                "withdrawn": ws.store.withdrawn().get(body.amc_id, [])}

    @app.post("/api/rounds/{rid}/decision", tags=["rounds"], summary="AMC users: accept or object to a round")
    def api_decision(rid: int, body: DecisionBody, user: ApiUser) -> dict:
        problem = _decide(ws, user, rid, body.decision, body.comment)
        if problem is not None:
            raise HTTPException(*problem)
        return {"round_id": rid, "amc_id": user.amc_id, "decision": body.decision}

    @app.get("/api/audit", tags=["audit"], summary="Coordinator: the audit log, newest first")
    def api_audit(user: ApiUser, limit: int = 500) -> dict:
        _coordinator(user)
        return {"audit": ws.store.audit_log(max(1, min(limit, 10_000)))}

    return app


class _LoginNeeded(Exception):
    """A page asked for without a valid session: redirect to the login page."""


def _coordinator(user: User) -> None:
    if user.role != "coordinator":
        raise HTTPException(403, "only the coordinator may do this")


def _decide(ws: Workspace, user: User, rid: int, decision, comment) -> tuple[int, str] | None:
    """Record an AMC's decision; (status, message) when refused."""
    if user.role != "amc":
        return 403, "only AMC users accept or object to a round"
    r = ws.store.round(rid)
    if r is None:
        return 404, f"there is no round {rid}"
    if r["status"] != "done":
        return 409, f"round {rid} is {r['status']}: only a finished round can be accepted or objected to"
    if decision not in ("accept", "object"):
        return 400, "choose accept or object"
    comment = (comment or "").strip()
    if len(comment) > 4000:
        return 400, "the comment is longer than 4000 characters"
    if decision == "object" and not comment:
        return 400, "say why you object (a comment is required)"
    ws.store.decide(rid, user.amc_id, user.name, decision, comment)
    return None


def _assets_of(ws: Workspace, user: User, amc_id: str, offset: int = 0, limit: int = PAGE_ROWS):
    if amc_id not in ws.amc_ids:
        raise HTTPException(404, f"there is no AMC {amc_id!r}")
    if not ws.may_see_amc(user, amc_id):
        raise HTTPException(403, f"the assets of {amc_id} are visible only to {amc_id} and the coordinator")
    assets = ws.assets()
    mine = assets[assets["amc_id"].astype(str) == amc_id]
    latest = latest_done(ws.store.rounds())
    chosen = set(latest["result"]["selected"].get(amc_id, [])) if latest else set()
    frame = mine[list(ASSET_COLUMNS)].iloc[offset:offset + limit].copy()
    frame["selected"] = frame["asset_id"].astype(str).isin(chosen)
    rows = json.loads(frame.to_json(orient="records", date_format="iso"))
    return rows, len(mine), len(chosen)


def _limits_context(ws: Workspace, raw: dict | None = None) -> dict:
    base = editable_limits(ws.scenario)
    current = base | ws.current_changes()
    shown = {k: (raw[k] if raw and k in raw else current[k]) for k in base}
    return {"limits": shown, "scenario_limits": base, "withdrawn": ws.store.withdrawn()}


def _share_chart(amcs: dict) -> markupsafe.Markup:
    """A bar chart of each AMC's share of the pool (suppressed AMCs left out), as an inline plotly div."""
    shown = {a: v["share"] for a, v in amcs.items() if v.get("share") is not None}
    figure = {"data": [{"type": "bar", "x": list(shown), "y": list(shown.values()), "marker": {"color": "#2c5d9e"}}],
              "layout": {"height": 260, "margin": {"l": 50, "r": 10, "t": 10, "b": 30},
                         "yaxis": {"tickformat": ".0%", "title": "share of pool gbv"}}}
    return markupsafe.Markup(plotly.offline.plot(figure, output_type="div", include_plotlyjs=False,
                                                 config={"displaylogo": False, "responsive": True}))


@functools.cache
def _plotly_js() -> markupsafe.Markup:
    return markupsafe.Markup(plotly.offline.get_plotlyjs())


@functools.cache
def _css() -> markupsafe.Markup:
    from importlib.resources import files

    return markupsafe.Markup(files("pooling.report").joinpath("templates/report.css").read_text(encoding="utf-8"))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("pooling.serve", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.globals.update(report_css=_css, plotly_js=_plotly_js)
    env.filters["money"] = lambda x: "—" if x is None else f"{x / 1e6:,.1f}"
    env.filters["pct"] = lambda x: "—" if x is None else f"{100 * x:.1f}%"
    env.filters["signed_pct"] = lambda x: "—" if x is None else f"{100 * x:+.2f} pp"
    env.filters["cny"] = lambda x: "—" if x is None else f"{x:,.0f}"
    env.filters["signed_cny"] = lambda x: "—" if x is None else f"{x:+,.0f}"
    env.filters["signed_money"] = lambda x: "—" if x is None else f"{x / 1e6:+,.1f}"
    env.filters["when"] = lambda t: dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if t else "—"
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=1, ensure_ascii=False, sort_keys=True, default=str)
    return env
