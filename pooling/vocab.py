"""Controlled vocabularies of the tape contract and their normalisation.

Every enum column of a tape (asset_type, collateral_type, legal_status, industry, province) is mapped to one
canonical value here. Tapes arrive with English codes, Chinese labels or ISO codes; all of them map to the same
canonical value, and anything that does not map is a validation problem (see :mod:`pooling.tapes.load`).

Normalisation is vectorised: the distinct values of a column are mapped once through a dictionary and the result
is broadcast back with :func:`pandas.factorize`, so a 1M-row tape costs one pass over its distinct values.

This module is also the one home of the *labels* of that vocabulary and of the output files: the stratification
dimensions and the asset column each reads (:data:`DIMENSIONS`), their bilingual titles
(:data:`DIMENSION_LABELS`), the Chinese names of the canonical values (:data:`VALUE_ZH`, :data:`INDUSTRY_LABELS`,
:data:`PROVINCES`) with :func:`value_label`, and the bilingual header and unit of every column the reports show
(:data:`COLUMN_LABELS`, :func:`column_label`). Labels are Chinese first, then English.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ASSET_TYPES: tuple[str, ...] = (
    "corporate",
    "sme",
    "retail_mortgage",
    "retail_consumer",
    "credit_card",
    "distressed_bond",
    "repossessed",
)
COLLATERAL_TYPES: tuple[str, ...] = (
    "residential",
    "commercial",
    "industrial",
    "land",
    "equipment",
    "receivables",
    "equity_pledge",
    "guarantee_only",
    "unsecured",
)
#: Collateral types that do not count as secured for ``min_secured_share``.
UNSECURED_COLLATERAL: frozenset[str] = frozenset({"guarantee_only", "unsecured"})
LEGAL_STATUSES: tuple[str, ...] = (
    "pre_litigation",
    "litigation",
    "judgment",
    "enforcement",
    "enforcement_terminated",
    "bankruptcy",
    "settled",
)
LINK_RELATIONS: tuple[str, ...] = ("guarantee", "control", "affiliate")

# Chinese labels commonly found in AMC and bank tapes.
_ASSET_TYPE_ZH = {
    "对公": "corporate",
    "公司": "corporate",
    "企业": "corporate",
    "公司类": "corporate",
    "对公贷款": "corporate",
    "小微": "sme",
    "小微企业": "sme",
    "中小企业": "sme",
    "个人住房": "retail_mortgage",
    "住房按揭": "retail_mortgage",
    "个人住房贷款": "retail_mortgage",
    "按揭": "retail_mortgage",
    "个人消费": "retail_consumer",
    "消费贷": "retail_consumer",
    "个人消费贷款": "retail_consumer",
    "信用卡": "credit_card",
    "不良债券": "distressed_bond",
    "违约债券": "distressed_bond",
    "抵债资产": "repossessed",
}
_COLLATERAL_ZH = {
    "住宅": "residential",
    "住宅抵押": "residential",
    "商业": "commercial",
    "商业地产": "commercial",
    "商铺": "commercial",
    "工业": "industrial",
    "工业厂房": "industrial",
    "厂房": "industrial",
    "土地": "land",
    "土地使用权": "land",
    "设备": "equipment",
    "机器设备": "equipment",
    "应收账款": "receivables",
    "股权质押": "equity_pledge",
    "股权": "equity_pledge",
    "保证": "guarantee_only",
    "保证担保": "guarantee_only",
    "信用": "unsecured",
    "无担保": "unsecured",
}
_LEGAL_ZH = {
    "未诉": "pre_litigation",
    "诉前": "pre_litigation",
    "未起诉": "pre_litigation",
    "诉讼": "litigation",
    "诉讼中": "litigation",
    "已起诉": "litigation",
    "判决": "judgment",
    "已判决": "judgment",
    "执行": "enforcement",
    "执行中": "enforcement",
    "终本": "enforcement_terminated",
    "终结本次执行": "enforcement_terminated",
    "破产": "bankruptcy",
    "破产重整": "bankruptcy",
    "破产清算": "bankruptcy",
    "和解": "settled",
    "已和解": "settled",
}

#: GB/T 4754-2017 (国民经济行业分类) sections 门类 A–T as the standard names them: letter → (Chinese, English).
#: The English names follow the National Bureau of Statistics' translation.
INDUSTRY_SECTIONS: dict[str, tuple[str, str]] = {
    "A": ("农、林、牧、渔业", "Agriculture, forestry, animal husbandry and fishery"),
    "B": ("采矿业", "Mining"),
    "C": ("制造业", "Manufacturing"),
    "D": ("电力、热力、燃气及水生产和供应业", "Electricity, heat, gas and water production and supply"),
    "E": ("建筑业", "Construction"),
    "F": ("批发和零售业", "Wholesale and retail trades"),
    "G": ("交通运输、仓储和邮政业", "Transport, storage and post"),
    "H": ("住宿和餐饮业", "Accommodation and catering"),
    "I": ("信息传输、软件和信息技术服务业", "Information transmission, software and IT services"),
    "J": ("金融业", "Finance"),
    "K": ("房地产业", "Real estate"),
    "L": ("租赁和商务服务业", "Leasing and business services"),
    "M": ("科学研究和技术服务业", "Scientific research and technical services"),
    "N": ("水利、环境和公共设施管理业", "Water conservancy, environment and public facilities management"),
    "O": ("居民服务、修理和其他服务业", "Resident, repair and other services"),
    "P": ("教育", "Education"),
    "Q": ("卫生和社会工作", "Health and social work"),
    "R": ("文化、体育和娱乐业", "Culture, sports and entertainment"),
    "S": ("公共管理、社会保障和社会组织", "Public management, social security and social organisations"),
    "T": ("国际组织", "International organisations"),
}

#: What the reports call each industry code. The tape contract (docs/tape.md) files retail borrowers, who have
#: no industry of their own, under T; GB/T 4754-2017's T (国际组织, international organisations, division 97) has
#: no place in an NPL tape, so in this project T means households (个人/住户, as ISIC Rev.4 section T). Every
#: other letter is the standard's own name.
INDUSTRY_LABELS: dict[str, tuple[str, str]] = {**INDUSTRY_SECTIONS, "T": ("个人(住户)", "Households")}

#: Mainland provincial-level divisions: ISO 3166-2:CN code, numeric code, Chinese full name, short name, English.
PROVINCES: pd.DataFrame = pd.DataFrame(
    [
        ("CN-BJ", "11", "北京市", "北京", "Beijing"),
        ("CN-TJ", "12", "天津市", "天津", "Tianjin"),
        ("CN-HE", "13", "河北省", "河北", "Hebei"),
        ("CN-SX", "14", "山西省", "山西", "Shanxi"),
        ("CN-NM", "15", "内蒙古自治区", "内蒙古", "Inner Mongolia"),
        ("CN-LN", "21", "辽宁省", "辽宁", "Liaoning"),
        ("CN-JL", "22", "吉林省", "吉林", "Jilin"),
        ("CN-HL", "23", "黑龙江省", "黑龙江", "Heilongjiang"),
        ("CN-SH", "31", "上海市", "上海", "Shanghai"),
        ("CN-JS", "32", "江苏省", "江苏", "Jiangsu"),
        ("CN-ZJ", "33", "浙江省", "浙江", "Zhejiang"),
        ("CN-AH", "34", "安徽省", "安徽", "Anhui"),
        ("CN-FJ", "35", "福建省", "福建", "Fujian"),
        ("CN-JX", "36", "江西省", "江西", "Jiangxi"),
        ("CN-SD", "37", "山东省", "山东", "Shandong"),
        ("CN-HA", "41", "河南省", "河南", "Henan"),
        ("CN-HB", "42", "湖北省", "湖北", "Hubei"),
        ("CN-HN", "43", "湖南省", "湖南", "Hunan"),
        ("CN-GD", "44", "广东省", "广东", "Guangdong"),
        ("CN-GX", "45", "广西壮族自治区", "广西", "Guangxi"),
        ("CN-HI", "46", "海南省", "海南", "Hainan"),
        ("CN-CQ", "50", "重庆市", "重庆", "Chongqing"),
        ("CN-SC", "51", "四川省", "四川", "Sichuan"),
        ("CN-GZ", "52", "贵州省", "贵州", "Guizhou"),
        ("CN-YN", "53", "云南省", "云南", "Yunnan"),
        ("CN-XZ", "54", "西藏自治区", "西藏", "Tibet"),
        ("CN-SN", "61", "陕西省", "陕西", "Shaanxi"),
        ("CN-GS", "62", "甘肃省", "甘肃", "Gansu"),
        ("CN-QH", "63", "青海省", "青海", "Qinghai"),
        ("CN-NX", "64", "宁夏回族自治区", "宁夏", "Ningxia"),
        ("CN-XJ", "65", "新疆维吾尔自治区", "新疆", "Xinjiang"),
    ],
    columns=["code", "numeric", "name_zh", "short_zh", "name_en"],
)

_PROVINCE_EXTRA_EN = {
    "nei mongol": "CN-NM",
    "neimenggu": "CN-NM",
    "xizang": "CN-XZ",
    "guangxi zhuang autonomous region": "CN-GX",
    "ningxia hui autonomous region": "CN-NX",
    "xinjiang uygur autonomous region": "CN-XJ",
    "xinjiang uyghur autonomous region": "CN-XJ",
    "tibet autonomous region": "CN-XZ",
    "inner mongolia autonomous region": "CN-NM",
}


def _key(text: str) -> str:
    """Loose matching key: case-folded, spaces, dashes, underscores and full-width spaces removed."""
    return "".join(ch for ch in str(text).strip().casefold() if ch not in " \u3000-_")


def _build_province_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for row in PROVINCES.itertuples(index=False):
        code = row.code
        for alias in (
            code,
            code[3:],
            f"CN-{row.numeric}",
            row.numeric,
            row.name_zh,
            row.short_zh,
            row.short_zh + "省",
            row.short_zh + "市",
            row.name_en,
            row.name_en + " province",
            row.name_en + " sheng",
        ):
            lookup[_key(alias)] = code
    for alias, code in _PROVINCE_EXTRA_EN.items():
        lookup[_key(alias)] = code
    return lookup


def _build_enum_lookup(values: tuple[str, ...], zh: dict[str, str]) -> dict[str, str]:
    lookup = {_key(v): v for v in values}
    lookup.update({_key(v.replace("_", " ")): v for v in values})
    lookup.update({_key(k): v for k, v in zh.items()})
    return lookup


def _build_industry_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for letter, (zh, en) in INDUSTRY_SECTIONS.items():
        lookup[_key(letter)] = letter
        lookup[_key(zh)] = letter
        lookup[_key(en)] = letter
    # Households: retail borrowers are filed under T (see INDUSTRY_LABELS and docs/tape.md).
    lookup.update({_key(name): "T" for name in INDUSTRY_LABELS["T"]})
    lookup[_key("household")] = "T"
    lookup[_key("个人")] = "T"
    lookup[_key("居民")] = "T"
    return lookup


LOOKUPS: dict[str, dict[str, str]] = {
    "asset_type": _build_enum_lookup(ASSET_TYPES, _ASSET_TYPE_ZH),
    "collateral_type": _build_enum_lookup(COLLATERAL_TYPES, _COLLATERAL_ZH),
    "legal_status": _build_enum_lookup(LEGAL_STATUSES, _LEGAL_ZH),
    "relation": _build_enum_lookup(LINK_RELATIONS, {"担保": "guarantee", "保证": "guarantee", "控制": "control", "控股": "control", "关联": "affiliate"}),
    "industry": _build_industry_lookup(),
    "province": _build_province_lookup(),
}


def normalize(values: pd.Series, kind: str) -> pd.Series:
    """Map raw tape values to canonical values of vocabulary ``kind``; unknown or empty values become NA.

    >>> normalize(pd.Series(["浙江", "CN-ZJ", "Zhejiang Province", "浙江省", "Atlantis"]), "province").tolist()
    ['CN-ZJ', 'CN-ZJ', 'CN-ZJ', 'CN-ZJ', nan]
    """
    lookup = LOOKUPS[kind]
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([lookup.get(_key(u)) if isinstance(u, str) else None for u in uniques], dtype=object)
    out = np.full(len(values), np.nan, dtype=object)
    ok = codes >= 0
    out[ok] = mapped[codes[ok]]
    out[np.equal(out, None)] = np.nan
    return pd.Series(out, index=values.index, dtype=object)


def province_code(text: str) -> str | None:
    """Canonical ISO 3166-2:CN code of one province spelling, or None."""
    return LOOKUPS["province"].get(_key(text))


# ---------------------------------------------------------------------------------------------------------------
# labels: dimensions, values and output columns
# ---------------------------------------------------------------------------------------------------------------

#: Stratification dimensions: the name used in files, limits and on the command line → the asset column it reads.
DIMENSIONS: dict[str, str] = {
    "amc": "amc_id",
    "province": "province",
    "industry": "industry",
    "collateral_type": "collateral_type",
    "asset_type": "asset_type",
    "legal_status": "legal_status",
}
#: Concentration dimensions: the stratification dimensions and obligor groups.
CONCENTRATION_DIMENSIONS: dict[str, str] = {**DIMENSIONS, "obligor_group": "group_id"}

#: Dimension titles: dimension → (Chinese, English).
DIMENSION_LABELS: dict[str, tuple[str, str]] = {
    "amc": ("资产管理公司", "AMC"),
    "province": ("省份", "Province"),
    "industry": ("行业", "Industry"),
    "collateral_type": ("担保/抵押物类型", "Collateral type"),
    "asset_type": ("资产类型", "Asset type"),
    "legal_status": ("司法状态", "Legal status"),
    "obligor_group": ("债务人集团", "Obligor group"),
}

#: The Chinese name of each canonical enum value (the English name is the code itself). Each also normalises back
#: to its code (:data:`LOOKUPS`).
VALUE_ZH: dict[str, dict[str, str]] = {
    "collateral_type": {
        "residential": "住宅", "commercial": "商业地产", "industrial": "工业厂房", "land": "土地", "equipment": "设备",
        "receivables": "应收账款", "equity_pledge": "股权质押", "guarantee_only": "保证", "unsecured": "信用",
    },
    "asset_type": {
        "corporate": "对公", "sme": "小微企业", "retail_mortgage": "个人住房贷款", "retail_consumer": "个人消费贷款",
        "credit_card": "信用卡", "distressed_bond": "违约债券", "repossessed": "抵债资产",
    },
    "legal_status": {
        "pre_litigation": "未诉", "litigation": "诉讼中", "judgment": "已判决", "enforcement": "执行中",
        "enforcement_terminated": "终结本次执行", "bankruptcy": "破产", "settled": "和解",
    },
}

#: Tranche names (US and European conventions) → Chinese.
TRANCHE_ZH: dict[str, str] = {"senior": "优先级", "mezzanine": "夹层", "subordinated": "次级", "A": "A级", "B": "B级",
                              "J": "J级"}

#: Waterfall uses of cash, in priority of payment: item → (Chinese, English). ``cashflows.csv`` column ``pay_<item>``.
PAY_LABELS: dict[str, tuple[str, str]] = {
    "taxes": ("税费", "Taxes"),
    "expenses": ("费用", "Expenses"),
    "servicer_base_fee": ("基本服务费", "Servicer base fee"),
    "senior_interest": ("优先级利息", "Senior interest"),
    "mezz_interest": ("夹层利息", "Mezzanine interest"),
    "senior_principal": ("优先级本金", "Senior principal"),
    "mezz_principal": ("夹层本金", "Mezzanine principal"),
    "servicer_deferred_fee": ("递延服务费", "Deferred servicer fee"),
    "sub_principal": ("次级本金", "Subordinated principal"),
    "sub_fixed_return": ("次级固定收益", "Sub fixed return"),
    "servicer_incentive_fee": ("超额奖励服务费", "Servicer incentive fee"),
    "sub_residual": ("次级剩余收益", "Sub residual"),
}

#: Value kinds of output columns. The kind fixes the unit (money in CNY 元, durations in years or months) and how
#: the reports format a number; ``text``, ``date`` and ``bool`` columns hold no numbers.
KINDS: tuple[str, ...] = ("cny", "int", "pct", "pct2", "gap", "x", "months", "months0", "years", "price", "num",
                          "f6", "g", "sec", "f2", "date", "text", "bool")
#: Unit a header carries for its kind: kind → (Chinese, English). Kinds not listed carry none in the header
#: (shares and rates are formatted as percentages, multiples with ×).
UNITS: dict[str, tuple[str, str]] = {"cny": ("元", "CNY"), "years": ("年", "years"), "months": ("月", "months"),
                                     "months0": ("月", "months"), "sec": ("秒", "s")}

#: Every column the reports show: column → (Chinese, English, kind). Names carry no unit: :func:`column_label` adds
#: the kind's unit, so a header and its values cannot disagree.
COLUMN_LABELS: dict[str, tuple[str, str, str]] = {
    # tranches / retention
    "tranche": ("证券", "Tranche", "text"),
    "size": ("规模", "Size", "cny"),
    "share_of_gbv": ("占未偿本息", "Share of GBV", "pct"),
    "share_of_expected_recovery": ("占预期回收", "Share of expected recovery", "pct"),
    "coupon": ("票面利率", "Coupon", "pct2"),
    "wal_years": ("加权平均期限", "WAL", "years"),
    "expected_maturity": ("预期到期日", "Expected maturity", "date"),
    "legal_maturity": ("法定到期日", "Legal maturity", "date"),
    "coverage": ("覆盖倍数", "Coverage", "x"),
    "retained": ("自持金额", "Retained", "cny"),
    "retained_by": ("自持方", "Retained by", "text"),
    "rating": ("评级", "Rating", "text"),
    "stress_haircut": ("压力折扣", "Stress haircut", "pct"),
    "stress_delay_months": ("压力延迟", "Stress delay", "months0"),
    "issue_price": ("发行价格", "Issue price", "price"),
    "irr": ("收益率", "Yield / IRR", "pct2"),
    "amc_id": ("资产管理公司", "AMC", "text"),
    "amount": ("金额", "Amount", "cny"),
    "share_of_tranche": ("占该档比例", "Share of tranche", "pct2"),
    # cash flows
    "period": ("期数", "Period", "int"),
    "date": ("兑付日", "Payment date", "date"),
    "event": ("事件", "Event (payment, or the clean-up sale after legal maturity)", "text"),
    "collections": ("回收款", "Collections", "cny"),
    "reserve_draw": ("储备提取", "Reserve draw", "cny"),
    "reserve_deposit": ("储备补足", "Reserve deposit", "cny"),
    "reserve_balance": ("储备余额", "Reserve balance", "cny"),
    **{f"pay_{k}": (zh, en, "cny") for k, (zh, en) in PAY_LABELS.items()},
    # stresses
    "haircut": ("回收折扣", "Haircut", "pct"),
    "delay_months": ("延迟", "Delay", "months0"),
    "stressed_collections": ("压力回收款", "Stressed collections", "cny"),
    "max_senior": ("最大优先级规模", "Max senior", "cny"),
    "max_senior_share_of_er": ("最大优先级/预期回收", "Max senior / expected recovery", "pct"),
    "method": ("定档方法", "Method", "text"),
    "transfer_price": ("转让对价", "Transfer price", "cny"),
    "expected_recovery": ("预期回收", "Expected recovery", "cny"),
    "funding_cost": ("持有成本(年)", "Carrying cost (a year)", "pct"),
    "retained_notes_value": ("保留证券价值", "Retained notes value", "cny"),
    "servicing_value": ("服务费价值", "Servicing value", "cny"),
    "total_value": ("合计价值(=分配额)", "Total value (= allocation)", "cny"),
    "outside_value": ("持有价值(外部选择)", "Value if held (outside option)", "cny"),
    "block": ("所在交易", "Deal block", "text"),
    "national": ("全国性资产管理公司", "National AMC", "text"),
    "local": ("地方资产管理公司", "Local AMC", "text"),
    "mode": ("合作方式", "Mode", "text"),
    "local_outside_value": ("地方单干价值", "Local's outside value", "cny"),
    "national_value": ("全国方价值", "National's value", "cny"),
    "price_min": ("价格下限", "Price min", "cny"),
    "price_max": ("价格上限", "Price max", "cny"),
    "price_mid": ("中间价", "Mid price", "cny"),
    "fee_min": ("费率下限", "Fee min", "pct"),
    "fee_max": ("费率上限", "Fee max", "pct"),
    "fee_mid": ("中间费率", "Mid fee", "pct"),
    # packages (packages.csv)
    "package": ("资产包", "Package", "text"),
    "in_pool_share": ("入池比例", "Share in pool", "pct"),
    "whatif": ("情景(撤出/加入)", "What-if (withdraw / add)", "text"),
    "reduced_cost": ("检验数(目标函数)", "Reduced cost (objective)", "cny"),
    "dual_value": ("对偶估计价值", "Dual estimate of value", "cny"),
    "resolve_value": ("重新求解价值", "Re-solved value", "cny"),
    "resolve_status": ("重新求解状态", "Re-solve status", "text"),
    "resolve_in_pool_share": ("重新求解入池比例", "Share in pool, re-solved", "pct"),
    "local_gain_at_mid": ("地方方收益(中间价)", "Local gain at mid", "cny"),
    "national_gain_at_mid": ("全国方收益(中间价)", "National gain at mid", "cny"),
    "feasible": ("可行", "Feasible", "bool"),
    "nucleolus": ("核仁分配", "Nucleolus", "cny"),
    "least_core_min": ("最小核心下限", "Least core min", "cny"),
    "least_core_max": ("最小核心上限", "Least core max", "cny"),
    "target_share": ("目标足额偿付情景占比", "Target share of scenarios", "pct2"),
    "pass_share": ("足额偿付情景占比", "Share of scenarios repaid", "pct2"),
    "senior_loss_probability": ("优先级违约概率", "Senior loss probability", "pct2"),
    "senior_expected_loss": ("优先级预期损失", "Senior expected loss", "f6"),
    **{f"collections_p{q}": (f"回收{q}%分位数", f"Collections P{q}", "cny") for q in (1, 5, 50, 95, 99)},
    # limits (limits.csv; "name" there is the limit's description, see the report's override)
    "binding": ("是否约束", "Binding", "bool"),
    "family": ("类别", "Family", "text"),
    "key": ("对象", "Key", "text"),
    "name": ("名称", "Name", "text"),
    "limit": ("配置项", "Setting", "text"),
    "value": ("限值", "Value", "g"),
    "activity": ("活动值", "Activity", "int"),  # CNY (CNY·months for the months test): docs/formulation.md
    "slack": ("松弛", "Slack", "int"),
    "shadow_price": ("影子价格", "Shadow price", "num"),
    "npv_per_step": ("每步放松增加净现值", "NPV per step of relaxation", "cny"),
    # stratification
    "code": ("代码", "Code", "text"),
    "label": ("名称", "Name", "text"),
    "n_contributed": ("提供笔数", "Contributed assets", "int"),
    "gbv_contributed": ("提供未偿本息", "Contributed GBV", "cny"),
    "share_contributed": ("提供占比", "Share of contributed", "pct"),
    "n_selected": ("入池笔数", "Selected assets", "int"),
    "gbv_selected": ("入池未偿本息", "Selected GBV", "cny"),
    "share_selected": ("入池占比", "Share of pool", "pct"),
    "selected_ratio": ("入池率", "Selected / contributed", "pct"),
    "rr_contributed": ("回收率(提供)", "Recovery rate, contributed", "pct"),
    "rr_selected": ("回收率(入池)", "Recovery rate, selected", "pct"),
    "months_contributed": ("加权回收月数(提供)", "WA months, contributed", "months"),
    "months_selected": ("加权回收月数(入池)", "WA months, selected", "months"),
    # concentration / AMC shares
    "dimension": ("维度", "Dimension", "text"),
    "n_values": ("取值数", "Values", "int"),
    "largest": ("最大项", "Largest", "text"),
    "largest_share": ("最大项占比", "Largest share", "pct"),
    "top10_share": ("前十占比", "Top-10 share", "pct"),
    "hhi": ("赫芬达尔指数", "HHI", "num"),
    "effective_number": ("有效数量", "Effective number", "f2"),
    "amc_name": ("名称", "Name", "text"),
    "kind": ("类型", "Kind", "text"),
    "min_share": ("最低占比", "Min share", "pct"),
    "max_share": ("最高占比", "Max share", "pct"),
    # allocation (allocation.csv)
    "contributed_gbv": ("提供未偿本息", "Contributed GBV", "cny"),
    "contributed_npv": ("提供净现值", "Contributed npv", "cny"),
    "selected_gbv": ("入池未偿本息", "Selected GBV", "cny"),
    "selected_npv": ("入池净现值", "Selected npv", "cny"),
    "standalone_value": ("独立价值", "Standalone value", "cny"),
    "standalone_status": ("独立求解状态", "Standalone status", "text"),
    "alloc_gbv": ("按未偿本息分配", "Allocation by GBV", "cny"),
    "alloc_npv": ("按净现值分配", "Allocation by npv", "cny"),
    "shapley_value": ("沙普利值", "Shapley value", "cny"),
    "shapley_se": ("沙普利值标准误", "Shapley standard error", "cny"),
    "uplift_shapley": ("沙普利值相对独立价值增益", "Shapley uplift vs standalone", "cny"),
    "uplift_shapley_pct": ("沙普利值相对独立价值增益率", "Shapley uplift vs standalone, %", "pct"),
    "least_core": ("最小核心分配", "Least-core allocation", "cny"),
    # study (runs.csv, the tornado and AMC tables)
    "run_id": ("运行编号", "Run id", "text"),
    "scenario": ("情景", "Scenario", "text"),
    "status": ("状态", "Status", "text"),
    "error": ("错误", "Error", "text"),
    "detail": ("说明", "Detail", "text"),
    "objective_value": ("目标函数值", "Objective value", "cny"),
    "mip_gap": ("最优性差距", "MIP gap", "gap"),
    "pool_gbv": ("入池未偿本息", "Pool GBV", "cny"),
    "pool_npv": ("资产池净现值", "Pool npv", "cny"),
    # shelf study metrics (pooling.pipeline.run_shelf_metrics)
    "pv": ("储架现值", "Shelf PV (realised)", "cny"),
    "pv_plan": ("计划现值", "Shelf PV (plan)", "cny"),
    "cap_used": ("额度使用", "Cap used", "cny"),
    "cap_used_share": ("额度使用率", "Share of cap used", "pct"),
    "n_issues": ("发行期数", "Issues", "int"),
    "mean_issue_years": ("平均发行时点", "Mean issue time (years)", "f2"),
    "first_issue_years": ("首期发行时点", "First issue (years)", "f2"),
    "pool_expected_recovery": ("预期回收", "Expected recovery", "cny"),
    "pool_n_assets": ("入池笔数", "Assets in pool", "int"),
    "recovery_rate": ("回收率", "Recovery rate", "pct"),
    "wa_months": ("加权回收月数", "WA months to recovery", "months"),
    "senior_size": ("优先级规模", "Senior size", "cny"),
    "senior_share_of_gbv": ("优先级/未偿本息", "Senior / GBV", "pct"),
    "senior_share_of_expected_recovery": ("优先级/预期回收", "Senior / expected recovery", "pct"),
    "senior_coverage": ("优先级覆盖倍数", "Senior coverage", "x"),
    "senior_break_even_haircut": ("盈亏平衡折扣", "Break-even haircut", "pct"),
    "sub_irr": ("次级收益率", "Sub IRR", "pct"),
    "solve_seconds": ("求解时间", "Solve time", "sec"),
    "delta_pool_npv": ("净现值相对基准变动", "Δ pool npv vs base", "cny"),
    "delta_senior_size": ("优先级相对基准变动", "Δ senior size vs base", "cny"),
    "factor": ("因素", "Factor", "text"),
    "parameter": ("参数", "Parameter", "text"),
    "reference": ("参照值", "Reference value", "text"),
    "low_value": ("低端取值", "Value at low end", "text"),
    "high_value": ("高端取值", "Value at high end", "text"),
    "runs": ("运行数", "Runs", "int"),
    "metric_reference": ("参照点指标", "Metric at reference", "cny"),
    "metric_low": ("低端指标", "Metric, low end", "cny"),
    "metric_high": ("高端指标", "Metric, high end", "cny"),
    "delta_low": ("低端变动", "Change, low end", "cny"),
    "delta_high": ("高端变动", "Change, high end", "cny"),
    "swing": ("波动幅度", "Swing (high − low)", "cny"),
    "amc": ("资产管理公司", "AMC", "text"),
    "npv": ("入池净现值", "Pool npv", "cny"),
    "share": ("入池占比", "Share of pool", "pct"),
    "npv_change": ("净现值相对基准变动", "Δ npv vs base", "cny"),
    # frontier (frontier.csv)
    "point": ("序号", "Point", "int"),
    "measure": ("度量", "Measure", "text"),
    "bound_hhi": ("赫芬达尔指数上限", "HHI bound", "num"),
    "bound_effective_number": ("有效数量下限", "Effective number bound", "f2"),
    "gbv": ("未偿本息", "GBV", "cny"),
    "n_assets": ("资产笔数", "Assets", "int"),
    "npv_loss": ("净现值损失", "npv loss", "cny"),
    "npv_loss_pct": ("净现值损失率(%)", "npv loss (%)", "f2"),  # frontier.csv: percent points, not a fraction
    "unconstrained": ("无分散约束", "Unconstrained", "bool"),
    "hhi_rounds": ("切割轮数", "HHI cut rounds", "int"),
    "seconds": ("耗时", "Time", "sec"),
    "note": ("备注", "Note", "text"),
}

#: Per-AMC columns of runs.csv: prefix → (Chinese, English, kind); the AMC id follows the prefix.
PREFIXED_LABELS: dict[str, tuple[str, str, str]] = {
    "npv_": ("入池净现值", "Pool npv", "cny"),
    "share_": ("入池占比", "Share of pool", "pct"),
    "delta_": ("相对基准变动", "Δ vs base", "cny"),
}


def with_unit(zh: str, en: str, kind: str) -> tuple[str, str]:
    """A bilingual header with the kind's unit: ``("规模(元)", "Size (CNY)")`` for ``("规模", "Size", "cny")``."""
    if kind in UNITS:
        uzh, uen = UNITS[kind]
        return f"{zh}({uzh})" if zh else zh, f"{en} ({uen})"
    return zh, en


