"""Attacks on the encodings, as an honest-but-curious operator would run them.

Every attack returns a dict with ``reidentified`` (share of the target body's encoded
records whose identity the attacker names correctly), ``precision`` (correct guesses /
guesses made), ``guesses`` and ``correct``, plus attack-specific counts.

* :func:`frequency_attack` — pattern mining in the spirit of Kroll & Steinmetzer (2015)
  and Christen et al. (2018): find sets of bits that are set together in a group of
  records (a frequent value's q-grams), align the groups' sizes with public name
  frequencies, and name the records that carry a surname pattern and a given-name
  pattern.
* :func:`graph_attack` — similarity-graph matching (Vidanage, Christen et al. 2020;
  Chen, Schnell et al. 2022): the attacker encodes its plaintext roster under the public
  schema with a key of its own, so Dice similarities between roster records mirror those
  between the encodings; nodes are matched by their similarity profile to anchor pairs
  (known seeds, or pairs bootstrapped from graph features: popcount and the sorted
  similarities to the nearest neighbours) and the anchor set is extended round by round
  with the mutual best, most confident matches (seed-and-extend).
* :func:`pattern_decode` — the follow-up: the bits every matched record with a given
  surname shares are that surname's pattern; every record carrying a pattern is decoded.
* :func:`duplicate_share`, :func:`popcount_leakage` — what the bytes alone tell.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np

from benchmarks.privacy.bits import best_two, dice, pair_scores, top_k_similarities, unpack
from synthetic.names import japanese_pools


def _result(correct: int, guesses: int, total: int, **extra: Any) -> dict[str, Any]:
    return {
        "reidentified": correct / total if total else 0.0,
        "precision": correct / guesses if guesses else 0.0,
        "guesses": guesses,
        "correct": correct,
        "records": total,
        **extra,
    }


# -- frequency attack -----------------------------------------------------------------------
def public_name_frequencies() -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """The attacker's public lists: (surname, share) and (given name, share), most common first.

    Taken from the generator's own weight tables (the best public list there could be).
    """
    pools = japanese_pools()

    def shares(pool: Any) -> dict[str, float]:
        cum = pool.cum_weights
        weights = np.diff(np.asarray((0.0, *cum)))
        total = float(weights.sum())
        out: dict[str, float] = defaultdict(float)
        for entry, w in zip(pool.entries, weights, strict=True):
            out[entry.kanji] += float(w) / total
        return out

    surnames = shares(pools["surname"])
    given: dict[str, float] = defaultdict(float)
    for sex in ("male", "female"):
        for name, share in shares(pools[sex]).items():
            given[name] += share / 2
    return (
        sorted(surnames.items(), key=lambda kv: -kv[1]),
        sorted(given.items(), key=lambda kv: -kv[1]),
    )


def mine_patterns(
    bits: np.ndarray,
    *,
    seeds: int = 60,
    pattern_bits: int = 40,
    min_group: int = 5,
    seed: int = 0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Frequent bit patterns in dense encodings: ``(positions, records carrying all)``.

    A value shared by a group of records sets the same bits in all of them, while any
    other bit survives an intersection of ``k`` records with probability ``density**k``.
    From each of ``seeds`` random records, intersect greedily with the record that keeps
    most of the current pattern until at most ``pattern_bits`` bits are left; the
    records carrying every remaining bit form the group. Distinct groups of at least
    ``min_group`` records are returned, largest first.
    """
    rng = np.random.default_rng(seed)
    n = bits.shape[0]
    fbits = bits.astype(np.float32)
    found: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
    for start in rng.choice(n, size=min(seeds, n), replace=False).tolist():
        pattern = bits[start].astype(bool)
        used = {start}
        for _ in range(40):  # each step takes in one more record of the group
            if pattern.sum() <= pattern_bits:
                break
            overlap = fbits @ pattern.astype(np.float32)
            overlap[list(used)] = -1
            x = int(np.argmax(overlap))
            pattern = pattern & bits[x].astype(bool)
            used.add(x)
        pos = np.flatnonzero(pattern)
        if len(pos) < pattern_bits // 4:
            continue
        carrying = np.flatnonzero(bits[:, pos].min(axis=1) > 0)
        if len(carrying) >= min_group:
            found.setdefault(carrying.tobytes(), (pos, carrying))
    return sorted(found.values(), key=lambda pr: -len(pr[1]))


