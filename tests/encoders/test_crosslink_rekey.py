"""Re-keying joint-secret encodings to the refs of the body's project upload."""

from __future__ import annotations

from pathlib import Path
from random import Random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from encoders.crosslink import project_refs, rekey_file
from encoders.keys import KeysFileError
from linkage.container import Encodings, new_ref, read_encodings, write_encodings


def _keys(path: Path, pairs: list[tuple[str, str]]) -> Path:
    path.write_text("ref,record_id\n" + "".join(f"{r},{i}\n" for r, i in pairs), "utf-8")
    return path


def _encodings(n: int, seed: int = 0) -> Encodings:
    clks = np.random.default_rng(seed).integers(0, 256, (n, 128), dtype=np.uint8)
    return Encodings([new_ref() for _ in range(n)], clks, 1024, "s" * 64, "1111-2222-3333-4444")


@settings(max_examples=25, deadline=None)
@given(
    in_project=st.lists(st.booleans(), min_size=1, max_size=30),
    rnd=st.randoms(use_true_random=False),
)
def test_each_record_gets_its_project_ref(
    tmp_path_factory: pytest.TempPathFactory, in_project: list[bool], rnd: Random
) -> None:
    tmp = tmp_path_factory.mktemp("rekey")
    if not any(in_project):
        in_project[0] = True
    enc = _encodings(len(in_project))
    ids = [f"R{i:05d}" for i in range(len(in_project))]
    project = {i: new_ref() for i, keep in zip(ids, in_project, strict=True) if keep}
    order = list(project.items())
    rnd.shuffle(order)
    cross_keys = _keys(tmp / "x.csv", list(zip(enc.refs, ids, strict=True)))
    project_keys = _keys(tmp / "p.csv", [(ref, i) for i, ref in order])
    out, dropped = project_refs(enc, cross_keys, project_keys)
    assert dropped == in_project.count(False)
    kept = [k for k, keep in enumerate(in_project) if keep]
    # the same ref → CLK pairs, in a fresh random order (encoders.shuffle)
    got = {ref: clk.tobytes() for ref, clk in zip(out.refs, out.clks, strict=True)}
    assert got == {project[ids[k]]: enc.clks[k].tobytes() for k in kept}
    assert len(out.refs) == len(kept)
    assert out.secret_fingerprint == enc.secret_fingerprint and out.schema_id == enc.schema_id


def test_rekey_file_round_trip(tmp_path: Path) -> None:
    enc = _encodings(3)
    write_encodings(tmp_path / "x.kkh", enc)
    ids = ["a", "b", "c"]
    project = [new_ref() for _ in ids]
    cross_keys = _keys(tmp_path / "x.csv", list(zip(enc.refs, ids, strict=True)))
    project_keys = _keys(tmp_path / "p.csv", list(zip(project, ids, strict=True)))
    assert rekey_file(tmp_path / "x.kkh", cross_keys, project_keys, tmp_path / "o.kkh") == (3, 0)
    out = read_encodings(tmp_path / "o.kkh")
    got = {ref: clk.tobytes() for ref, clk in zip(out.refs, out.clks, strict=True)}
    assert got == {p: enc.clks[k].tobytes() for k, p in enumerate(project)}


def test_clear_errors(tmp_path: Path) -> None:
    enc = _encodings(2)
    cross_keys = _keys(tmp_path / "x.csv", [(enc.refs[0], "a"), (enc.refs[1], "b")])
    with pytest.raises(KeysFileError, match="appears twice"):
        project_refs(
            enc, cross_keys, _keys(tmp_path / "d.csv", [(new_ref(), "a"), (new_ref(), "a")])
        )
    with pytest.raises(KeysFileError, match="none of the encoded records"):
        project_refs(enc, cross_keys, _keys(tmp_path / "n.csv", [(new_ref(), "z")]))
    short = _keys(tmp_path / "s.csv", [(enc.refs[0], "a")])
    with pytest.raises(KeysFileError, match=r"row 2"):
        project_refs(enc, short, _keys(tmp_path / "p.csv", [(new_ref(), "a")]))
