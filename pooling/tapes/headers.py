"""Built-in header aliases: the common Chinese (and English) column headers of AMC and bank tapes.

A tape's headers are matched to canonical column names (DESIGN §3.1) through this table plus the scenario's own
``columns`` map, which wins on conflict. Matching ignores case, spaces, underscores, full-width brackets and a unit
suffix such as ``(元)`` / ``（万元）`` is *not* stripped: amounts must be in CNY yuan, and a header that says 万元 is
reported rather than silently mis-scaled.
"""

from __future__ import annotations

#: Chinese header → canonical column.  The first alias of each column is the one ``pooling synth`` writes.
CHINESE_HEADERS: dict[str, str] = {
    "资产编号": "asset_id",
    "资产编码": "asset_id",
    "债权编号": "asset_id",
    "借据号": "asset_id",
    "借款人编号": "obligor_id",
    "债务人编号": "obligor_id",
    "客户编号": "obligor_id",
    "借款人名称": "obligor_name",
    "债务人名称": "obligor_name",
    "客户名称": "obligor_name",
    "本息费余额": "gbv",
    "债权总额": "gbv",
    "本息余额": "gbv",
    "未偿本息费": "gbv",
    "本金余额": "principal",
    "未偿本金": "principal",
    "剩余本金": "principal",
    "资产类型": "asset_type",
    "资产类别": "asset_type",
    "贷款类型": "asset_type",
    "担保方式": "collateral_type",
    "抵押物类型": "collateral_type",
    "押品类型": "collateral_type",
    "省份": "province",
    "所在省份": "province",
    "地区": "province",
    "行业": "industry",
    "所属行业": "industry",
    "行业门类": "industry",
    "违约日期": "default_date",
    "逾期日期": "default_date",
    "不良认定日期": "default_date",
    "诉讼状态": "legal_status",
    "法律状态": "legal_status",
    "司法状态": "legal_status",
    "抵押物评估价值": "collateral_value",
    "押品评估值": "collateral_value",
    "评估价值": "collateral_value",
    "抵押顺位": "lien_rank",
    "抵押顺序": "lien_rank",
    "账面价值": "book_value",
    "预计回收金额": "expected_recovery",
    "预期回收金额": "expected_recovery",
    "预计回收月数": "expected_months",
    "预期回收期限(月)": "expected_months",
    "保证人编号": "guarantor_ids",
    "担保人编号": "guarantor_ids",
    "原始合同编号": "source_loan_id",
    "原贷款合同号": "source_loan_id",
    "原借款合同编号": "source_loan_id",
    "资产包": "package",
    "资产包名称": "package",
    "资产包编号": "package",
    "所属资产包": "package",
}

#: English spellings seen in tapes, beyond the canonical names themselves.
ENGLISH_HEADERS: dict[str, str] = {
    "loan_id": "asset_id",
    "borrower_id": "obligor_id",
    "debtor_id": "obligor_id",
    "borrower_name": "obligor_name",
    "gross_book_value": "gbv",
    "outstanding_balance": "gbv",
    "principal_balance": "principal",
    "outstanding_principal": "principal",
    "region": "province",
    "sector": "industry",
    "security_type": "collateral_type",
    "default_dt": "default_date",
    "npl_date": "default_date",
    "litigation_status": "legal_status",
    "appraised_value": "collateral_value",
    "collateral_appraisal": "collateral_value",
    "lien": "lien_rank",
    "carrying_value": "book_value",
    "guarantors": "guarantor_ids",
    "original_loan_id": "source_loan_id",
    "package_id": "package",
    "package_name": "package",
    "portfolio": "package",
}


def header_key(text: object) -> str:
    """Loose header key: case-folded, without spaces, underscores, dashes; full-width brackets made ASCII."""
    s = str(text).strip().casefold().replace("（", "(").replace("）", ")")
    return "".join(ch for ch in s if ch not in " \u3000_-\ufeff")