def frequency_attack(
    clks: np.ndarray,
    surnames: Sequence[str],
    given: Sequence[str],
    population: Counter[tuple[str, str]],
) -> dict[str, Any]:
    """Pattern mining + frequency alignment against the public name lists.

    ``surnames[i]``, ``given[i]``: the truth of record ``i`` (kanji, for scoring only);
    ``population``: how many children carry each (surname, given) — a guess only
    re-identifies when the full name is unique. Patterns are aligned by rank with the
    public lists merged by expected count (the attacker cannot tell which field a
    pattern belongs to); a record is named when it carries one pattern labelled with a
    surname and one with a given name.
    """
    bits = np.unpackbits(clks, axis=1)
    n = bits.shape[0]
    pub_s, pub_g = public_name_frequencies()
    merged = sorted(
        [(share * n, "s", name) for name, share in pub_s[:200]]
        + [(share * n, "g", name) for name, share in pub_g[:200]],
        key=lambda t: -t[0],
    )
    patterns = mine_patterns(bits)
    labels: list[tuple[str, str]] = [(kind, name) for _, kind, name in merged[: len(patterns)]]
    surname_of: dict[int, str] = {}
    given_of: dict[int, str] = {}
    value_correct = value_guesses = 0
    for (_, rows), (kind, name) in zip(patterns, labels, strict=False):
        target = surname_of if kind == "s" else given_of
        truth = surnames if kind == "s" else given
        for r in rows.tolist():
            if r not in target:
                target[r] = name
                value_guesses += 1
                value_correct += truth[r] == name
    guesses = correct = 0
    for r in set(surname_of) & set(given_of):
        guesses += 1
        full = (surname_of[r], given_of[r])
        correct += full == (surnames[r], given[r]) and population[full] == 1
    return _result(
        correct,
        guesses,
        n,
        patterns=len(patterns),
        value_guesses=value_guesses,
        value_precision=value_correct / value_guesses if value_guesses else 0.0,
    )


# -- similarity-graph attack ------------------------------------------------------------------
def _features(clks: np.ndarray, k: int) -> np.ndarray:
    """Node features: popcount share and the ``k`` largest Dice to other records (the
    record's row of the k-nearest-neighbour Dice graph), ``(n, k + 1)``."""
    top = top_k_similarities(clks, k)
    pc = np.unpackbits(clks, axis=1).sum(axis=1, keepdims=True) / (8 * clks.shape[1])
    return np.hstack([pc.astype(np.float32), top])


def _bootstrap(
    enc_clks: np.ndarray, ros_clks: np.ndarray, want: int, k: int = 10
) -> list[tuple[int, int]]:
    """Seeds without prior knowledge: mutual nearest neighbours in graph-feature space.

    Nearest neighbours by L1 distance through k-d trees (``n log n``). Returns the
    ``want`` closest mutual pairs ``(encoded index, roster index)``.
    """
    from scipy.spatial import cKDTree

    fe, fr = _features(enc_clks, k), _features(ros_clks, k)
    scale = np.vstack([fe, fr]).std(axis=0) + 1e-6
    fe, fr = fe / scale, fr / scale
    best_d, best_r = cKDTree(fr).query(fe, k=1, p=1)
    _, best_e = cKDTree(fe).query(fr, k=1, p=1)
    pairs = []
    for e in np.argsort(best_d, kind="stable").tolist():
        r = int(best_r[e])
        if best_e[r] == e:
            pairs.append((e, r))
        if len(pairs) >= want:
            break
    return pairs


def _standardise(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=1, keepdims=True)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-9)


