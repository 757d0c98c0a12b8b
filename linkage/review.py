"""Ranked review list: how likely each group is to be wrong, from the scores alone.

Shapes: ``group_of`` ``(n,)`` int64; candidate pairs ``left``, ``right``, ``scores``
``(m,)`` (every pair at or above the run's floor, merged or not); ``body`` ``(n,)``.

A group is wrong when it mixes children or misses a record that sits in another group.
Evidence, each turned into a probability with the run's fitted score model
(``ScoreModel.posterior``, ``P(match | s)``):

* **challenged member** — a record whose best link inside its group is weak *and*
  whose best candidate outside it scores within ``CHALLENGE_GAP`` of that link (or
  higher): ``CHALLENGED_RISK * (1 - P(best in-group score))``, weighted below
  ``FLAG_AT`` (0.2 at most): it orders the list but never flags a group on its own. A weak
  link alone is not evidence (correct merges just above a low threshold are common: on
  the tuning runs a weak member without a rival was wrong about 1 time in 10), and
  requiring a rival keeps the count bounded by the data when the fit misjudges ``P``.
  Until stop 24 it flagged (0.5, from ``P <= 0.5``); counted then over kawase seeds
  10–13 and 15–18 (24 runs), the groups it alone put on the list were wrong 1 time in 70,
  on synthetic seed 5 (3 runs) 3 times in 66 — the largest single source of false alarms
  (42 of 157 on seeds 15–18, 63 of 107 on synthetic seed 5), which on easy towns pushed
  the share of flagged groups that are wrong below the 30 % target (seed 17: 0.295).
  Where a challenged group is wrong, other evidence (missed link, outvoted, missing body)
  nearly always flags it too;
* **missed link** — a candidate pair between two groups that could have been merged
  (no body in common, where a deduplicating body — ``dedup`` — never counts as one in
  common) but was not (below the threshold, or refused as a near-tie): ``P(s)``;
* **contested slot** — a candidate pair ``x–y`` whose groups clash because ``y``'s group
  already holds ``w`` from ``x``'s body (or ``x``'s group holds ``v`` from ``y``'s): a
  swap is plausible only when ``s`` is close to *both* current links,
  ``CONTESTED_WEIGHT * P(s) * exp(-max(s_wy - s, s_xv - s) / TIE_SCALE)`` — weighted
  below ``FLAG_AT``: it orders the list but never flags a group on its own, because
  siblings contest slots all the time and are rarely errors. When the challenger scores
  *higher* with ``y`` than the occupant ``w`` does (``s >= s_wy + BEATEN_BY``: ``y``
  joined its group through other members, not through ``w``) the slot is **beaten**:
  ``BEATEN_WEIGHT * P(s)``, which flags — provided the swap is plausible: ``y`` or the
  challenger ``x`` is held by its own group no more strongly than by ``s`` (its best link
  inside its group scores at most ``BEATEN_HOLD`` above ``s``; a record alone is not held
  at all). Twins with the same name, or records missing the given name, end up so:
  the record sits with the other twin's records while its direct score with its own
  twin's register record is higher (measured on ``kawase``, see docs/benchmarks.md). Two
  records each tied to their own groups at 0.99, one of which has a poor member from the
  other's body, are siblings in two right groups (the fourth pass: on held-out kawase
  seed 4 such slots were 22 of 38 flags and no wrong group);
* **loose group** — members with no candidate pair between them at all (joined only
  through others): ``LOOSE_RISK``, below ``FLAG_AT`` — it orders the list only. In no
  run of the benchmark was a loose group wrong (173 flags on FEBRL3, whose duplicate
  groups are stars, and 6 on the municipal towns, all right);
* **missing body** — a group holding a record of body ``A`` but none of body ``B``, where
  this run linked nearly every record of ``A`` to one of ``B`` (share ``rho_AB``): a
  record of ``A`` left without ``B`` is then more likely a missed link than a child
  ``B`` does not hold: ``clip((rho_AB - RHO_FROM) / (1 - RHO_FROM), 0, 1) * 0.9``. A
  school record that did not join any resident-register record is the typical case.
  ``MISSING_WEIGHT`` is 0.9;
* **partner** — the group of that record's best candidate in the missing body (when one
  scored at or above the floor) gets the same risk: a split leaves two wrong groups, and
  the other half rarely carries evidence of its own (a register record of a child who
  has no record in most bodies);
* **split** — for a deduplicating body (``dedup``): two of its groups with a pair between
  them at or above the run's support floor (``split_floor``, ``clustering.support_floor``:
  where strangers score only far out in their spread): ``SPLIT_RISK``. Duplicates that
  differ each in their own way leave such pairs when a copy stays apart (FEBRL3). The
  score model's ``P`` does not serve here: its strangers come from runner-up scores,
  which in a deduplicating body are often the person's other copies — except with
  ``same_body`` (fitted between bodies, see **repeat**): then the pair's ``P`` under it,
  from any score. Never where the two groups each hold a record of a body that does not
  deduplicate (two people by that body's one record per person: twins with their own
  records);
* **bridge** — a group that falls into two or more parts of at least two records each,
  every part held together by links more likely matches than not (``P > BRIDGE_P``,
  0.5) or by pairs people confirmed (``known``), the parts joined only by links more
  likely non-matches: ``1 - P`` of the best
  link between the parts. The greedy joins groups through their best pair alone, so two
  children's well-linked records can meet through one poor pair (on kawase seed 11, stop
  22's hold-out, two twins' records without a reading, 0.90 with each other, reached a third child
  through a 0.65 link). Added in stop 23; over the 24 kawase runs of seeds 3/4/7–12 it
  fired once (that group); on one secret each of synthetic seed 5 and FEBRL3 it flagged
  three right groups (one and two);
* **outvoted** — a record that has more *close* likely links (``P > BRIDGE_P`` and at
  most ``OUTVOTE_GAP`` below its best link inside its group) to another group with no
  record of its body than to its own group: ``OUTVOTED_RISK`` on both groups. One CLK
  cannot tell a missing field from a different one: two twins' records that both lack a
  reading score higher with each other (0.90) than with their own twin's records that
  carry one (0.84–0.86), so the pair merges first, and each record's own group, two or
  three records strong, is left one short (kawase seeds 11 and 12). Added in stop 23;
  ``OUTVOTE_GAP`` (0.08) was read off kawase seeds 3/4/7–12: 0.05 caught 6 wrong groups
  the list missed with 21 false alarms over 24 runs, 0.08 caught 9 with 69, 0.12 the same
  9 with 168;
* **repeat** — with ``same_body`` (a deduplicating body next to bodies that keep one
  record per child, ``threshold.same_body_floor``): a group holding two records of one
  deduplicating body, ``1 - P`` of the record's best pair with the other, ``P`` at that
  body's own share of repeats. A body that may repeat a child holds few repeats, and a
  group that claims one is a claim about two records; twins of one body score just
  above the floor where only the given name differs, as a repeat with an old address
  does, so such a group is put to a person unless its pair scores like a sure repeat;
* **near-tie** — groups the clustering left unmerged because two rivals scored within its
  margin (``ambiguous``). A group of one record is flagged (its own partner may be the one
  refused). A group that already has members is only ordered (``FLAG_AT * P`` of the best
  score between it and another group at or above the threshold): in the fourth pass such
  groups were 40 flags on the held-out kawase seeds and caught no wrong group that no
  other evidence caught (on the tuning towns, 5 such catches against 5 false alarms).

A group's risk is the largest of its evidence; groups are flagged when the risk reaches
``FLAG_AT``. The ranking orders the flagged list (most likely wrong first). The
constants were set on ``synthetic`` seeds 0/1 and ``kawase`` seed 2 (normal and
``dirty`` error levels) with ``benchmarks/review_eval.py``, and checked on held-out
``kawase`` seeds 3/4, ``synthetic`` seed 5, FEBRL4 and FEBRL3 (``docs/benchmarks.md``,
"third pass"). The fourth pass (``BEATEN_HOLD``, near-ties of groups with members and
loose groups ordered only, a challenged member flagged from ``P <= 0.5`` rather than
``P <= 0.29``, dedup bodies never clashing, split duplicates) looked at the held-out
kawase seeds 3/4 as well, so those are no longer clean hold-outs for the review list.
Stop 22 changed none of these constants; it changed the clustering (a near-tie left open
stays open; twins of one name are a near-tie), looking at seeds 3/4/7/8/9 — kawase seeds
10 and 11, never looked at before, are the hold-outs for both (docs/benchmarks.md).
Stop 23 added the bridge and outvoted evidence, looking at seeds 3/4/7–12 (seed 12 was
first run clean with stop 22's code); kawase seeds 13 and 14 are its hold-outs. Stop
24 made the challenged member order-only, looking at kawase seeds 10–13 and 15–18 and
synthetic seed 5; kawase seeds 19 and 20 are its hold-outs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linkage.components import components
from linkage.threshold import SameBody, ScoreModel

TIE_SCALE = 0.005
CONTESTED_WEIGHT = 0.2
BEATEN_WEIGHT = 0.9
BEATEN_BY = 0.03
CHALLENGED_RISK = 0.2
CHALLENGE_GAP = 0.02
MISSING_PARTNER = 1.0
LOOSE_RISK = 0.2
FLAG_AT = 0.25
MIN_EVIDENCE = 0.01
MISSING_WEIGHT = 0.9
RHO_FROM = 0.95
BEATEN_HOLD = 0.03
SPLIT_RISK = 0.5
BRIDGE_P = 0.5
OUTVOTE_GAP = 0.08
OUTVOTED_RISK = 0.3
EVIDENCE = ("challenged", "partner", "loose", "missed", "contested", "missing_body", "split",
            "bridge", "outvoted", "repeat")  # fmt: skip


@dataclass(frozen=True)
class Review:
    """Risk of each group and the ranked review list.

    Attributes:
        risk: ``(n_groups,)`` float64 in [0, 1], higher = more likely wrong.
        flagged: ``(n_groups,)`` bool, ``risk >= FLAG_AT``.
        ranking: group indices of the flagged groups, most likely wrong first.
        evidence: ``name -> (n_groups,)`` risk from each kind of evidence
            (``challenged``, ``partner``, ``loose``, ``missed``, ``contested``,
            ``missing_body``, ``split``, ``bridge``, ``outvoted``, ``repeat``,
            ``near_tie``), so a
            reviewer sees why a group is on the list.
    """

    risk: np.ndarray
    flagged: np.ndarray
    ranking: np.ndarray
    evidence: dict[str, np.ndarray]


def review_groups(group_of: np.ndarray, n_groups: int, left: np.ndarray, right: np.ndarray,
                  scores: np.ndarray, body: np.ndarray, model: ScoreModel,
                  ambiguous: np.ndarray | None = None, *, flag_at: float = FLAG_AT,
                  dedup: np.ndarray | None = None,
                  split_floor: float | None = None,
                  known: tuple[np.ndarray, np.ndarray] | None = None,
                  same_body: SameBody | None = None) -> Review:  # fmt: skip
    """Score every group (see the module docstring).

    ``dedup``: ``(n_bodies,)`` bool, the deduplicating bodies; ``split_floor``: the run's
    dedup support floor (``clustering.support_floor``), from which a pair between two
    groups of one deduplicating body is evidence of a split. ``known``: ``(left, right)``
    record pairs people confirmed are one person (the clustering's ``must_link``): they
    hold a group's parts together as firmly as a likely link, so a weak link people
    already answered for is not a bridge to ask about again. ``same_body``: the score
    models of two records of one deduplicating body (``threshold.same_body_floor``: the
    densities between bodies at each such body's own share of repeats); given, such a
    pair is weighed by its body's model instead of ``model`` (a body that may repeat a
    child holds few repeats and many siblings).
    """
    n = group_of.size
    risk = np.zeros(n_groups, np.float64)
    gl, gr = group_of[left], group_of[right]
    inside = gl == gr
    post = model.posterior(scores)
    # Pairs of two records of one deduplicating body (empty without ``dedup``).
    dd = np.zeros(0, bool) if dedup is None else np.asarray(dedup, bool)
    own_body = np.zeros(left.size, bool)
    if dd.size and left.size:
        own_body = (body[left] == body[right]) & dd[body[left]]
    if same_body is not None and own_body.any():
        own = same_body.posterior(scores[own_body], body[left[own_body]])
        post[own_body] = np.where(np.isnan(own), post[own_body], own)

    size = np.bincount(group_of, minlength=n_groups)
    multi = size[group_of] > 1
    evidence = {k: np.zeros(n_groups) for k in EVIDENCE}

    # Challenged member: a record whose best outside candidate scores about as high as
    # (or higher than) its best link inside its group.
    best_in = np.full(n, -1.0)
    il, ir, isc = left[inside], right[inside], scores[inside]
    np.maximum.at(best_in, il, isc)
    np.maximum.at(best_in, ir, isc)
    out_score, out_partner = _best_partner(left[~inside], right[~inside], scores[~inside], n)
    gap = best_in - out_score
    lowness = 1.0 - model.posterior(np.maximum(best_in, 0.0))
    challenged = np.where(
        multi & (out_partner >= 0),
        CHALLENGED_RISK * np.where(gap < CHALLENGE_GAP, lowness, 0.0),
        0.0,
    )
    np.maximum.at(evidence["challenged"], group_of, challenged)
    # (The challenger's own group is not flagged for it: on the tuning runs that added
    # 36 flags and 1 wrong group.)

    # Loose group: fewer internal candidate pairs than member pairs (a chain).
    internal = np.bincount(gl[inside], minlength=n_groups)
    loose = internal < size * (size - 1) // 2
    evidence["loose"][loose] = LOOSE_RISK

    # Bodies present in each group, as bitmasks.
    bmask = np.zeros(n_groups, np.int64)
    np.bitwise_or.at(bmask, group_of, np.left_shift(np.int64(1), body.astype(np.int64)))
    # Two groups clash when they hold records of one body, unless that body deduplicates.
    # With ``same_body`` two groups' records of one such body can only be one child where
    # they score like one (``clustering``'s ``same_floor``): such a pair is weighed itself,
    # and the body clashes like any other.
    single = ~np.int64(0)
    if dedup is not None and same_body is None:
        for b in np.flatnonzero(dd):
            single &= ~np.left_shift(np.int64(1), np.int64(b))

    ext = np.flatnonzero(~inside & (post >= MIN_EVIDENCE))
    if ext.size:
        x, y, s, p = left[ext], right[ext], scores[ext], post[ext]
        gx, gy = group_of[x], group_of[y]
        clash = (bmask[gx] & bmask[gy] & single) != 0
        ev = p.copy()
        # Contested slot: compare with the score of the occupant's link.
        slot: dict[tuple[int, int], int] = {}
        for r in np.flatnonzero(multi):
            slot[(int(group_of[r]), int(body[r]))] = int(r)
        pair_score = {(int(a), int(b)): float(c) for a, b, c in zip(il, ir, isc, strict=True)}
        for i in np.flatnonzero(clash):
            xi, yi = int(x[i]), int(y[i])
            gap = -np.inf
            held_loosely = False
            for a, b in ((xi, yi), (yi, xi)):
                w = slot.get((int(group_of[b]), int(body[a])))
                if w is not None and w != a:
                    # The occupant's own score with b (below the floor when not listed).
                    sw = pair_score.get((min(w, b), max(w, b)), 0.0)
                    gap = max(gap, sw - float(s[i]))
                    # A swap is plausible only if b or the challenger a is held by its
                    # own group no more strongly than by this link (within BEATEN_HOLD;
                    # a record alone is not held at all).
                    held_loosely |= min(best_in[a], best_in[b]) - float(s[i]) <= BEATEN_HOLD
            if -np.inf < gap <= -BEATEN_BY and held_loosely:
                # The challenger scores higher with b than the record holding its slot:
                # b was joined to its group through other members, not through w.
                ev[i] = BEATEN_WEIGHT * p[i]
            else:
                # (No occupant in either slot: the groups clash in a third body.)
                ev[i] = CONTESTED_WEIGHT * p[i] * np.exp(-max(gap, 0.0) / TIE_SCALE)
        for name, sel in (("missed", ~clash), ("contested", clash)):
            np.maximum.at(evidence[name], gx[sel], ev[sel])
            np.maximum.at(evidence[name], gy[sel], ev[sel])

    # Weak bridge: parts of a group, each of two or more records held together by links
    # more likely matches than not, joined only by links more likely non-matches.
    strong = inside & (post > BRIDGE_P)
    held_l, held_r = left[strong], right[strong]
    if known is not None:
        kl = np.asarray(known[0], np.int64)
        kr = np.asarray(known[1], np.int64)
        same = group_of[kl] == group_of[kr]
        held_l = np.concatenate([held_l, kl[same]])
        held_r = np.concatenate([held_r, kr[same]])
    part = components(n, held_l, held_r)
    in_big = np.bincount(part, minlength=n)[part] >= 2
    group_parts = np.unique(group_of[in_big] * np.int64(n) + part[in_big])
    bridged = np.bincount(group_parts // max(n, 1), minlength=n_groups) >= 2
    cross = inside & (part[left] != part[right])
    bridge_p = np.zeros(n_groups)
    np.maximum.at(bridge_p, gl[cross], post[cross])
    evidence["bridge"] = np.where(bridged, 1.0 - bridge_p, 0.0)

    # Outvoted member: a record with more close, likely links (P > BRIDGE_P, at most
    # OUTVOTE_GAP below its best link inside its group) to another group that has no record
    # of its body than to its own group.
    src = np.concatenate([left, right])
    dst = np.concatenate([right, left])
    s2 = np.concatenate([scores, scores])
    p2 = np.concatenate([post, post])
    close = (p2 > BRIDGE_P) & (s2 >= best_in[src] - OUTVOTE_GAP) & multi[src]
    src, to = src[close], group_of[dst[close]]
    key, count = np.unique(src * np.int64(n_groups) + to, return_counts=True)
    r, h = key // n_groups, key % n_groups
    own = h == group_of[r]
    own_count = np.zeros(n, np.int64)
    own_count[r[own]] = count[own]
    # A group holding a record of r's body has no room, deduplicating bodies included:
    # one such body's groups that belong together are the split evidence's case.
    room = (bmask[h] >> body[r].astype(np.int64)) & 1 == 0
    out = ~own & room & (count > own_count[r])
    evidence["outvoted"][group_of[r[out]]] = OUTVOTED_RISK
    evidence["outvoted"][h[out]] = OUTVOTED_RISK

    # Split duplicates: two groups of one deduplicating body with a pair between them at
    # or above the support floor (a score strangers reach only far out in their spread),
    # unless the groups each hold a record of a body that does not deduplicate: then they
    # are two people by that body's one record per person (twins with their own records).
    if dedup is not None and split_floor is not None:
        one_each = np.int64(0)
        for b in np.flatnonzero(~dd):
            one_each |= np.left_shift(np.int64(1), np.int64(b))
        same = own_body & ~inside & ((bmask[gl] & bmask[gr] & one_each) == 0)
        if same_body is None:
            same &= scores >= split_floor
            risk_same = np.full(left.size, SPLIT_RISK)
        else:
            # Weighed by the body's own model: a sibling pair is no evidence, a pair that
            # could be a repeat left apart (near the same-body floor) is.
            same &= post >= MIN_EVIDENCE
            risk_same = post
        np.maximum.at(evidence["split"], gl[same], risk_same[same])
        np.maximum.at(evidence["split"], gr[same], risk_same[same])

    # Repeat: a group holding two records of one deduplicating body, each record weighed
    # by its best pair with another of them (P at the body's own share of repeats).
    if same_body is not None:
        rep = inside & own_body
        if rep.any():
            best_rep = np.full(n, -1.0)
            np.maximum.at(best_rep, left[rep], post[rep])
            np.maximum.at(best_rep, right[rep], post[rep])
            has = best_rep >= 0
            np.maximum.at(evidence["repeat"], group_of[has], 1.0 - best_rep[has])

    # Missing body: records of A whose group lacks B, where A is nearly always with B.
    n_bodies = int(body.max()) + 1 if n else 0
    if n_bodies > 1:
        has = ((bmask[group_of][:, None] >> np.arange(n_bodies)) & 1).astype(bool)  # (n, nb)
        # Each record's best candidate in each body (-1: none at or above the floor).
        key = np.concatenate([left * n_bodies + body[right], right * n_bodies + body[left]])
        _, cand = _best_partner(key[: left.size], right, scores, n * n_bodies,
                                         key[left.size :], left)  # fmt: skip
        for a in range(n_bodies):
            rows = np.flatnonzero(body == a)
            if not rows.size:
                continue
            rho = has[rows].mean(axis=0)  # share of A's records grouped with each body
            rho[a] = 0.0
            ev_body = np.clip((rho - RHO_FROM) / (1.0 - RHO_FROM), 0.0, 1.0) * MISSING_WEIGHT
            missing = (~has[rows]) * ev_body[None, :]  # (rows, nb)
            np.maximum.at(evidence["missing_body"], group_of[rows], missing.max(axis=1))
            # The record's best candidate in the missing body: its group is the other half.
            for b in np.flatnonzero(ev_body > 0):
                sel = rows[missing[:, b] > 0]
                y = cand[sel * n_bodies + b]
                ok = y >= 0
                np.maximum.at(evidence["partner"], group_of[y[ok]],
                              MISSING_PARTNER * ev_body[b])  # fmt: skip

    if ambiguous is not None and ambiguous.any():
        # Near-tie: the clustering refused a merge between rivals within its margin. A
        # group of one record is put to a person (its partner may be the one refused); a
        # group that has members is ordered by the best score between it and another
        # group, never flagged on this alone.
        ext = ~inside & (scores >= model.threshold)
        q = np.zeros(n_groups)
        np.maximum.at(q, gl[ext], post[ext])
        np.maximum.at(q, gr[ext], post[ext])
        lone = ambiguous & (size == 1)
        evidence["near_tie"] = np.where(lone, np.maximum(q, flag_at), flag_at * q * ambiguous)
    else:
        evidence["near_tie"] = np.zeros(n_groups)
    for ev_k in evidence.values():
        np.maximum(risk, ev_k, out=risk)
    flagged = risk >= flag_at
    idx = np.flatnonzero(flagged)
    ranking = idx[np.argsort(-risk[idx], kind="stable")]
    return Review(risk, flagged, ranking, evidence)


def _best_partner(left: np.ndarray, right: np.ndarray, scores: np.ndarray, n: int,
                  key_right: np.ndarray | None = None, key_left: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Best score and partner per key over pairs ``(left, right, scores)``, both ways.

    Keys are the records themselves (``n`` of them), or, with ``key_right``/``key_left``,
    ``left`` and ``key_right`` are keys (``< n``) whose partners are ``right`` and
    ``key_left``. Returns ``(n,)`` float64 scores (-1 where none) and int64 partners (-1).
    """
    if key_right is None:
        keys = np.concatenate([left, right])
        partners = np.concatenate([right, left])
    else:
        keys = np.concatenate([left, key_right])
        partners = np.concatenate([right, key_left])
    both = np.concatenate([scores, scores])
    best = np.full(n, -1.0)
    partner = np.full(n, -1, np.int64)
    if keys.size:
        order = np.lexsort((partners, -both, keys))  # per key: highest score, lowest partner
        k = keys[order]
        first = np.ones(k.size, bool)
        first[1:] = k[1:] != k[:-1]
        best[k[first]] = both[order][first]
        partner[k[first]] = partners[order][first]
    return best, partner