def column_label(column: str) -> tuple[str, str, str]:
    """(Chinese, English, kind) of an output column, without units; see :data:`COLUMN_LABELS`.

    Columns not in the table are recognised by their shape (``<tranche>_balance``, ``npv_<AMC>``, …); anything
    else is headed by its own name in both languages, kind ``g``.

    >>> column_label("senior_balance")
    ('优先级余额', 'Senior balance', 'cny')
    >>> column_label("share_NAT")
    ('入池占比 NAT', 'Share of pool NAT', 'pct')
    """
    if column in COLUMN_LABELS:
        return COLUMN_LABELS[column]
    if column.endswith("_balance"):
        name = column[: -len("_balance")]
        return (f"{TRANCHE_ZH.get(name, name)}余额", f"{name[:1].upper()}{name[1:]} balance", "cny")
    if column.endswith("_cash"):  # all a tranche's holders receive in the period (interest, principal, residual)
        name = column[: -len("_cash")]
        return (f"{TRANCHE_ZH.get(name, name)}所得现金", f"{name[:1].upper()}{name[1:]} cash received", "cny")
    for prefix, (zh, en, kind) in PREFIXED_LABELS.items():
        if column.startswith(prefix) and len(column) > len(prefix):
            rest = column[len(prefix):]
            return (f"{zh} {rest}", f"{en} {rest}", kind)
    return (column, column, "g")


