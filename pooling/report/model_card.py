"""The model card of a calibrated recovery model: one offline HTML page (``model_card.html``).

A model card is data plus plots: the training window and counts, the model id, the features, the rate and timing
models' parameters (court speed by province), the calibration table (predicted against realised by segment) and
two charts — predicted against realised recovery rate by segment, and Kaplan–Meier against the model's survival by
legal status. Rendered from ``templates/model_card.html.j2`` with autoescape on; plotly.js embedded (no CDN).
"""

from __future__ import annotations

import math
from pathlib import Path

import markupsafe
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from pooling import vocab
from pooling.report.columns import Col
from pooling.report.page import Card, environment, figure, table, write_page
from pooling.valuation.fitted import CalibratedModel

__all__ = ["write_model_card"]

_DIMENSION_ZH = {"all": ("全部", "All"), "asset_type": ("资产类型", "Asset type"),
                 "collateral_type": ("抵押物类型", "Collateral type"), "legal_status": ("法律状态", "Legal status"),
                 "province": ("省份", "Province")}
_CALIBRATION_COLS = [
    Col("dimension_label", "维度", "Dimension", "text"),
    Col("segment_label", "细分", "Segment", "text"),
    Col("n", "资产数", "Assets", "int"),
    Col("n_resolved", "已结清", "Resolved", "int"),
    Col("gbv", "本息费余额(元)", "GBV (CNY)", "cny"),
    Col("realised_rate", "实际回收率", "Realised rate", "pct"),
    Col("predicted_rate", "预测回收率", "Predicted rate", "pct"),
    Col("realised_months", "实际月数(KM)", "Realised months (KM)", "months"),
    Col("predicted_months", "预测月数", "Predicted months", "months"),
]


def _label(dimension: str, code: object) -> str:
    if dimension == "all":
        return "全部 All"
    try:
        return vocab.value_label(dimension, code)
    except Exception:  # a label is cosmetic: an unknown code shows as itself
        return str(code)


def _rate_chart(calibration: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for dim, symbol in (("asset_type", "circle"), ("collateral_type", "diamond"), ("legal_status", "square"),
                        ("province", "triangle-up")):
        rows = calibration[(calibration["dimension"] == dim) & calibration["realised_rate"].notna()]
        if not len(rows):
            continue
        zh, en = _DIMENSION_ZH[dim]
        fig.add_trace(go.Scatter(
            x=rows["predicted_rate"], y=rows["realised_rate"], mode="markers", name=f"{zh} {en}",
            marker={"symbol": symbol, "size": np.clip(np.sqrt(rows["n_resolved"].to_numpy()) / 3, 6, 22)},
            text=[_label(dim, s) for s in rows["segment"]],
            hovertemplate="%{text}<br>预测 predicted %{x:.1%}<br>实际 realised %{y:.1%}<extra></extra>"))
    top = float(np.nanmax(calibration[["realised_rate", "predicted_rate"]].to_numpy())) if len(calibration) else 1
    top = min(1.0, top * 1.1) if math.isfinite(top) else 1.0
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", name="45° 线 line",
                             line={"dash": "dot", "color": "#8a96a8"}, hoverinfo="skip"))
    fig.update_layout(xaxis={"title": "预测回收率 Predicted rate", "tickformat": ".0%"},
                      yaxis={"title": "实际回收率 Realised rate (resolved, gbv-weighted)", "tickformat": ".0%"})
    return fig


