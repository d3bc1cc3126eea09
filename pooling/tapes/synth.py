"""Synthetic multi-AMC loan tapes: seeded, vectorised, calibrated to public market facts.

``synth_tapes`` draws one canonical tape per AMC (DESIGN §3.1) plus a links file; ``write_consortium`` writes them
in each AMC's own file format together with a scenario file that :func:`pooling.scenario.load_scenario` accepts.
Every draw comes from one ``numpy.random.Generator`` in a fixed order, so a seed gives identical frames and
identical file bytes. There is no per-asset Python loop: loops run over AMCs, columns or a handful of guarantor
slots only, and 1M assets generate in a few seconds.

How the data are drawn (sources in ``/work/shared/reference/market-data.md``)
-----------------------------------------------------------------------------
* **Borrowers.** Each AMC's assets split into corporate-segment, SME-segment and retail borrowers (nationals lean
  corporate, locals lean SME and retail). Companies hold 1–5 assets each, retail borrowers one. About 2–3% of
  the company borrowers are the *same* borrower in two AMCs' tapes (same ``obligor_id``, province and segment),
  which is what makes concentration a pooled-graph question.
* **Regions.** Local AMCs keep 86–94% of their borrowers in the home province, the rest in neighbouring ones
  (cross-regional business is restricted); nationals spread over all 31 provinces by approximate GDP weight.
* **Balances.** Lognormal by asset type, with a shared per-borrower factor for companies: corporate medians near
  ¥100万 with a heavy tail past ¥1亿 (distressed bonds larger), mortgages ¥30–80万, consumer and card packs with medians near ¥5–13万
  (personal batch packs, 银登中心).
* **Collateral.** About 70% of corporate loans secured (工元2016-1: 73%), the rest guarantee-only or unsecured;
  mortgages residential, cards unsecured. Appraisal coverage lognormal, medians 0.5–1.2 of gbv; mostly first liens.
* **Value.** A recovery rate from coverage × recovery share of appraisal by collateral type (residential 50–70%,
  commercial 35–55%, industrial/land 25–45%, equipment 10–25%), lien rank, a residual rate on the unsecured claim,
  age decay e^(−λ·years) and legal status; written as ``expected_recovery``/``expected_months`` only on tapes with
  ``tape_values`` (the AMC's own valuation). Book values follow the price paid, close to the expected
  recovery: ~30% of P+I for secured corporate claims, a few per cent for aged retail packs (2.65–7.3% of P+I).
* **Guarantee network** (担保圈). Among company borrowers, components with Pareto sizes built by preferential
  attachment (out-stars around hubs), plus mutual pairs (互保) and directed triangles, so strongly connected
  guarantee circles exist; average degree 1–3. Components are drawn within provinces, so they mix AMCs.
  Part of the guarantee edges sit on the tapes as ``guarantor_ids``, the rest in the links file together with
  control and affiliate relations; some parents (ids ``P…``) borrow nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pooling import vocab
from pooling.tapes.headers import first_chinese_header

__all__ = ["FORMATS", "AMCSpec", "bench_amcs", "demo_amcs", "synth_tapes", "write_consortium"]

#: File formats ``write_consortium`` can write, with their file-name suffix.
FORMATS: dict[str, str] = {"csv": "csv", "csv-gbk": "csv", "xlsx": "xlsx", "parquet": "parquet"}

_ASSET_TYPES = np.array(vocab.ASSET_TYPES, dtype=object)
_COLLATERAL = np.array(vocab.COLLATERAL_TYPES, dtype=object)
_LEGAL = np.array(vocab.LEGAL_STATUSES, dtype=object)
_AT = {name: i for i, name in enumerate(vocab.ASSET_TYPES)}
_CT = {name: i for i, name in enumerate(vocab.COLLATERAL_TYPES)}
_LS = {name: i for i, name in enumerate(vocab.LEGAL_STATUSES)}
_N_SECURED = _CT["guarantee_only"]  # collateral codes below this one are secured
_PROV_CODES = vocab.PROVINCES["code"].to_numpy(dtype=object)
_PROV_INDEX = {code: i for i, code in enumerate(_PROV_CODES)}
_INDUSTRIES = np.array(list(vocab.INDUSTRY_SECTIONS), dtype=object)
_IND = {letter: i for i, letter in enumerate(_INDUSTRIES)}

# Approximate shares of national GDP (%, 2024), used as the nationals' regional weights: coastal and eastern
# provinces dominate both lending and NPL stock.
_GDP_WEIGHT = {
    "CN-GD": 10.9, "CN-JS": 10.2, "CN-SD": 7.3, "CN-ZJ": 6.6, "CN-SC": 4.8, "CN-HA": 4.6, "CN-HB": 4.4,
    "CN-FJ": 4.3, "CN-HN": 4.0, "CN-SH": 3.7, "CN-AH": 3.7, "CN-BJ": 3.7, "CN-HE": 3.4, "CN-SN": 2.6,
    "CN-JX": 2.5, "CN-CQ": 2.4, "CN-LN": 2.4, "CN-YN": 2.4, "CN-GX": 2.2, "CN-SX": 1.9, "CN-NM": 1.9,
    "CN-GZ": 1.7, "CN-XJ": 1.5, "CN-TJ": 1.3, "CN-HL": 1.2, "CN-JL": 1.1, "CN-GS": 0.9, "CN-HI": 0.6,
    "CN-NX": 0.4, "CN-QH": 0.3, "CN-XZ": 0.2,
}  # fmt: skip

# Land neighbours (Hainan: Guangdong across the strait); a local AMC's out-of-home borrowers sit here.
_NEIGHBOURS = {
    "CN-BJ": "TJ HE", "CN-TJ": "BJ HE", "CN-HE": "BJ TJ SX NM LN SD HA", "CN-SX": "HE NM SN HA",
    "CN-NM": "HL JL LN HE SX SN NX GS", "CN-LN": "JL NM HE", "CN-JL": "HL NM LN", "CN-HL": "JL NM",
    "CN-SH": "JS ZJ", "CN-JS": "SH ZJ AH SD", "CN-ZJ": "SH JS AH JX FJ", "CN-AH": "JS ZJ JX HB HA SD",
    "CN-FJ": "ZJ JX GD", "CN-JX": "ZJ AH HB HN GD FJ", "CN-SD": "HE HA AH JS", "CN-HA": "HE SX SN HB AH SD",
    "CN-HB": "HA AH JX HN CQ SN", "CN-HN": "HB JX GD GX GZ CQ", "CN-GD": "FJ JX HN GX HI", "CN-GX": "GD HN GZ YN",
    "CN-HI": "GD", "CN-CQ": "HB HN GZ SC SN", "CN-SC": "CQ GZ YN XZ QH GS SN", "CN-GZ": "SC CQ HN GX YN",
    "CN-YN": "SC GZ GX XZ", "CN-XZ": "XJ QH SC YN", "CN-SN": "SX HA HB CQ SC GS NX NM",
    "CN-GS": "SN NX NM QH XJ SC", "CN-QH": "GS XJ XZ SC", "CN-NX": "SN GS NM", "CN-XJ": "GS QH XZ",
}  # fmt: skip

# Borrower segments by share of an AMC's asset count: (corporate, SME, retail). Per-AMC mixes scatter around these.
_SEGMENT_MIX = {"national": (0.42, 0.33, 0.25), "local": (0.20, 0.40, 0.40)}
# Retail borrowers' asset types: (retail_mortgage, retail_consumer, credit_card).
_RETAIL_MIX = {"national": (0.30, 0.35, 0.35), "local": (0.20, 0.40, 0.40)}
# Assets of a corporate-segment borrower: (corporate, distressed_bond, repossessed); SME: (sme, repossessed).
_CORPORATE_TYPES = {"national": (0.88, 0.04, 0.08), "local": (0.91, 0.01, 0.08)}
_SME_REPOSSESSED = 0.06
# Assets per company borrower, 1..5.
_ASSETS_PER_BORROWER = {"corporate": (0.45, 0.22, 0.15, 0.10, 0.08), "sme": (0.62, 0.22, 0.11, 0.05, 0.0)}

# Balance (gbv, CNY): lognormal (median, sigma) by asset type; company types scale by AMC kind.
_BALANCE = {
    "corporate": (1.1e6, 1.3),
    "sme": (4.5e5, 0.95),
    "retail_mortgage": (4.8e5, 0.3),  # ¥30–80万
    "retail_consumer": (9.0e4, 0.75),  # batch packs: median ¥5–13万
    "credit_card": (5.5e4, 0.7),
    "distressed_bond": (1.2e7, 0.9),
    "repossessed": (1.5e6, 1.0),
}
_KIND_SCALE = {"national": 1.2, "local": 0.8}
_BORROWER_SIGMA = 0.45  # shared lognormal factor across one company's loans
_MAX_GBV = 5.0e9

# Collateral mix by asset type, columns in vocab.COLLATERAL_TYPES order:
# residential, commercial, industrial, land, equipment, receivables, equity_pledge, guarantee_only, unsecured.
_COLLATERAL_MIX = {
    "corporate": (0.08, 0.15, 0.18, 0.10, 0.06, 0.06, 0.07, 0.20, 0.10),  # 70% secured (工元2016-1: 73%)
    "sme": (0.22, 0.12, 0.10, 0.03, 0.06, 0.04, 0.01, 0.30, 0.12),
    "retail_mortgage": (1.0, 0, 0, 0, 0, 0, 0, 0, 0),
    "retail_consumer": (0.05, 0, 0, 0, 0, 0, 0, 0.10, 0.85),
    "credit_card": (0, 0, 0, 0, 0, 0, 0, 0, 1.0),
    "distressed_bond": (0, 0, 0, 0.05, 0, 0, 0.10, 0.30, 0.55),
    "repossessed": (0.25, 0.35, 0.25, 0.15, 0, 0, 0, 0, 0),  # the asset is the property itself
}
# Appraisal coverage (collateral_value / gbv): lognormal median by collateral type, common sigma.
_COVERAGE = (1.2, 1.2, 1.1, 1.2, 0.6, 0.5, 0.7)
_COVERAGE_SIGMA = 0.4
# Recovery as a share of appraisal (market-data: residential 50–70%, commercial 35–55%, industrial/land 25–45%,
# equipment/inventory 10–25%); receivables and equity pledges by analogy.
_APPRAISAL_RECOVERY = (0.62, 0.46, 0.36, 0.36, 0.18, 0.20, 0.25)
_LIEN_FACTOR = (1.0, 0.55, 0.3)  # lien rank 1, 2, 3
# Residual recovery on the claim not covered by collateral; guarantee-only 5–20%, unsecured 0–10%.
_RESIDUAL = {
    "secured": 0.05,
    "guarantee_only": 0.13,
    "unsecured": 0.06,
    "retail_unsecured": 0.16,
    "bond": 0.30,
}
# Age decay λ per year: 0.10–0.20 secured, 0.25–0.40 unsecured; retail packs decay more slowly than that.
_DECAY = {"secured": 0.10, "unsecured": 0.28, "retail_unsecured": 0.18, "bond": 0.15}
_LEGAL_FACTOR = (1.0, 1.0, 1.05, 1.1, 0.6, 0.75, 1.3)  # vocab.LEGAL_STATUSES order
_MONTHS = (30.0, 26.0, 20.0, 15.0, 40.0, 42.0, 9.0)  # median months to recovery by legal status

# GB/T 4754 section weights of company borrowers: construction, wholesale/retail, real estate and manufacturing
# dominate AMC corporate NPL books.
_INDUSTRY_MIX = {
    "corporate": {"C": 0.28, "F": 0.14, "K": 0.14, "E": 0.13, "G": 0.05, "L": 0.05, "B": 0.04, "A": 0.03,
                  "D": 0.03, "I": 0.03, "H": 0.02, "N": 0.02, "M": 0.015, "R": 0.01, "O": 0.01, "Q": 0.005},
    "sme": {"C": 0.30, "F": 0.26, "E": 0.08, "H": 0.07, "K": 0.04, "A": 0.05, "G": 0.05, "L": 0.04, "I": 0.03,
            "O": 0.03, "M": 0.02, "R": 0.015, "P": 0.01, "Q": 0.005},
}  # fmt: skip
_RETAIL_LEGAL = (0.62, 0.14, 0.09, 0.08, 0.04, 0.0, 0.03)  # vocab.LEGAL_STATUSES order
_SHARED_BORROWERS = 0.05  # company slots offered for sharing; ~2–3% of company borrowers end up in two tapes
_BANKS = np.array(["ICBC", "CCB", "ABC", "BOC", "BCM", "CMB", "CIB", "SPDB", "CNCB", "CEB", "HXB", "PAB",
                   "CMBC", "BOB", "BOS", "NBCB", "HZCB", "RCC"], dtype=object)  # fmt: skip

# Chinese labels that pooling.vocab maps back to the canonical values (tests check the round trip).
_ZH_LABELS = {
    "asset_type": {"corporate": "对公贷款", "sme": "小微企业", "retail_mortgage": "个人住房贷款",
                   "retail_consumer": "个人消费贷款", "credit_card": "信用卡", "distressed_bond": "违约债券",
                   "repossessed": "抵债资产"},
    "collateral_type": {"residential": "住宅", "commercial": "商业地产", "industrial": "工业厂房",
                        "land": "土地使用权", "equipment": "机器设备", "receivables": "应收账款",
                        "equity_pledge": "股权质押", "guarantee_only": "保证", "unsecured": "信用"},
    "legal_status": {"pre_litigation": "未诉", "litigation": "诉讼中", "judgment": "已判决",
                     "enforcement": "执行中", "enforcement_terminated": "终结本次执行", "bankruptcy": "破产",
                     "settled": "已和解"},
    "province": dict(zip(vocab.PROVINCES["code"], vocab.PROVINCES["name_zh"], strict=True)),
    "industry": {**{k: v[0] for k, v in vocab.INDUSTRY_SECTIONS.items()}, "T": "个人"},
}  # fmt: skip

# Pieces of synthetic names: 省份 + 字号 + 行业用语 + 有限公司 for companies, masked names (张*明) for people.
_TRADE_CHARS = np.array(
    list("华鑫达盛恒源泰隆丰润宏信嘉瑞金通远海德锦博佳永昌兴祥汇安康力新天中东方鼎辉正诚宇"), dtype=object
)
_INDUSTRY_WORDS = {
    "A": "农业发展 生态农业 畜牧", "B": "矿业 能源开发", "C": "机械制造 实业 电子科技 纺织 化工 新材料",
    "D": "电力 燃气 水务", "E": "建设工程 建筑 路桥工程", "F": "商贸 贸易 物资 供应链", "G": "物流 运输",
    "H": "酒店管理 餐饮管理", "I": "信息技术 网络科技", "J": "投资 融资担保", "K": "置业 房地产开发",
    "L": "商务服务 租赁", "M": "技术服务 工程设计", "N": "环境工程 市政设施", "O": "家政服务 汽车维修",
    "P": "教育科技", "Q": "医疗管理", "R": "文化传媒 体育发展", "S": "社会服务", "T": "实业",
}  # fmt: skip
_SURNAMES = np.array(list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹"), dtype=object)
_GIVEN = np.array(list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚华建国红玲斌波"), dtype=object)

_TAPE_COLUMNS = (
    "asset_id", "obligor_id", "obligor_name", "gbv", "principal", "asset_type", "collateral_type", "province",
    "industry", "default_date", "legal_status", "collateral_value", "lien_rank", "book_value",
    "expected_recovery", "expected_months", "guarantor_ids", "source_loan_id",
)  # fmt: skip
_MAX_TAPE_GUARANTORS = 3  # guarantors listed per asset on a tape; further guarantees go to the links file
_EXCEL_MAX_ROWS = 1_048_576 - 2  # title row + header row


@dataclass(frozen=True)
class AMCSpec:
    """One synthetic asset management company and how its tape is written.

    Attributes
    ----------
    id, name : str
        AMC id (letters, digits, ``_.-``) and display name.
    kind : {"national", "local"}
        National AMCs lend everywhere; locals mostly in ``home_province``.
    home_province : str or None
        ISO code such as ``"CN-ZJ"`` for locals, None for nationals.
    weight : float
        Share of the consortium's asset count this AMC contributes (normalised over all AMCs).
    fmt : {"csv", "csv-gbk", "xlsx", "parquet"}
        File format. ``csv-gbk`` is always written with Chinese headers.
    chinese_headers : bool
        Write Chinese headers (:func:`pooling.tapes.headers.first_chinese_header`) and Chinese labels for province,
        industry, asset type, collateral type and legal status, as a Chinese-language tape would.
    tape_values : bool
        Include ``expected_recovery`` / ``expected_months`` (the AMC's own valuation).
    """

    id: str
    name: str
    kind: str
    home_province: str | None
    weight: float
    fmt: str = "csv"
    chinese_headers: bool = False
    tape_values: bool = False

    @property
    def chinese(self) -> bool:
        """Whether the tape is written in Chinese (headers and labels)."""
        return self.chinese_headers or self.fmt == "csv-gbk"

    @property
    def file_name(self) -> str:
        """File name of the tape under ``data/``, e.g. ``zj.xlsx``."""
        return f"{self.id.lower()}.{FORMATS[self.fmt]}"


def demo_amcs() -> list[AMCSpec]:
    """The demo consortium: one national AMC and three provincial AMCs, each tape in a different style.

    Returns
    -------
    list of AMCSpec
        ``NAT`` (national, ~45% of assets, UTF-8 CSV with its own valuation), ``ZJ`` (Zhejiang, Excel with a title
        row, Chinese headers and labels), ``GD`` (Guangdong, GBK CSV in Chinese) and ``SC`` (Sichuan, plain CSV).
    """
    return [
        AMCSpec("NAT", "National AMC 全国资产管理公司", "national", None, 0.45, "csv", tape_values=True),
        AMCSpec("ZJ", "浙江省资产管理公司", "local", "CN-ZJ", 0.22, "xlsx", chinese_headers=True),
        AMCSpec("GD", "广东省资产管理公司", "local", "CN-GD", 0.20, "csv-gbk", chinese_headers=True),
        AMCSpec("SC", "四川省资产管理公司", "local", "CN-SC", 0.13, "csv"),
    ]


_BENCH_PROVINCES = (
    "CN-ZJ", "CN-GD", "CN-JS", "CN-SD", "CN-SC", "CN-HB", "CN-FJ", "CN-HA", "CN-HN", "CN-AH", "CN-SH", "CN-BJ",
    "CN-HE", "CN-SN", "CN-JX", "CN-CQ", "CN-LN", "CN-YN", "CN-GX", "CN-SX", "CN-NM", "CN-GZ", "CN-XJ", "CN-TJ",
    "CN-HL", "CN-JL", "CN-GS", "CN-HI", "CN-NX", "CN-QH", "CN-XZ",
)  # fmt: skip


def bench_amcs(n_amcs: int = 8, fmt: str = "parquet") -> list[AMCSpec]:
    """A benchmark consortium: two nationals and provincial AMCs in distinct provinces, with skewed sizes.

    Parameters
    ----------
    n_amcs : int
        Number of AMCs, 1 to 33 (one national when 1; otherwise two nationals and ``n_amcs - 2`` locals).
    fmt : str
        File format of every tape (see :data:`FORMATS`).

    Returns
    -------
    list of AMCSpec
        Weights fall as ``1 / rank**1.1`` (the largest contributor holds ~40% of the assets at 8 AMCs, as in
        multi-originator deals where the largest seller holds 45–50%). Nationals carry their own valuation.
    """
    if not 1 <= n_amcs <= 2 + len(_BENCH_PROVINCES):
        raise ValueError(f"n_amcs must be between 1 and {2 + len(_BENCH_PROVINCES)}, got {n_amcs}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {list(FORMATS)}")
    weights = 1.0 / np.arange(1, n_amcs + 1) ** 1.1
    weights = np.round(weights / weights.sum(), 6)
    n_nat = min(n_amcs, 2)
    specs = [
        AMCSpec(
            f"NAT{i + 1}", f"National AMC {i + 1}", "national", None, float(weights[i]), fmt, tape_values=True
        )
        for i in range(n_nat)
    ]
    for j, code in enumerate(_BENCH_PROVINCES[: n_amcs - n_nat]):
        row = vocab.PROVINCES.loc[vocab.PROVINCES["code"] == code].iloc[0]
        specs.append(
            AMCSpec(code[3:], f"{row['name_zh']}资产管理公司", "local", code, float(weights[n_nat + j]), fmt)
        )
    return specs


# ---------------------------------------------------------------------------------------------------- helpers


def _check_specs(amcs: list[AMCSpec]) -> None:
    if not amcs:
        raise ValueError("at least one AMC is needed")
    ids = [a.id for a in amcs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"AMC ids must be unique: {ids}")
    for a in amcs:
        if a.kind not in ("national", "local"):
            raise ValueError(f"AMC {a.id}: kind must be 'national' or 'local', got {a.kind!r}")
        if a.kind == "local" and a.home_province not in _PROV_INDEX:
            raise ValueError(f"AMC {a.id}: a local AMC needs home_province as an ISO code such as 'CN-ZJ'")
        if not a.weight > 0:
            raise ValueError(f"AMC {a.id}: weight must be positive, got {a.weight}")
        if a.fmt not in FORMATS:
            raise ValueError(f"AMC {a.id}: unknown format {a.fmt!r}; expected one of {list(FORMATS)}")


def _split(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers summing to ``total`` in proportion to ``weights`` (largest remainder, ties to the first)."""
    exact = total * np.asarray(weights, dtype=float) / np.sum(weights)
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    if short:
        counts[np.argsort(-(exact - counts), kind="stable")[:short]] += 1
    return counts


def _categorical(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One draw per element of ``rows`` from the categorical distribution ``probs[rows]`` (rows sum to 1)."""
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)[:, :-1]
    u = rng.random(len(rows))
    return (u[:, None] >= cum[rows]).sum(axis=1)


def _chunks(rng: np.random.Generator, n: int, probs: np.ndarray, offset: int = 1) -> np.ndarray:
    """Sizes (``offset + categorical(probs)``) of consecutive chunks that exactly cover ``n`` items."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    sizes = offset + _categorical(rng, probs[None, :], np.zeros(n, dtype=np.int64))
    return _fit(sizes, n)


def _fit(sizes: np.ndarray, n: int) -> np.ndarray:
    """Keep the leading ``sizes`` that reach ``n`` and trim the last so the total is exactly ``n``."""
    cs = np.cumsum(sizes)
    k = int(np.searchsorted(cs, n))
    out = sizes[: k + 1].astype(np.int64)
    out[-1] -= int(cs[k]) - n
    return out


def _rank_within(group: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """For each flagged item, how many flagged items of the same group come before it (in array order)."""
    rank = np.zeros(len(group), dtype=np.int64)
    if len(group) == 0:
        return rank
    order = np.lexsort((np.arange(len(group)), group))
    g, f = group[order], flag[order].astype(np.int64)
    cum = np.cumsum(f)
    run_start = np.r_[True, g[1:] != g[:-1]]
    before = np.maximum.accumulate(np.where(run_start, cum - f, 0))  # flagged items in earlier groups
    rank[order] = cum - before - 1
    return rank


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded string ids such as ``C0000123`` for an integer array (vectorised through Arrow strings)."""
    digits = pd.Series(numbers, dtype="int64").astype("str").str.zfill(width)
    return (prefix + digits).to_numpy(dtype=object)


def _province_weights(rng: np.random.Generator, spec: AMCSpec) -> np.ndarray:
    """Probability of each province (vocab.PROVINCES order) for one AMC's borrowers."""
    gdp = np.array([_GDP_WEIGHT[c] for c in _PROV_CODES])
    if spec.kind == "national":
        return rng.dirichlet(gdp / gdp.sum() * 400.0)  # each national's book is a slightly different spread
    home = _PROV_INDEX[spec.home_province]
    near = np.array([_PROV_INDEX[f"CN-{c}"] for c in _NEIGHBOURS[spec.home_province].split()])
    w = np.zeros(len(_PROV_CODES))
    w[near] = gdp[near] / gdp[near].sum()
    w *= 1.0 - rng.uniform(0.86, 0.94)
    w[home] = 1.0 - w.sum()
    return w


# ------------------------------------------------------------------------------------------------- borrowers


@dataclass
class _Slots:
    """Borrower slots, one per (AMC, borrower) pair, grouped by AMC.

    ``key`` is the slot holding the borrower's own attributes: a company that borrows from two AMCs has two slots
    with one key. ``seg`` is 0 corporate, 1 SME, 2 retail; ``size`` is the number of assets in the slot.
    """

    amc: np.ndarray
    seg: np.ndarray
    prov: np.ndarray
    ind: np.ndarray
    size: np.ndarray
    key: np.ndarray


def _draw_slots(rng: np.random.Generator, amcs: list[AMCSpec], counts: np.ndarray) -> _Slots:
    """Borrowers per AMC (segment mix, assets per company, province, industry), shuffled within each AMC."""
    p_corp = np.array(_ASSETS_PER_BORROWER["corporate"])
    p_sme = np.array(_ASSETS_PER_BORROWER["sme"])
    amc, seg, prov, size = [], [], [], []
    for a, (spec, n) in enumerate(zip(amcs, counts, strict=True)):
        n_seg = rng.multinomial(n, rng.dirichlet(np.array(_SEGMENT_MIX[spec.kind]) * 60.0))
        per_seg = [
            _chunks(rng, n_seg[0], p_corp),
            _chunks(rng, n_seg[1], p_sme),
            np.ones(n_seg[2], dtype=np.int64),
        ]
        sizes = np.concatenate(per_seg)
        amc.append(np.full(len(sizes), a, dtype=np.int64))
        seg.append(np.repeat(np.arange(3, dtype=np.int64), [len(s) for s in per_seg]))
        prov.append(rng.choice(len(_PROV_CODES), size=len(sizes), p=_province_weights(rng, spec)))
        size.append(sizes)
    slot_amc, slot_seg, slot_prov, slot_size = (np.concatenate(x) for x in (amc, seg, prov, size))
    # Real tapes list borrowers in no meaningful order: shuffle within each AMC.
    order = np.lexsort((rng.random(len(slot_amc)), slot_amc))
    slot_amc, slot_seg, slot_prov, slot_size = (x[order] for x in (slot_amc, slot_seg, slot_prov, slot_size))
    ind = np.full(len(slot_amc), _IND["T"], dtype=np.int64)  # retail borrowers: households, filed under T
    for s, name in enumerate(("corporate", "sme")):
        mix = _INDUSTRY_MIX[name]
        mask = slot_seg == s
        letters = np.array([_IND[k] for k in mix])
        ind[mask] = letters[
            _categorical(rng, np.array([list(mix.values())]), np.zeros(mask.sum(), dtype=np.int64))
        ]
    return _Slots(slot_amc, slot_seg, slot_prov, ind, slot_size, np.arange(len(slot_amc), dtype=np.int64))


def _share_borrowers(rng: np.random.Generator, slots: _Slots, tries: int = 4) -> None:
    """Make some company slots the same borrower as a company of another AMC (same segment and province).

    ``_SHARED_BORROWERS`` of the slots are chosen; each takes the key of a random company slot with the same segment and province that was not itself
    chosen; draws landing in the slot's own AMC are redrawn up to ``tries`` times, then the slot stays unshared.
    """
    company = slots.seg < 2
    target = company & (rng.random(len(slots.seg)) < _SHARED_BORROWERS)
    cand = np.flatnonzero(company & ~target)
    t = np.flatnonzero(target)
    if len(cand) == 0 or len(t) == 0:
        return
    group = slots.seg * len(_PROV_CODES) + slots.prov
    cand = cand[np.argsort(group[cand], kind="stable")]
    lo = np.searchsorted(group[cand], group[t], side="left")
    hi = np.searchsorted(group[cand], group[t], side="right")
    has = hi > lo
    t, lo, hi = t[has], lo[has], hi[has]
    pick = np.full(len(t), -1, dtype=np.int64)
    for _ in range(tries):
        todo = pick < 0
        draw = cand[lo + np.floor(rng.random(len(t)) * (hi - lo)).astype(np.int64)]
        ok = todo & (slots.amc[draw] != slots.amc[t])
        pick[ok] = draw[ok]
    done = pick >= 0
    slots.key[t[done]] = pick[done]


# ------------------------------------------------------------------------------------------------------ assets


@dataclass
class _Assets:
    """Every asset of every AMC, grouped by AMC (arrays of equal length)."""

    amc: np.ndarray
    key: np.ndarray
    asset_type: np.ndarray
    collateral: np.ndarray
    prov: np.ndarray
    ind: np.ndarray
    gbv: np.ndarray
    principal: np.ndarray
    default_date: np.ndarray
    legal: np.ndarray
    collateral_value: np.ndarray
    lien_rank: np.ndarray
    book_value: np.ndarray
    expected_recovery: np.ndarray
    expected_months: np.ndarray
    source_loan_id: np.ndarray


def _draw_assets(rng: np.random.Generator, amcs: list[AMCSpec], slots: _Slots, as_of: dt.date) -> _Assets:
    """Asset attributes, drawn column by column over all assets at once."""
    n_slots = len(slots.seg)
    national = np.array([a.kind == "national" for a in amcs])
    # Borrower-level draws (used through ``key``, so shared borrowers keep one history across AMCs).
    b_scale = rng.lognormal(0.0, _BORROWER_SIGMA, n_slots)
    b_age = np.where(
        slots.seg < 2,
        0.3 + 8.7 * rng.beta(1.6, 3.2, n_slots),  # companies: ~3 years since default on average
        0.3 + 8.7 * rng.beta(2.4, 2.0, n_slots),  # retail packs are older: mostly 5–10 years overdue
    )
    b_progress = 0.8 * b_age + rng.normal(0.0, 0.8, n_slots)  # how far the court case has gone
    b_bankrupt = rng.random(n_slots) < np.where(slots.seg == 0, 0.06, 0.03)

    slot = np.repeat(np.arange(n_slots), slots.size)
    n = len(slot)
    key = slots.key[slot]
    amc = slots.amc[slot]
    seg = slots.seg[key]
    kind = (~national[amc]).astype(np.int64)  # 0 national, 1 local

    # Asset type within the borrower segment.
    asset_type = np.empty(n, dtype=np.int64)
    corp_types = np.array([_AT["corporate"], _AT["distressed_bond"], _AT["repossessed"]])
    probs = np.array([_CORPORATE_TYPES["national"], _CORPORATE_TYPES["local"]])
    m = seg == 0
    asset_type[m] = corp_types[_categorical(rng, probs, kind[m])]
    m = seg == 1
    asset_type[m] = np.where(rng.random(m.sum()) < _SME_REPOSSESSED, _AT["repossessed"], _AT["sme"])
    m = seg == 2
    retail_types = np.array([_AT["retail_mortgage"], _AT["retail_consumer"], _AT["credit_card"]])
    retail_mix = np.array([rng.dirichlet(np.array(_RETAIL_MIX[a.kind]) * 30.0) for a in amcs])  # packs differ
    asset_type[m] = retail_types[_categorical(rng, retail_mix, amc[m])]
    retail = seg == 2

    # Balance: lognormal by type; company types scale with AMC kind and share the borrower's factor.
    med = np.array([_BALANCE[t][0] for t in vocab.ASSET_TYPES])[asset_type]
    sig = np.array([_BALANCE[t][1] for t in vocab.ASSET_TYPES])[asset_type]
    scale = np.where(
        retail, 1.0, np.where(kind == 0, _KIND_SCALE["national"], _KIND_SCALE["local"]) * b_scale[key]
    )
    gbv = np.round(np.clip(med * scale * np.exp(sig * rng.standard_normal(n)), 800.0, _MAX_GBV), 2)

    # Age since default and legal status.
    age = np.where(retail, b_age[key], np.clip(b_age[key] + rng.normal(0.0, 0.12, n), 0.3, 9.0))
    days = np.round(age * 365.25).astype("timedelta64[D]")
    default_date = np.datetime64(as_of, "D") - days
    stage = np.clip(np.floor(b_progress[key] + rng.normal(0.0, 0.3, n)), 0, 4).astype(np.int64)
    stage = np.where(b_bankrupt[key], _LS["bankruptcy"], stage)
    stage = np.where(rng.random(n) < 0.03, _LS["settled"], stage)
    legal = np.where(retail, _categorical(rng, np.array([_RETAIL_LEGAL]), np.zeros(n, dtype=np.int64)), stage)

    # Principal: interest and penalties accrue with age (cards fastest).
    card = asset_type == _AT["credit_card"]
    bond = asset_type == _AT["distressed_bond"]
    ratio = np.select(
        [card, bond],
        [0.86 - 0.04 * age + rng.normal(0.0, 0.06, n), 0.93 - 0.02 * age + rng.normal(0.0, 0.03, n)],
        0.97 - 0.045 * age + rng.normal(0.0, 0.05, n),
    )
    principal = np.minimum(np.round(gbv * np.clip(ratio, 0.4, 1.0), 2), gbv)

    # Collateral, appraisal coverage and lien rank.
    coll_mix = np.array([_COLLATERAL_MIX[t] for t in vocab.ASSET_TYPES], dtype=float)
    collateral = _categorical(rng, coll_mix, asset_type)
    secured = collateral < _N_SECURED
    cc = np.minimum(collateral, _N_SECURED - 1)  # index into the secured-only tables
    coverage = np.where(asset_type == _AT["repossessed"], 0.8, np.array(_COVERAGE)[cc]) * rng.lognormal(
        0.0, _COVERAGE_SIGMA, n
    )
    coverage = np.clip(coverage, 0.05, 3.0)
    collateral_value = np.where(secured, np.maximum(np.round(gbv * coverage, -3), 1000.0), np.nan)
    lien_probs = np.array([[0.80, 0.15, 0.05], [0.97, 0.03, 0.0]])
    lien = 1 + _categorical(rng, lien_probs, (asset_type == _AT["retail_mortgage"]).astype(np.int64))
    lien = np.where(asset_type == _AT["repossessed"], 1, lien)  # the AMC holds the title itself
    lien_rank = np.where(secured, lien, 0)

    # Expected recovery (the AMC's own valuation) and its timing.
    secured_part = np.minimum(
        coverage * np.array(_APPRAISAL_RECOVERY)[cc] * np.array(_LIEN_FACTOR)[lien - 1], 0.9
    )
    retail_unsecured = ~secured & np.isin(asset_type, [_AT["credit_card"], _AT["retail_consumer"]])
    bond_unsecured = ~secured & bond  # defaulted bonds still recover through restructuring
    base = np.select(
        [secured, retail_unsecured, bond_unsecured, collateral == _CT["guarantee_only"]],
        [secured_part + _RESIDUAL["secured"] * (1.0 - secured_part), _RESIDUAL["retail_unsecured"],
         _RESIDUAL["bond"], _RESIDUAL["guarantee_only"]],
        _RESIDUAL["unsecured"],
    )  # fmt: skip
    decay = np.select(
        [secured, retail_unsecured, bond_unsecured],
        [_DECAY["secured"], _DECAY["retail_unsecured"], _DECAY["bond"]],
        _DECAY["unsecured"],
    )
    rate = base * np.exp(-decay * age) * np.array(_LEGAL_FACTOR)[legal] * rng.lognormal(0.0, 0.25, n)
    rate = np.clip(rate, 0.01, 0.85)
    expected_recovery = np.minimum(np.round(gbv * rate, 2), gbv)
    months = np.array(_MONTHS)[legal] * np.where(secured, 1.0, 1.15) * rng.lognormal(0.0, 0.3, n)
    expected_months = np.round(np.clip(months, 3.0, 72.0), 1)

    # Book value follows the price paid, close to the expected recovery: corporate pilot transfers priced at ~30%
    # of P+I, personal batch packs at 2.65–7.3% of P+I (银登中心, 2022–25).
    book = np.where(
        retail,
        np.clip(rate * rng.uniform(0.35, 0.9, n), 0.01, 0.5),
        np.clip(0.02 + rate * rng.uniform(0.75, 1.25, n), 0.03, 0.75),
    )
    book_value = np.round(gbv * book, 2)

    # The original lender's contract number: bank, origination year, serial unique across the consortium.
    bank = _BANKS[rng.integers(0, len(_BANKS), n)]
    year = (as_of.year - np.floor(age + rng.uniform(0.5, 4.0, n))).astype(np.int64)
    serial = _ids("", rng.permutation(n) + 1, 9)
    source_loan_id = (
        pd.Series(bank, dtype="str") + pd.Series(year).astype("str") + pd.Series(serial, dtype="str")
    )

    return _Assets(
        amc=amc, key=key, asset_type=asset_type, collateral=collateral, prov=slots.prov[key], ind=slots.ind[key],
        gbv=gbv, principal=principal, default_date=default_date, legal=legal, collateral_value=collateral_value,
        lien_rank=lien_rank, book_value=book_value, expected_recovery=expected_recovery,
        expected_months=expected_months, source_loan_id=source_loan_id.to_numpy(dtype=object),
    )  # fmt: skip


# --------------------------------------------------------------------------------------------------- network


@dataclass
class _Network:
    """Edges between borrower keys (parents are ``n_slots + p``): guarantees on the tapes, and the links file."""

    tape_from: np.ndarray
    tape_to: np.ndarray
    link_from: np.ndarray
    link_to: np.ndarray
    link_relation: np.ndarray  # index into vocab.LINK_RELATIONS
    n_parents: int


def _draw_network(rng: np.random.Generator, slots: _Slots) -> _Network:
    """Guarantee circles, control groups and affiliates among the distinct company borrowers.

    Guarantee components: participants sorted by province (10% placed anywhere) are cut into components of size
    ``2 + ⌊1.5·Lomax(1.6)⌋`` (heavy tail, capped at 3√n). Within a component, node j attaches to node
    ``⌊j·u²⌋`` (preferential attachment: early nodes become hubs guaranteeing many, i.e. out-stars); 65% of those
    edges point parent → child. 20% of edges are mutual (互保), and 10% of nodes with a grandparent close a directed
    triangle. Parents (``P…``) control the heads of some components and of control groups of non-participants.
    """
    n_slots = len(slots.seg)
    nodes = np.flatnonzero((slots.seg < 2) & (slots.key == np.arange(n_slots)))
    seg, prov = slots.seg[nodes], slots.prov[nodes]
    joins = rng.random(len(nodes)) < np.where(seg == 0, 0.55, 0.35)

    # Guarantee components.
    part = nodes[joins]
    n_part = len(part)
    place = np.where(rng.random(n_part) < 0.1, rng.integers(0, len(_PROV_CODES), n_part), prov[joins])
    part = part[np.lexsort((rng.random(n_part), place))]
    g_from: list[np.ndarray] = []
    g_to: list[np.ndarray] = []
    c_from: list[np.ndarray] = []
    c_to: list[np.ndarray] = []
    n_parents = 0
    if n_part >= 2:
        cap = max(8, int(3 * np.sqrt(n_part)))
        sizes = _fit(
            np.minimum(2 + np.floor(1.5 * rng.pareto(1.6, n_part // 2 + 1)).astype(np.int64), cap), n_part
        )
        starts = np.cumsum(sizes) - sizes
        first = np.repeat(starts, sizes)
        pos = np.arange(n_part) - first
        child = np.flatnonzero(pos > 0)
        parent = first[child] + np.floor(pos[child] * rng.random(len(child)) ** 2).astype(np.int64)
        down = rng.random(len(child)) < 0.65
        src, dst = np.where(down, parent, child), np.where(down, child, parent)
        mutual = rng.random(len(child)) < 0.2
        parent_of = np.full(n_part, -1, dtype=np.int64)
        parent_of[child] = parent
        grand = parent_of[parent]
        tri = (grand >= 0) & (rng.random(len(child)) < 0.1)
        c, p, gp = child[tri], parent[tri], grand[tri]
        g_from += [part[src], part[dst[mutual]], part[gp], part[p], part[c]]
        g_to += [part[dst], part[src[mutual]], part[p], part[c], part[gp]]
        # A parent company (borrowing nothing) controls the first members of a fifth of the larger components.
        heads = np.flatnonzero((sizes >= 3) & (rng.random(len(sizes)) < 0.2))
        ctrl_from = np.repeat(n_slots + np.arange(len(heads)), 2)
        ctrl_to = part[(starts[heads][:, None] + np.arange(2)).ravel()]
        c_from.append(ctrl_from)
        c_to.append(ctrl_to)
        n_parents = len(heads)

    # Control groups of 2–6 among non-participants; 70% have a parent that borrows nothing.
    rest = nodes[~joins]
    grouped = rng.random(len(rest)) < 0.12
    members = rest[grouped]
    members = members[np.lexsort((rng.random(len(members)), slots.prov[members]))]
    sizes = _chunks(rng, len(members), np.full(5, 0.2), offset=2)
    starts = np.cumsum(sizes) - sizes
    outside = rng.random(len(sizes)) < 0.7
    parents = np.where(outside, n_slots + n_parents + np.cumsum(outside) - 1, members[starts])
    n_parents += int(outside.sum())
    owner = np.repeat(parents, sizes)
    keep = owner != members
    c_from.append(owner[keep])
    c_to.append(members[keep])
    # Outside parents often guarantee their subsidiaries' loans too (links file only).
    pg = keep & np.repeat(outside, sizes) & (rng.random(len(members)) < 0.5)
    p_from, p_to = owner[pg], members[pg]

    # Affiliates: pairs of neighbouring (same-province) non-participants outside control groups.
    loose = rest[~grouped]
    loose = loose[rng.random(len(loose)) < 0.04]
    loose = loose[np.lexsort((rng.random(len(loose)), slots.prov[loose]))]
    half = len(loose) // 2
    a_from, a_to = loose[: 2 * half : 2], loose[1 : 2 * half : 2]

    # Distinct borrower → borrower guarantees; 60% go on the tapes (at most 3 per borrower), the rest to links.
    g_src = np.concatenate([*g_from, np.zeros(0, dtype=np.int64)])
    g_dst = np.concatenate([*g_to, np.zeros(0, dtype=np.int64)])
    code = np.unique(g_src[g_src != g_dst] * n_slots + g_dst[g_src != g_dst])
    g_src, g_dst = code // n_slots, code % n_slots
    on_tape = rng.random(len(code)) < 0.6
    on_tape &= _rank_within(g_dst, on_tape) < _MAX_TAPE_GUARANTORS

    ctrl_src = np.concatenate(c_from) if c_from else np.zeros(0, dtype=np.int64)
    ctrl_dst = np.concatenate(c_to) if c_to else np.zeros(0, dtype=np.int64)
    link_from = np.concatenate([g_src[~on_tape], p_from, ctrl_src, a_from])
    link_to = np.concatenate([g_dst[~on_tape], p_to, ctrl_dst, a_to])
    relation = np.repeat(np.arange(3), [int((~on_tape).sum()) + len(p_from), len(ctrl_src), len(a_from)])
    return _Network(g_src[on_tape], g_dst[on_tape], link_from, link_to, relation, n_parents)


def _guarantor_ids(net: _Network, asset_key: np.ndarray, ids: np.ndarray, n_slots: int) -> np.ndarray:
    """';'-joined guarantor ids per asset from the borrower's on-tape guarantees (all its loans carry them)."""
    order = np.argsort(net.tape_to, kind="stable")
    src = net.tape_from[order]
    count = np.bincount(net.tape_to, minlength=n_slots)
    start = np.cumsum(count) - count
    out = np.full(len(asset_key), "", dtype=object)
    k = count[asset_key]
    first = start[asset_key]
    for r in range(_MAX_TAPE_GUARANTORS):
        has = np.flatnonzero(k > r)
        if not len(has):
            break
        g = ids[src[first[has] + r]]
        out[has] = g if r == 0 else out[has] + ";" + g
    return out


def _names(rng: np.random.Generator, slots: _Slots) -> np.ndarray:
    """Synthetic borrower names: 浙江鑫达建设工程有限公司 for companies, masked 张*明 for people."""
    n = len(slots.seg)
    words, owner = [], []
    for letter, text in _INDUSTRY_WORDS.items():
        for w in text.split():
            words.append(w)
            owner.append(_IND[letter])
    words_arr, owner_arr = np.array(words, dtype=object), np.array(owner)
    order = np.argsort(owner_arr, kind="stable")
    words_arr, owner_arr = words_arr[order], owner_arr[order]
    lo = np.searchsorted(owner_arr, np.arange(len(_INDUSTRIES)), "left")
    hi = np.searchsorted(owner_arr, np.arange(len(_INDUSTRIES)), "right")
    ind = slots.ind
    word = words_arr[lo[ind] + np.floor(rng.random(n) * (hi[ind] - lo[ind])).astype(np.int64)]
    short = vocab.PROVINCES["short_zh"].to_numpy(dtype=object)[slots.prov]
    trade = (
        _TRADE_CHARS[rng.integers(0, len(_TRADE_CHARS), n)]
        + _TRADE_CHARS[rng.integers(0, len(_TRADE_CHARS), n)]
    )
    company = short + trade + word + "有限公司"
    person = _SURNAMES[rng.integers(0, len(_SURNAMES), n)] + "*" + _GIVEN[rng.integers(0, len(_GIVEN), n)]
    return np.where(slots.seg < 2, company, person)


def _obligor_ids(rng: np.random.Generator, slots: _Slots, n_parents: int) -> tuple[np.ndarray, np.ndarray]:
    """Obligor ids per slot key (``C…`` companies, ``R…`` people) and parent ids (``P…``), numbered at random."""
    n = len(slots.seg)
    company = slots.seg < 2
    ids = np.empty(n, dtype=object)
    ids[company] = _ids("C", rng.permutation(int(company.sum())) + 1, 7)
    ids[~company] = _ids("R", rng.permutation(int((~company).sum())) + 1, 8)
    return ids, _ids("P", rng.permutation(n_parents) + 1, 6)


# ------------------------------------------------------------------------------------------------- public API


def synth_tapes(
    n_assets: int, amcs: list[AMCSpec], *, as_of: dt.date, seed: int = 0
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Draw one canonical loan tape per AMC and the consortium's links.

    Parameters
    ----------
    n_assets : int
        Total number of assets over all AMCs, split by ``AMCSpec.weight`` (largest remainder).
    amcs : list of AMCSpec
        The consortium.
    as_of : datetime.date
        Cut-off date; default dates fall 0.3–9 years before it.
    seed : int
        Seed of the single random generator; the same seed gives identical frames.

    Returns
    -------
    tapes : dict of str to DataFrame
        Per AMC id, the tape in canonical columns and values (DESIGN §3.1): English enum codes, ISO province
        codes, ``default_date`` as datetime64, amounts in CNY yuan, nullable ``lien_rank`` (empty when unsecured),
        ``guarantor_ids`` ('' when none); ``expected_recovery``/``expected_months`` only when ``tape_values``.
    links : DataFrame
        ``from_obligor, to_obligor, relation`` — guarantees not listed on the tapes, control and affiliate
        relations. Guarantees point guarantor → borrower; some endpoints (``P…``) borrow nothing.

    Examples
    --------
    >>> tapes, links = synth_tapes(500, demo_amcs(), as_of=dt.date(2026, 6, 30), seed=1)
    >>> sorted(tapes), sum(len(t) for t in tapes.values())
    (['GD', 'NAT', 'SC', 'ZJ'], 500)
    """
    _check_specs(amcs)
    if n_assets < 0:
        raise ValueError(f"n_assets must be non-negative, got {n_assets}")
    rng = np.random.default_rng(seed)
    counts = _split(n_assets, np.array([a.weight for a in amcs]))
    slots = _draw_slots(rng, amcs, counts)
    _share_borrowers(rng, slots)
    assets = _draw_assets(rng, amcs, slots, as_of)
    net = _draw_network(rng, slots)
    ids, parent_ids = _obligor_ids(rng, slots, net.n_parents)
    names = _names(rng, slots)
    n_slots = len(slots.seg)
    all_ids = np.concatenate([ids, parent_ids])
    guarantors = _guarantor_ids(net, assets.key, all_ids, n_slots)

    tapes: dict[str, pd.DataFrame] = {}
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for a, spec in enumerate(amcs):
        sl = slice(int(bounds[a]), int(bounds[a + 1]))
        key = assets.key[sl]
        secured = assets.collateral[sl] < _N_SECURED
        cols: dict[str, object] = {
            "asset_id": _ids(f"{spec.id}-", np.arange(1, sl.stop - sl.start + 1), 7),
            "obligor_id": ids[key],
            "obligor_name": names[key],
            "gbv": assets.gbv[sl],
            "principal": assets.principal[sl],
            "asset_type": _ASSET_TYPES[assets.asset_type[sl]],
            "collateral_type": _COLLATERAL[assets.collateral[sl]],
            "province": _PROV_CODES[assets.prov[sl]],
            "industry": _INDUSTRIES[assets.ind[sl]],
            "default_date": assets.default_date[sl],
            "legal_status": _LEGAL[assets.legal[sl]],
            "collateral_value": assets.collateral_value[sl],
            "lien_rank": pd.arrays.IntegerArray(assets.lien_rank[sl].astype(np.int64), ~secured),
            "book_value": assets.book_value[sl],
            "expected_recovery": assets.expected_recovery[sl],
            "expected_months": assets.expected_months[sl],
            "guarantor_ids": guarantors[sl],
            "source_loan_id": assets.source_loan_id[sl],
        }
        if not spec.tape_values:
            del cols["expected_recovery"], cols["expected_months"]
        frame = pd.DataFrame(cols)
        for c in ("asset_id", "obligor_id", "obligor_name", "asset_type", "collateral_type", "province",
                  "industry", "legal_status", "guarantor_ids", "source_loan_id"):  # fmt: skip
            frame[c] = frame[c].astype("str")
        tapes[spec.id] = frame
    links = pd.DataFrame(
        {
            "from_obligor": all_ids[net.link_from],
            "to_obligor": all_ids[net.link_to],
            "relation": np.array(vocab.LINK_RELATIONS, dtype=object)[net.link_relation],
        }
    ).astype("str")
    return tapes, links


# ----------------------------------------------------------------------------------------------------- writing


def _chinese(frame: pd.DataFrame) -> pd.DataFrame:
    """The tape as a Chinese-language AMC would send it: Chinese labels, then Chinese headers."""
    out = frame.copy()
    for column, labels in _ZH_LABELS.items():
        out[column] = out[column].map(labels).astype("str")
    return out.rename(columns=first_chinese_header())


def _write_tape(frame: pd.DataFrame, spec: AMCSpec, path: Path) -> None:
    """Write one tape in the AMC's format (Chinese headers where the AMC uses them)."""
    write_file(_chinese(frame) if spec.chinese else frame, spec, path, sheet="资产清单", title="不良资产清单")


def write_file(out: pd.DataFrame, spec: AMCSpec, path: Path, *, sheet: str, title: str) -> None:
    """Write one AMC file in its format: dates ISO in CSV (UTF-8 or GBK), real dates in Excel under a title row
    ``"<AMC name> <title>"`` on sheet ``sheet``, typed columns in Parquet. Byte-identical from run to run."""
    if spec.fmt in ("csv", "csv-gbk"):
        out.to_csv(
            path, index=False, encoding="gbk" if spec.fmt == "csv-gbk" else "utf-8", date_format="%Y-%m-%d",
            lineterminator="\n",
        )  # fmt: skip
    elif spec.fmt == "parquet":
        out.to_parquet(path, index=False, engine="pyarrow")
    else:
        if len(out) > _EXCEL_MAX_ROWS:
            raise ValueError(
                f"AMC {spec.id}: {len(out)} rows do not fit in one Excel sheet; use csv or parquet"
            )
        with pd.ExcelWriter(
            path, engine="xlsxwriter", date_format="yyyy-mm-dd", datetime_format="yyyy-mm-dd"
        ) as xw:
            # A fixed creation time keeps the workbook byte-identical from run to run.
            xw.book.set_properties({"created": dt.datetime(2000, 1, 1)})
            out.to_excel(xw, sheet_name=sheet, index=False, startrow=1)
            ws = xw.sheets[sheet]
            ws.write(0, 0, f"{spec.name} {title}", xw.book.add_format({"bold": True, "font_size": 14}))
            ws.freeze_panes(2, 0)


def _floor(x: float, step: float) -> float:
    return float(np.floor(x / step) * step)


def _scenario(
    name: str, as_of: dt.date, amcs: list[AMCSpec], tapes: dict[str, pd.DataFrame]
) -> dict[str, object]:
    """The scenario document for the written consortium (DESIGN §3.2), with limits scaled to be feasible.

    Size bounds are 40–60% of the consortium's gbv; nationals may hold at most 60% of the pool; each local must
    hold at least 5% (less when half its gbv is under 5% of the smallest pool).
    """
    gbv = {a.id: float(tapes[a.id]["gbv"].sum()) for a in amcs}
    total = sum(gbv.values())
    step = 1e6 if total >= 1e8 else 1.0
    size_min, size_max = _floor(0.4 * total, step), _floor(0.6 * total, step)
    entries: list[dict[str, object]] = []
    for a in amcs:
        entry: dict[str, object] = {"id": a.id, "name": a.name, "kind": a.kind}
        if a.home_province is not None:
            entry["home_province"] = a.home_province
        entry["tape"] = f"data/{a.file_name}"
        if a.kind == "national" and len(amcs) > 1:
            entry["max_share"] = 0.6
        elif a.kind == "local":
            share = min(0.05, _floor(0.5 * gbv[a.id] / size_min, 0.01)) if size_min > 0 else 0.0
            if share > 0:
                entry["min_share"] = share
        entries.append(entry)
    return {
        "name": name,
        "as_of": as_of,
        "amcs": entries,
        "links": "data/links.csv",
        "valuation": {"discount_rate": 0.06},
        "pool": {
            "objective": "npv",
            "whole_groups": False,
            "size": {"min": size_min, "max": size_max},
            "limits": {
                "max_obligor_group_share": 0.03,
                "max_top10_group_share": 0.20,
                "max_province_share": 0.25,
                "max_industry_share": 0.30,
                "max_collateral_share": 0.40,
                "min_secured_share": 0.50,
                "min_wa_recovery_rate": 0.15,
                "max_wa_months_to_recovery": 48,
                "max_hhi": {"province": 0.15},
            },
        },
        "structure": {"convention": "china", "payment_frequency": "semiannual", "legal_maturity_years": 5,
                      "senior_coupon": 0.025},
        "consortium": {"allocation_rules": ["gbv", "npv", "shapley"], "size_rule": "proportional"},
        "solver": {"backend": "highs", "mip_rel_gap": 1.0e-4, "time_limit_s": 600},
    }  # fmt: skip


def write_consortium(
    out_dir: Path,
    n_assets: int = 20_000,
    amcs: list[AMCSpec] | None = None,
    *,
    seed: int = 0,
    as_of: dt.date = dt.date(2026, 6, 30),
    name: str = "demo-consortium",
) -> Path:
    """Write a synthetic consortium: one tape per AMC, a links file and a scenario file.

    Parameters
    ----------
    out_dir : Path
        Folder to write into (created if missing): ``data/<amc id>.<ext>``, ``data/links.csv``, ``scenario.yaml``.
    n_assets : int
        Total number of assets over all AMCs.
    amcs : list of AMCSpec, optional
        The consortium; :func:`demo_amcs` when omitted.
    seed : int
        Random seed; the same seed writes byte-identical files.
    as_of : datetime.date
        The scenario's cut-off date.
    name : str
        The scenario's name.

    Returns
    -------
    Path
        The scenario file, loadable with :func:`pooling.scenario.load_scenario`.
    """
    amcs = demo_amcs() if amcs is None else amcs
    tapes, links = synth_tapes(n_assets, amcs, as_of=as_of, seed=seed)
    out_dir = Path(out_dir)
    data = out_dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    for spec in amcs:
        _write_tape(tapes[spec.id], spec, data / spec.file_name)
    links.to_csv(data / "links.csv", index=False, encoding="utf-8", lineterminator="\n")
    doc = _scenario(name, as_of, amcs, tapes)
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)
    header = (
        f"# Synthetic consortium written by pooling.tapes.synth (seed {seed}, {n_assets} assets); not real data.\n"
    )
    path = out_dir / "scenario.yaml"
    path.write_text(header + text, encoding="utf-8")
    return path
