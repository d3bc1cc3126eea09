"""Controlled vocabularies of the tape contract and their normalisation.

Every enum column of a tape (asset_type, collateral_type, legal_status, industry, province) is mapped to one
canonical value here. Tapes arrive with English codes, Chinese labels or ISO codes; all of them map to the same
canonical value, and anything that does not map is a validation problem (see :mod:`pooling.tapes.load`).

Normalisation is vectorised: the distinct values of a column are mapped once through a dictionary and the result
is broadcast back with :func:`pandas.factorize`, so a 1M-row tape costs one pass over its distinct values.
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

#: GB/T 4754-2017 sections: letter → (Chinese name, English name).
INDUSTRY_SECTIONS: dict[str, tuple[str, str]] = {
    "A": ("农、林、牧、渔业", "Agriculture, forestry, animal husbandry and fishery"),
    "B": ("采矿业", "Mining"),
    "C": ("制造业", "Manufacturing"),
    "D": ("电力、热力、燃气及水生产和供应业", "Electricity, heat, gas and water"),
    "E": ("建筑业", "Construction"),
    "F": ("批发和零售业", "Wholesale and retail trade"),
    "G": ("交通运输、仓储和邮政业", "Transport, storage and post"),
    "H": ("住宿和餐饮业", "Accommodation and catering"),
    "I": ("信息传输、软件和信息技术服务业", "Information transmission, software and IT services"),
    "J": ("金融业", "Finance"),
    "K": ("房地产业", "Real estate"),
    "L": ("租赁和商务服务业", "Leasing and business services"),
    "M": ("科学研究和技术服务业", "Scientific research and technical services"),
    "N": ("水利、环境和公共设施管理业", "Water, environment and public facilities"),
    "O": ("居民服务、修理和其他服务业", "Resident, repair and other services"),
    "P": ("教育", "Education"),
    "Q": ("卫生和社会工作", "Health and social work"),
    "R": ("文化、体育和娱乐业", "Culture, sports and entertainment"),
    "S": ("公共管理、社会保障和社会组织", "Public administration and social organisations"),
    "T": ("国际组织", "International organisations"),
}

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
    # Households: retail borrowers are conventionally filed under T/"household" (documented in docs/tape.md).
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