def _survival_chart(survival: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    palette = ["#2c5d9e", "#e67e22", "#1e7b45", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#d4a017"]
    for i, (seg, rows) in enumerate(survival.groupby("segment", sort=True)):
        colour = palette[i % len(palette)]
        name = _label("legal_status", seg)
        fig.add_trace(go.Scatter(x=rows["month"], y=rows["km"], mode="lines", name=f"{name} KM",
                                 line={"color": colour, "shape": "hv"}, legendgroup=str(seg)))
        fig.add_trace(go.Scatter(x=rows["month"], y=rows["model"], mode="lines", name=f"{name} 模型 model",
                                 line={"color": colour, "dash": "dash"}, legendgroup=str(seg), showlegend=False))
    fig.update_layout(xaxis={"title": "估值后月数 Months since valuation"},
                      yaxis={"title": "未结清比例 Share unresolved", "tickformat": ".0%", "range": [0, 1.02]})
    return fig


def _province_speed(model: CalibratedModel) -> tuple[pd.DataFrame, go.Figure]:
    effects = model.payload["timing"]["effects"]["province"]
    frame = pd.DataFrame({"province": list(effects), "alpha": list(effects.values())})
    frame["speed"] = np.exp(-frame["alpha"])  # λ ∝ e^α: speed relative to the average court
    frame = frame.sort_values("speed", ascending=False, kind="stable")
    frame["label"] = [_label("province", p) for p in frame["province"]]
    fig = go.Figure(go.Bar(x=frame["label"], y=frame["speed"], marker_color="#2c5d9e",
                           hovertemplate="%{x}<br>%{y:.2f}×<extra></extra>"))
    fig.add_hline(y=1.0, line_dash="dot", line_color="#8a96a8")
    fig.update_layout(yaxis={"title": "相对法院速度 Court speed (× average)"}, showlegend=False)
    return frame, fig


def _effects_table(block: dict[str, float], dimension: str | None) -> pd.DataFrame:
    return pd.DataFrame({"level": [_label(dimension, k) if dimension else k for k in block],
                         "coefficient": list(block.values())})


def write_model_card(model: CalibratedModel, calibration: pd.DataFrame, path: Path, *,
                     survival: pd.DataFrame | None = None) -> Path:
    """Write ``model_card.html`` for ``model``.

    Parameters
    ----------
    model
        The calibrated model.
    calibration
        :func:`pooling.valuation.calibrate.calibration_table` of the model on its history.
    path
        Output file (written atomically).
    survival
        Optional :func:`pooling.valuation.calibrate.survival_curves` (Kaplan–Meier against the model by legal
        status); without it the timing chart compares the restricted means of the calibration table.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    p = model.payload
    tr = model.training
    cal = calibration.copy()
    cal["dimension_label"] = [" ".join(_DIMENSION_ZH.get(d, (d, d))) for d in cal["dimension"]]
    cal["segment_label"] = [_label(d, s) for d, s in zip(cal["dimension"], cal["segment"], strict=True)]
    n_open = tr["n_assets"] - tr["n_resolved"]
    cards = [
        Card("模型编号", "Model id", model.label, "model.json 内容哈希 content hash", "accent"),
        Card("训练窗口", "Training window", f"{tr['from']} – {tr['to']}", f"数据截止 cut-off {tr['cutoff']}"),
        Card("资产数", "Assets", f"{tr['n_assets']:,}", f"已结清 resolved {tr['n_resolved']:,} · 未结 open {n_open:,}"),
        Card("删失处理", "Censoring", {"ipcw": "IPCW + Weibull AFT"}.get(tr["censoring"], tr["censoring"]),
             "未结资产为右删失 open assets are right-censored", "good" if tr["censoring"] == "ipcw" else "warn"),
    ]
    if tr.get("holdout_from"):
        cards.append(Card("留出起始", "Holdout from", tr["holdout_from"], "此后估值的资产不参与训练 not trained on"))
    if len(model.backtests):
        last = model.backtests.iloc[-1]
        if "deviation_rate" in last:
            cards.append(Card("最近回测偏差率", "Last backtest deviation", f"{float(last['deviation_rate']):+.1%}",
                              f"第 {last.get('round', '?')} 轮 round"))

    features = [
        ("资产类型", "asset_type", "类别 categorical"), ("抵押物类型", "collateral_type", "类别 categorical"),
        ("抵押覆盖率", "coverage = collateral_value / gbv",
         f"铰链 hinges at {p['features']['coverage_knots']}, 上限 cap {p['features']['coverage_cap']}; "
         "缺评估值: 该类中位数 + 缺失效应 missing appraisal: type median + missing effect"),
        ("抵押顺位", "lien_rank", "1 / 2 / 3+ / 缺失 missing"),
        ("违约年限", "age since default (years, to valued_on)", f"铰链 hinges at {p['features']['age_knots']}"),
        ("法律状态", "legal_status", "类别 categorical"), ("省份", "province", "类别; 新省份取基准 unseen → base"),
        ("行业", "industry", "类别; 新行业取基准 unseen → base"),
    ]
    feature_table = table(pd.DataFrame(features, columns=["zh", "en", "how"]),
                          [Col("zh", "特征", "Feature", "text"), Col("en", "", "Column", "text"),
                           Col("how", "处理", "Encoding", "text")])
    rate = p["rate"]
    effect_tables = []
    for block, dim in (("asset_type", "asset_type"), ("collateral_type", "collateral_type"),
                       ("legal_status", "legal_status")):
        effect_tables.append((_DIMENSION_ZH[block], table(_effects_table(rate["effects"][block], dim), [
            Col("level", "水平", "Level", "text"), Col("coefficient", "系数(logit)", "Coefficient (logit)", "f2")])))
    timing = p["timing"]
    shape_rows = pd.DataFrame({"level": [_label("legal_status", k) for k in timing["shape_effects"]],
                               "shape": [timing["shape"] * math.exp(v) for v in timing["shape_effects"].values()],
                               "scale": [math.exp(timing["intercept"] + timing["effects"]["legal_status"].get(k, 0.0))
                                         for k in timing["shape_effects"]]})
    shape_table = table(shape_rows, [Col("level", "法律状态", "Legal status", "text"),
                                     Col("shape", "形状 ρ", "Shape ρ", "f2"),
                                     Col("scale", "尺度 λ(月, 基准)", "Scale λ (months, base cell)", "months")])
    speed, speed_fig = _province_speed(model)
    speed_table = table(speed, [Col("label", "省份", "Province", "text"),
                                Col("speed", "相对法院速度", "Court speed (× average)", "f2")])
    interval = p["interval"]
    interval_rows = pd.DataFrame({"level": [_label("asset_type", a) for a in interval["low"]],
                                  "low": list(interval["low"].values()), "high": list(interval["high"].values())})
    interval_table = table(interval_rows, [Col("level", "资产类型", "Asset type", "text"),
                                           Col("low", "下限倍数", "Low × predicted", "f2"),
                                           Col("high", "上限倍数", "High × predicted", "f2")])
    if survival is not None and len(survival):
        timing_fig = figure(_survival_chart(survival), "survival", 460)
    else:
        legal = cal[cal["dimension"] == "legal_status"]
        fig = go.Figure([go.Bar(x=legal["segment_label"], y=legal["realised_months"], name="KM 实际 realised"),
                         go.Bar(x=legal["segment_label"], y=legal["predicted_months"], name="模型 model")])
        fig.update_layout(yaxis={"title": "受限平均月数 Restricted mean months"})
        timing_fig = figure(fig, "survival", 420)

    env = environment().overlay(autoescape=True)  # the .j2 suffix is not in the shared select_autoescape list
    text = env.get_template("model_card.html.j2").render(
        plotly_js=markupsafe.Markup(plotly.offline.get_plotlyjs()),
        title=f"模型卡 Model card · {model.label}",
        heading_zh="回收模型卡", heading_en="Recovery model card",
        nav=[("training", "训练 Training"), ("features", "特征 Features"), ("rate", "回收率 Rate"),
             ("timing", "回收时间 Timing"), ("calibration", "校准 Calibration")],
        model=model, training=tr, cards=cards, feature_table=feature_table, rate=rate,
        effect_tables=effect_tables, shape_table=shape_table, speed_table=speed_table,
        speed_chart=figure(speed_fig, "speed", 380), rate_chart=figure(_rate_chart(cal), "rate-chart", 460),
        timing_chart=timing_fig, interval=interval, interval_table=interval_table,
        calibration=table(cal, _CALIBRATION_COLS),
    )
    return write_page(Path(path), text)