def alias_table(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Header key → canonical name: canonical names, built-in aliases, then the scenario's map (wins)."""
    from pooling.scenario import TAPE_COLUMNS

    table = {header_key(c): c for c in TAPE_COLUMNS}
    for source in (ENGLISH_HEADERS, CHINESE_HEADERS, extra or {}):
        table.update({header_key(k): v for k, v in source.items()})
    return table


def first_chinese_header() -> dict[str, str]:
    """Canonical name → the Chinese header ``pooling synth`` writes (first alias listed)."""
    out: dict[str, str] = {}
    for zh, canon in CHINESE_HEADERS.items():
        out.setdefault(canon, zh)
    return out


# ------------------------------------------------------------------------------------------- history tapes (§4)
#: Canonical columns a history tape adds to the loan-tape columns (DESIGN §4).
HISTORY_COLUMNS: tuple[str, ...] = (
    "amc_id", "valued_on", "recovered", "resolved_on", "costs", "resolution", "predicted_recovery",
    "predicted_months",
)  # fmt: skip

#: Chinese history headers → canonical column. The first alias of each column is the one ``pooling synth`` writes.
HISTORY_CHINESE_HEADERS: dict[str, str] = {
    "估值日": "valued_on",
    "估值基准日": "valued_on",
    "估值日期": "valued_on",
    "收购日": "valued_on",
    "收购日期": "valued_on",
    "已回收金额": "recovered",
    "累计回收金额": "recovered",
    "回收金额": "recovered",
    "累计回收": "recovered",
    "结清日": "resolved_on",
    "处置完成日": "resolved_on",
    "结清日期": "resolved_on",
    "处置完成日期": "resolved_on",
    "处置方式": "resolution",
    "处置结果": "resolution",
    "处置费用": "costs",
    "处置成本": "costs",
    "预测回收金额": "predicted_recovery",
    "预测回收月数": "predicted_months",
    "资产管理公司": "amc_id",
    "资产管理公司编号": "amc_id",
}

#: English history headers beyond the canonical names.
HISTORY_ENGLISH_HEADERS: dict[str, str] = {
    "amc": "amc_id",
    "valuation_date": "valued_on",
    "valued_at": "valued_on",
    "acquisition_date": "valued_on",
    "acquired_on": "valued_on",
    "collections": "recovered",
    "recovered_amount": "recovered",
    "cumulative_recovery": "recovered",
    "resolution_date": "resolved_on",
    "resolved_date": "resolved_on",
    "closed_on": "resolved_on",
    "disposal_costs": "costs",
    "costs_incurred": "costs",
    "resolution_type": "resolution",
    "disposal_method": "resolution",
    "predicted_recovery_amount": "predicted_recovery",
}


def history_alias_table(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Header key → canonical name for history tapes: the loan-tape table plus the history aliases, then ``extra``.

    In a history tape the AMC's own valuation at ``valued_on`` *is* its prediction, so the loan-tape aliases of
    ``expected_recovery`` / ``expected_months`` (预计回收金额, 预计回收月数, ...) name ``predicted_recovery`` /
    ``predicted_months`` here.
    """
    renamed = {"expected_recovery": "predicted_recovery", "expected_months": "predicted_months"}
    table = {k: renamed.get(v, v) for k, v in alias_table().items()}
    table.update({header_key(c): c for c in HISTORY_COLUMNS})
    for source in (HISTORY_ENGLISH_HEADERS, HISTORY_CHINESE_HEADERS, extra or {}):
        table.update({header_key(k): v for k, v in source.items()})
    return table


def first_history_chinese_header() -> dict[str, str]:
    """Canonical name → the Chinese header ``pooling synth --history`` writes (loan-tape and history columns)."""
    out = first_chinese_header()
    for zh, canon in HISTORY_CHINESE_HEADERS.items():
        out.setdefault(canon, zh)
    return out
