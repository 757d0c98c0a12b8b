"""Plain Japanese words for statuses, audit actions and error messages.

Server and client errors arrive in English (one line, saying what and where). The
dashboard shows the coordinator a plain Japanese sentence for the ones it knows and
keeps the original line beside it, so nothing is lost.
"""

from __future__ import annotations

import re

RUN_STATUS = {
    "queued": "順番待ち",
    "running": "実行中",
    "done": "完了",
    "failed": "失敗",
    "cancelled": "取り消し",
}

OUTCOME = {"confirmed": "同一人物と確認", "split": "別人と確認（分ける）", "unsure": "確認できず"}

ROLE = {"coordinator": "調整担当", "body": "機関", "operator": "運用者", "system": "システム"}

ACTION = {
    "project.created": "プロジェクト作成",
    "run.queued": "照合の開始",
    "run.running": "照合の実行",
    "run.done": "照合の完了",
    "run.failed": "照合の失敗",
    "run.cancelled": "照合の取り消し",
    "run.cancel": "照合の取り消し依頼",
    "run.requeued": "照合のやり直し",
    "results.tokens.download": "トークン表の取得",
    "results.mapping.download": "機関の対応表の取得",
    "review.outcome": "確認結果の記録",
    "support_list.made": "支援候補リストの作成・書き出し",
    "http.request": "API の利用",
    "credential.issued": "認証情報の発行",
    "credential.revoked": "認証情報の失効",
    "encodings.deleted.close": "符号化データの削除（終了）",
    "encodings.deleted.retention": "符号化データの削除（保存期間）",
}

_ERRORS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"at least two bodies; (\d+) uploaded"),
        "照合には 2 つ以上の機関のデータが必要です（今は {0} 機関）。各機関にアップロードを"
        "依頼してください。",
    ),
    (re.compile(r"run \w+ is still queued or running"), "前の照合がまだ終わっていません。"),
    (re.compile(r"a closed project cannot be run"), "このプロジェクトは終了しています。"),
    (re.compile(r"run is already (\w+)"), "この照合はすでに終わっています。"),
    (re.compile(r"no run of this project has finished yet"), "まだ完了した照合がありません。"),
    (re.compile(r"cannot reach the server"), "照合サーバーに接続できません。"),
    (re.compile(r"credential expired"), "認証情報の有効期限が切れています。"),
    (re.compile(r"credential revoked"), "認証情報は失効しています。"),
    (re.compile(r"unknown credential"), "認証情報が正しくありません。"),
    (re.compile(r"wrong passphrase"), "パスフレーズが違うか、鍵ファイルが壊れています。"),
    (
        re.compile(r"not the project's current coordinator key"),
        "この鍵はプロジェクトの現在の調整担当の鍵ではありません（鍵の更新後の古い鍵など）。",
    ),
    (
        re.compile(r"no signal catalogue|has no signal catalogue"),
        "信号カタログがまだ登録されていません。",
    ),
    (re.compile(r"one record per body"), "同じ機関の記録を 2 件、同一人物にはできません。"),
    (re.compile(r"at least two non-empty parts"), "分けるときは、2 人以上に分けてください。"),
    (re.compile(r"internal error"), "サーバー内部で問題が起きました。運用者に連絡してください。"),
]


def plain(message: str) -> str:
    """A plain Japanese sentence for ``message`` (the original when none is known)."""
    for pattern, words in _ERRORS:
        found = pattern.search(message)
        if found:
            return words.format(*found.groups())
    return message