def _bucket_keys(z: np.ndarray, t: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's bucket keys: every ``c``-subset of its ``t`` highest columns, encoded as
    one integer. Returns ``(rows, keys)``, one entry per (row, subset)."""
    n, a = z.shape
    top = np.argpartition(-z, t - 1, axis=1)[:, :t] if t < a else np.argsort(-z, axis=1)
    top = np.sort(top[:, :t], axis=1).astype(np.int64)
    rows, keys = [], []
    for combo in combinations(range(t), c):
        key = np.zeros(n, np.int64)
        for col in combo:
            key = key * a + top[:, col]
        rows.append(np.arange(n, dtype=np.int64))
        keys.append(key)
    return np.concatenate(rows), np.concatenate(keys)


CANDIDATE_PLANS = ((6, 1), (5, 1), (4, 1), (3, 1), (4, 2), (2, 1), (3, 2), (1, 1), (2, 2), (3, 3))
"""(t, c) candidate plans, most recall first: a pair is a candidate when a ``c``-subset of
the ``t`` anchors each record is most like coincides."""


def _candidates(pe: np.ndarray, pr: np.ndarray, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Sparse candidate pairs ``(i, j)`` (rows of ``pe``, ``pr``; sorted, unique) that share
    anchors among the ones each record is most like (profiles z-scored per anchor, so
    that popular anchors do not fill every bucket). The first plan of
    :data:`CANDIDATE_PLANS` with at most ``budget`` pairs is used (the last one else)."""
    ze = (pe - pe.mean(axis=0)) / (pe.std(axis=0) + 1e-9)
    zr = (pr - pr.mean(axis=0)) / (pr.std(axis=0) + 1e-9)
    a = pe.shape[1]
    for t, c in CANDIDATE_PLANS:
        if t > a:
            continue
        re, ke = _bucket_keys(ze, t, c)
        rr, kr = _bucket_keys(zr, t, c)
        ue, ce = np.unique(ke, return_counts=True)
        ur, cr = np.unique(kr, return_counts=True)
        both, ie, ir = np.intersect1d(ue, ur, assume_unique=True, return_indices=True)
        if int((ce[ie].astype(np.int64) * cr[ir]).sum()) <= budget:
            break
    oe, orr = np.argsort(ke, kind="stable"), np.argsort(kr, kind="stable")
    ke, re, kr, rr = ke[oe], re[oe], kr[orr], rr[orr]
    se, sr = np.searchsorted(ke, both), np.searchsorted(kr, both)
    ci, cj = [], []
    for lo_e, lo_r, ne, nr in zip(se, sr, ce[ie], cr[ir], strict=True):
        ci.append(np.repeat(re[lo_e : lo_e + ne], nr))
        cj.append(np.tile(rr[lo_r : lo_r + nr], ne))
    if not ci:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    m = pr.shape[0]
    code = np.concatenate(ci) * m + np.concatenate(cj)
    code.sort()
    code = code[np.r_[True, code[1:] != code[:-1]]]
    return code // m, code % m


def graph_attack(
    enc_clks: np.ndarray,
    roster_clks: np.ndarray,
    roster_truth: np.ndarray,
    *,
    seeds: Sequence[tuple[int, int]] = (),
    rounds: int = 12,
    max_anchors: int = 400,
    accept: float = 0.25,
    n_bootstrap: int = 20,
    budget_per_record: int = 100,
) -> dict[str, Any]:
    """Seed-and-extend matching of encoded records to roster records, on sparse graphs.

    ``roster_truth[j]`` is the encoded index of roster record ``j`` (scoring only);
    ``seeds`` are known ``(encoded index, roster index)`` pairs (counted as the attacker's
    knowledge, not as re-identifications). Each round, every free encoded record gets its
    Dice profile against the anchors, so does every free roster record. Candidate pairs
    are the records that are most like the same anchors (:func:`_candidates`, at most
    ``budget_per_record · (n + m)`` pairs a round, so the cost grows with
    ``(n + m)·anchors``, not ``n·m``); they
    are scored by profile correlation minus a popcount-difference penalty, and the mutual
    best pairs with the largest margin over the runner-up — ``accept`` of them, at most
    ``max_anchors`` anchors in use — become anchors. Returns, besides the standard
    counts, ``top_precision`` (precision of the most confident half of the guesses).
    """
    e_bits, r_bits = unpack(enc_clks), unpack(roster_clks)
    n, m = len(e_bits), len(r_bits)
    pc_e, pc_r = e_bits.sum(axis=1), r_bits.sum(axis=1)
    pc_scale = float(np.std(np.concatenate([pc_e, pc_r]))) + 1e-6
    anchors = list(seeds) if seeds else _bootstrap(enc_clks, roster_clks, n_bootstrap)
    known = {e for e, _ in seeds}
    matched_e = {e: (r, np.inf) for e, r in anchors}
    matched_r = {r for _, r in anchors}
    for _ in range(rounds):
        free_e = np.asarray([e for e in range(n) if e not in matched_e], dtype=np.int64)
        free_r = np.asarray([r for r in range(m) if r not in matched_r], dtype=np.int64)
        if not len(free_e) or not len(free_r):
            break
        use = anchors[-max_anchors:]
        if not use:
            break
        ae = e_bits[[e for e, _ in use]]
        ar = r_bits[[r for _, r in use]]
        raw_e, raw_r = dice(e_bits[free_e], ae), dice(r_bits[free_r], ar)
        ci, cj = _candidates(raw_e, raw_r, budget_per_record * (n + m))
        if not ci.size:
            break
        pe, pr = _standardise(raw_e), _standardise(raw_r)
        s = pair_scores(pe, pr, ci, cj)
        s -= 0.05 * np.abs(pc_e[free_e[ci]] - pc_r[free_r[cj]]) / pc_scale
        best_r, margin = best_two(ci, cj, s, len(free_e))
        best_e, _ = best_two(cj, ci, s, len(free_r))
        new = [
            (float(margin[i]), int(free_e[i]), int(free_r[j]))
            for i, j in enumerate(best_r.tolist())
            if j >= 0 and best_e[j] == i
        ]
        if not new:
            break
        new.sort(reverse=True)
        take = new[: max(1, int(accept * len(new)))]
        for conf, e, r in take:
            matched_e[e] = (r, conf)
            matched_r.add(r)
            anchors.append((e, r))
    guesses = [(conf, e, r) for e, (r, conf) in matched_e.items() if e not in known]
    correct = sum(int(roster_truth[r] == e) for _, e, r in guesses)
    guesses.sort(reverse=True)
    half = guesses[: max(1, len(guesses) // 2)]
    top_correct = sum(int(roster_truth[r] == e) for _, e, r in half)
    return _result(
        correct,
        len(guesses),
        n,
        roster=m,
        seeds=len(seeds),
        top_precision=top_correct / len(half) if guesses else 0.0,
        matches=[(e, r) for _, e, r in guesses],
    )


# -- follow-up: decode by learned bit patterns --------------------------------------------
def pattern_decode(
    clks: np.ndarray,
    matches: Sequence[tuple[int, int]],
    roster_surname: Sequence[str],
    surnames: Sequence[str],
    *,
    support: float = 0.9,
    min_examples: int = 3,
    min_bits: int = 8,
    max_common: float = 0.3,
) -> dict[str, Any]:
    """Learn each surname's bit pattern from matched pairs and decode every record.

    For each surname with ``min_examples`` matched records, its pattern is the bits set
    in ``support`` of them and in at most ``max_common`` of all records. A record is
    decoded to the surname whose pattern it carries fully (the longest when several).
    ``reidentified`` here is the share of all records whose surname is revealed correctly.
    """
    bits = np.unpackbits(clks, axis=1)
    n = bits.shape[0]
    common = bits.mean(axis=0) > max_common
    by_name: dict[str, list[int]] = defaultdict(list)
    for e, r in matches:
        by_name[roster_surname[r]].append(e)
    patterns = []
    for name, rows in by_name.items():
        if len(rows) < min_examples or not name:
            continue
        share = bits[rows].mean(axis=0)
        pos = np.flatnonzero((share >= support) & ~common)
        if len(pos) >= min_bits:
            patterns.append((len(pos), name, pos))
    patterns.sort(key=lambda t: -t[0])
    decoded: dict[int, str] = {}
    for _, name, pos in patterns:
        carrying = np.flatnonzero(bits[:, pos].min(axis=1) > 0)
        for r in carrying.tolist():
            decoded.setdefault(r, name)
    correct = sum(surnames[r] == name for r, name in decoded.items())
    return _result(correct, len(decoded), n, patterns=len(patterns))


# -- leakage statistics -----------------------------------------------------------------------
def duplicate_share(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Share of ``a``'s records whose encoding occurs byte for byte in ``b`` (and vice versa)."""
    set_b = {row.tobytes() for row in b}
    set_a = {row.tobytes() for row in a}
    in_b = sum(row.tobytes() in set_b for row in a)
    in_a = sum(row.tobytes() in set_a for row in b)
    return {
        "a_in_b": in_b / len(a) if len(a) else 0.0,
        "b_in_a": in_a / len(b) if len(b) else 0.0,
        "records_a": len(a),
        "records_b": len(b),
    }


def popcount_leakage(clks: np.ndarray, name_lengths: Sequence[int]) -> dict[str, Any]:
    """Pearson correlation of each encoding's popcount with the name length (characters).

    ``None`` when popcount is constant (balanced encodings leak nothing this way).
    """
    pc = np.unpackbits(clks, axis=1).sum(axis=1).astype(np.float64)
    lengths = np.asarray(name_lengths, dtype=np.float64)
    corr = None
    if pc.std() > 0 and lengths.std() > 0:
        corr = float(np.corrcoef(pc, lengths)[0, 1])
    return {
        "corr_name_length": corr,
        "popcount_mean": float(pc.mean()),
        "popcount_std": float(pc.std()),
        "distinct_popcounts": len(np.unique(pc)),
    }