def value_label(dimension: str, code: object, amc_names: dict[str, str] | None = None) -> str:
    """A readable bilingual label of one value of a dimension, Chinese first: ``浙江 Zhejiang``,
    ``C 制造业 Manufacturing``, ``住宅 residential``; an AMC by its name in ``amc_names`` (id → name).

    >>> value_label("industry", "T")
    'T 个人(住户) Households'
    """
    code = str(code)
    if dimension == "amc":
        return (amc_names or {}).get(code, code)
    if dimension == "province" and code in _PROVINCE_NAMES:
        zh, en = _PROVINCE_NAMES[code]
        return f"{zh} {en}"
    if dimension == "industry" and code in INDUSTRY_LABELS:
        zh, en = INDUSTRY_LABELS[code]
        return f"{code} {zh} {en}"
    if code in VALUE_ZH.get(dimension, {}):
        return f"{VALUE_ZH[dimension][code]} {code}"
    return code


def short_value_label(dimension: str, code: object) -> str:
    """A compact label for chart ticks: ``浙江 ZJ``, ``C 制造业``, ``住宅 residential``, the AMC id."""
    code = str(code)
    if dimension == "province" and code in _PROVINCE_NAMES:
        return f"{_PROVINCE_NAMES[code][0]} {code.removeprefix('CN-')}"
    if dimension == "amc":
        return code
    if dimension == "industry" and code in INDUSTRY_LABELS:
        zh = INDUSTRY_LABELS[code][0].split("、")[0].split("，")[0]
        return f"{code} {zh if len(zh) <= 6 else zh[:5] + '…'}"
    return value_label(dimension, code)


_PROVINCE_NAMES: dict[str, tuple[str, str]] = {
    r.code: (r.short_zh, r.name_en) for r in PROVINCES.itertuples(index=False)
}
