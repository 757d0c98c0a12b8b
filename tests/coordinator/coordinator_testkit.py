"""Shared pieces for the coordinator tests: a demo-like catalogue and a token table builder."""

from __future__ import annotations

from typing import Any

from coordinator.signals import DecryptedSignal, SignalTable
from linkage.signals import Catalogue

CATALOGUE_DICT: dict[str, Any] = {
    "version": 3,
    "signals": [
        {
            "code": "birth_ym",
            "label": "生年月",
            "body": "jumin",
            "value_type": "yearmonth",
            "purpose": "年齢帯の判定",
        },
        {
            "code": "kenshin_mijushin",
            "label": "乳幼児健診未受診",
            "body": "boshi",
            "value_type": "flag",
            "purpose": "健診に来ていない子どもを知る",
        },
        {
            "code": "choki_kesseki",
            "label": "長期欠席",
            "body": "gakko",
            "value_type": "flag",
            "purpose": "学校に来られていない子どもを知る",
        },
        {
            "code": "kesseki_nissu",
            "label": "欠席日数",
            "body": "gakko",
            "value_type": "count",
            "purpose": "欠席の程度",
        },
        {
            "code": "seikatsu_hogo",
            "label": "生活保護",
            "body": "fukushi",
            "value_type": "flag",
            "purpose": "経済的困難",
        },
        {
            "code": "jido_fuyo",
            "label": "児童扶養手当",
            "body": "fukushi",
            "value_type": "flag",
            "purpose": "ひとり親家庭",
        },
        {
            "code": "hoiku_shubetsu",
            "label": "保育の種別",
            "body": "hoiku",
            "value_type": "category",
            "categories": ["認可", "認可外", "一時預かり"],
            "purpose": "利用している保育の種類",
        },
        {
            "code": "tennyu_bi",
            "label": "転入日",
            "body": "jumin",
            "value_type": "date",
            "purpose": "転入して間もない家庭",
        },
        {
            "code": "yotaikyo",
            "label": "要対協 登録",
            "body": "kodomo",
            "value_type": "flag",
            "purpose": "既に支援につながっているか",
        },
    ],
}


def catalogue(data: dict[str, Any] | None = None) -> Catalogue:
    """The test catalogue as the coordinator would hold it."""
    return Catalogue.from_dict(data or CATALOGUE_DICT)


def table(children: dict[str, dict[str, dict[str, bool | str | int]]]) -> SignalTable:
    """``{token: {body: {code: value}}}`` -> a signal table; refs are ``<token>-<body>``.

    Every body present for a child gets a record, with or without signals.
    """
    out = SignalTable(catalogue(), [], [], [])
    for token, bodies in children.items():
        for body, signals in bodies.items():
            ref = f"{token}-{body}"
            out.tokens.append((token, body, ref))
            for code, value in signals.items():
                out.signals.append(DecryptedSignal(token, body, ref, code, value))
    return out
