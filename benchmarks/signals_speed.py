"""Cost of support signals on the body's and the coordinator's side (in-sample timing).

``python -m benchmarks.signals_speed [--rows N] [--rounds R]`` prints, as medians over
rounds measured in one run:

* sealing and opening one record's signals (HPKE X25519/HKDF-SHA256/AES-256-GCM), µs,
  and sealing against the bare ``cryptography`` HPKE call (the reference, same run);
* ``encode_file`` on a synthetic 住民記録 export of N rows with and without ``--signals``
  (three codes: flag, date, count; one worker; each run in a fresh process, rounds
  interleaved), seconds, and the ratio.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from encoders.encode import encode_file
from encoders.signals import SignalsJob, load_signal_map
from linkage.schema import default_schema
from linkage.signals import (
    Catalogue,
    SealContext,
    key_fingerprint,
    open_signals,
    public_key_raw,
    seal_signals,
)
from synthetic import generate

B = "住民記録"
CATALOGUE = Catalogue.from_dict(
    {
        "signals": [
            {"code": "flag", "label": "旗", "body": B, "value_type": "flag", "purpose": "p"},
            {"code": "day", "label": "日", "body": B, "value_type": "date", "purpose": "p"},
            {"code": "n", "label": "数", "body": B, "value_type": "count", "purpose": "p"},
        ]
    }
)  # fmt: skip
MAP = 'body = "住民記録"\n[signals.flag]\ncolumn = "S1"\n[signals.day]\ncolumn = "S2"\n' \
    '[signals.n]\ncolumn = "S3"\n'  # fmt: skip


def _median_us(fn, n: int, rounds: int) -> float:
    per = []
    for _ in range(rounds):
        started = time.perf_counter()
        for i in range(n):
            fn(i)
        per.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(per)


def _encode_once(folder: str, r: int, with_signals: bool, raw_key: bytes) -> tuple[float, int]:
    tmp = Path(folder)
    key = X25519PrivateKey.from_private_bytes(raw_key)
    fp = key_fingerprint(public_key_raw(key.public_key()))
    job = (
        SignalsJob(load_signal_map(tmp / "map.toml", CATALOGUE), project_id="p",
                   catalogue=CATALOGUE, public_key=key.public_key(), key_fingerprint=fp,
                   output=tmp / f"x{r}.signals.json")
        if with_signals else None
    )  # fmt: skip
    started = time.perf_counter()
    report = encode_file(tmp / "export.csv", output=tmp / f"x{r}.kkh",
                         keys_output=tmp / f"x{r}.keys.csv", schema=default_schema(),
                         secret=b"k" * 32, workers=1, signals=job)  # fmt: skip
    return time.perf_counter() - started, report.rows_encoded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    key = X25519PrivateKey.generate()
    fp = key_fingerprint(public_key_raw(key.public_key()))
    ctx = SealContext("p", "住民記録", CATALOGUE, ("flag", "day", "n"), fp)
    values = {"flag": True, "day": "2023-04-01", "n": 12}
    refs = [f"{i:032x}" for i in range(2000)]
    sealed = [seal_signals(key.public_key(), ctx, r, values) for r in refs]
    # reference in the same run, rounds interleaved: the bare HPKE single-shot call on a
    # payload of the same size
    from cryptography.hazmat.primitives import hpke

    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    payload = bytes(ctx.ciphertext_size - 48)
    seal_r, open_r, bare_r = [], [], []
    for _ in range(args.rounds):
        seal_r.append(_median_us(lambda i: seal_signals(key.public_key(), ctx, refs[i], values),
                                 2000, 1))  # fmt: skip
        open_r.append(_median_us(lambda i: open_signals(key, ctx, refs[i], sealed[i]), 2000, 1))
        bare_r.append(_median_us(lambda i: suite.encrypt(payload, key.public_key(), info=b"i"),
                                 2000, 1))  # fmt: skip
    seal_us, open_us, bare_us = (statistics.median(x) for x in (seal_r, open_r, bare_r))
    seal_ratio = statistics.median(a / b for a, b in zip(seal_r, bare_r, strict=True))

    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        exports = generate(args.rows, seed=3).write_exports(tmp / "exports")
        source = exports["jumin"]
        export = tmp / "export.csv"
        with (
            source.open(encoding="utf-8-sig", newline="") as src,
            export.open("w", encoding="utf-8", newline="") as dst,
        ):
            reader, writer = csv.reader(src), csv.writer(dst)
            writer.writerow([*next(reader), "S1", "S2", "S3"])
            for row in reader:
                flag = rng.choice(["1", "0", ""])
                writer.writerow(
                    [*row, flag, "令和5年4月1日" if flag else "", str(rng.randint(0, 40))]
                )
        (tmp / "map.toml").write_text(MAP, encoding="utf-8")
        plain, sealed_runs = [], []
        raw_key = key.private_bytes_raw()
        for r in range(args.rounds):
            for with_signals in (False, True):
                # a fresh process per measurement: the encoder's per-process caches would
                # otherwise make every round after the first faster than a real run
                with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                    seconds, rows = pool.submit(
                        _encode_once, str(tmp), r, with_signals, raw_key
                    ).result()
                (sealed_runs if with_signals else plain).append(seconds)
    result = {
        "seal_us_per_record": round(seal_us, 1),
        "open_us_per_record": round(open_us, 1),
        "bare_hpke_encrypt_us": round(bare_us, 1),
        "seal_vs_bare_hpke": round(seal_ratio, 3),
        "ciphertext_bytes": ctx.ciphertext_size,
        "rows": rows,
        "encode_s": round(statistics.median(plain), 3),
        "encode_with_signals_s": round(statistics.median(sealed_runs), 3),
        "ratio": round(statistics.median(sealed_runs) / statistics.median(plain), 3),
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
