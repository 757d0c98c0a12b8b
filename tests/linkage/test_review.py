"""The ranked review list: evidence per group from the scores alone."""

from __future__ import annotations

import numpy as np
import pytest

from linkage.review import FLAG_AT, OUTVOTED_RISK, Review, review_groups
from linkage.threshold import SameBody, ScoreModel


def _model(t: float = 0.8) -> ScoreModel:
    return ScoreModel(t, "fixed", t - 0.1)


def test_missed_link_and_missing_body_are_flagged_and_ranked_first() -> None:
    # 40 children in bodies 0 and 1, all linked, except child 39 whose pair scored 0.79
    # (just below 0.8): two singleton groups that should have been one.
    n = 40
    body = np.array([0] * n + [1] * n)
    left = np.arange(n)
    right = np.arange(n) + n
    scores = np.full(n, 0.95)
    scores[-1] = 0.79
    group_of = np.concatenate([np.arange(n), np.arange(n)])
    group_of[2 * n - 1] = n  # record 79 alone
    rv = review_groups(group_of, n + 1, left, right, scores, body, _model())
    assert rv.flagged[n - 1] and rv.flagged[n]
    assert rv.flagged.sum() == 2
    assert set(rv.ranking.tolist()) == {n - 1, n}
    assert rv.evidence["missed"][n - 1] > FLAG_AT
    assert rv.evidence["missing_body"][n] > FLAG_AT  # body 1 nearly always with body 0


def test_contested_slot_alone_orders_but_does_not_flag() -> None:
    # Twins: records 0, 1 (body 0) against 2, 3 (body 1); 0-2 and 1-3 linked, 0-3 close.
    body = np.array([0, 0, 1, 1])
    left = np.array([0, 1, 0])
    right = np.array([2, 3, 3])
    scores = np.array([0.90, 0.90, 0.899])
    group_of = np.array([0, 1, 0, 1])
    rv = review_groups(group_of, 2, left, right, scores, body, _model())
    assert rv.evidence["contested"].max() > 0
    assert not rv.flagged.any()
    assert rv.risk.max() < FLAG_AT


def test_ambiguous_groups_from_clustering_stay_flagged() -> None:
    body = np.array([0, 1])
    rv = review_groups(np.array([0, 1]), 2, np.zeros(0, np.int64), np.zeros(0, np.int64),
                       np.zeros(0), body, _model(), np.array([True, False]))  # fmt: skip
    assert rv.flagged.tolist() == [True, False]
    assert rv.ranking.tolist() == [0]


def test_near_tie_between_strangers_beside_a_complete_group_is_not_flagged() -> None:
    # Group 0 = records 0 (body 0) and 1 (body 1), linked at 0.95. Records 2 and 3 (body
    # 2, alone) both score with 0 just above the threshold, within the clustering's
    # margin: the merge was refused and all three groups came back ambiguous. At 0.805
    # under a step at 0.8 (P(match) about 0.6) the tie is put to a person; under a
    # fitted mixture whose strangers crowd at 0.8 (P about 0) it is two strangers beside
    # a complete group: group 0 is ordered, not flagged; the lone records 2 and 3 stay
    # flagged.
    body = np.array([0, 1, 2, 2])
    group_of = np.array([0, 0, 1, 2])
    left, right = np.array([0, 0, 0]), np.array([1, 2, 3])
    amb = np.array([True, True, True])
    rv = review_groups(group_of, 3, left, right, np.array([0.95, 0.805, 0.80]), body,
                       _model(), amb)  # fmt: skip
    assert rv.flagged.tolist() == [True, True, True]
    mixture = ScoreModel(0.8, "capped: estimate 0.88 above the default", 0.7, 0.5,
                         10.0, 20.0, 20.0, 1.0, 100)  # fmt: skip
    assert mixture.posterior(np.array([0.805]))[0] < 0.01
    rv = review_groups(group_of, 3, left, right, np.array([0.95, 0.805, 0.80]), body,
                       mixture, amb)  # fmt: skip
    assert rv.flagged.tolist() == [False, True, True]
    assert rv.evidence["near_tie"][0] < FLAG_AT
    assert sorted(rv.ranking.tolist()) == [1, 2]


def test_beaten_slot_is_flagged() -> None:
    # Twins with the same name: body 0 holds 0 (twin A) and 1 (twin B); body 1 holds 2
    # (A); body 2 holds 3 (B, no given name). 3 joined A's group through 2 (0.93) although
    # it scores higher with B's own record 1 (0.81) than with A's record 0 (0.75).
    body = np.array([0, 0, 1, 2])
    left = np.array([0, 2, 0, 1])
    right = np.array([2, 3, 3, 3])
    scores = np.array([0.95, 0.93, 0.75, 0.81])
    group_of = np.array([0, 1, 0, 0])
    rv = review_groups(group_of, 2, left, right, scores, body, _model(0.7))
    assert rv.flagged.tolist() == [True, True]
    assert rv.evidence["contested"][0] >= FLAG_AT
    # The same pair scoring just below the occupant's link only orders the list.
    scores[3] = 0.74
    rv = review_groups(group_of, 2, left, right, scores, body, _model(0.7))
    assert rv.evidence["contested"].max() < FLAG_AT


def test_siblings_held_firmly_by_their_own_groups_are_not_a_beaten_slot() -> None:
    # Two right groups of siblings: {0 (body 0), 2 (body 1), 4 (body 2)} and {1 (body 0),
    # 3 (body 1)}. The sibling's body-1 record 3 scores 0.75 with 4, above 4's own
    # body-1 record 2 (0.70, a poor record), but 3 is held at 0.99 by its own group and
    # 4 at 0.99 by 0: no swap is plausible, so the slot only orders the list.
    body = np.array([0, 0, 1, 1, 2])
    left = np.array([0, 1, 0, 2, 3, 0])
    right = np.array([4, 3, 2, 4, 4, 3])
    scores = np.array([0.99, 0.99, 0.72, 0.70, 0.75, 0.65])
    group_of = np.array([0, 1, 0, 1, 0])
    rv = review_groups(group_of, 2, left, right, scores, body, _model(0.7))
    assert rv.evidence["contested"].max() < FLAG_AT
    assert not rv.flagged.any()
    # The same slot with record 3 alone (not held by a group of its own) is beaten.
    keep = [0, 2, 3, 4, 5]
    rv = review_groups(np.array([0, 1, 0, 2, 0]), 3, left[keep], right[keep], scores[keep],
                       body, _model(0.7))  # fmt: skip
    assert rv.evidence["contested"][0] >= FLAG_AT


def test_dedup_body_records_in_two_groups_are_a_missed_link_not_a_clash() -> None:
    # One deduplicating body: two groups of duplicates with a pair between them just
    # below the threshold. Without ``dedup`` they clash (same body) and only order the
    # list; with it the pair is a missed link.
    body = np.zeros(4, np.int64)
    left, right = np.array([0, 2, 1]), np.array([1, 3, 2])
    scores = np.array([0.95, 0.95, 0.79])
    group_of = np.array([0, 0, 1, 1])
    model = _model(0.7)
    clash = review_groups(group_of, 2, left, right, scores, body, model)
    assert clash.evidence["missed"].max() == 0.0
    dd = review_groups(group_of, 2, left, right, scores, body, model, dedup=np.array([True]))
    assert dd.evidence["missed"][0] == dd.evidence["missed"][1] > 0.0
    assert dd.flagged.all()


def test_a_challenged_low_link_orders_the_list_but_does_not_flag_on_its_own() -> None:
    # Records 0 (body 0) and 2 (body 1) were joined at 0.78 (P(match) about 0.12 under a
    # step at 0.8). Record 1 (body 0, alone) scores with 2 as well: at 0.785 it challenges
    # the link, which raises group 0's risk — but below FLAG_AT: on the kawase and
    # synthetic towns such groups were right 132 times in 136 (stop 24). At 0.70 it does
    # not challenge, and a low link alone is no evidence at all.
    body = np.array([0, 0, 1])
    group_of = np.array([0, 1, 0])
    left, right = np.array([0, 1]), np.array([2, 2])
    rv = review_groups(group_of, 2, left, right, np.array([0.78, 0.785]), body, _model())
    assert 0.0 < rv.evidence["challenged"][0] < FLAG_AT
    assert rv.risk[0] == rv.evidence["challenged"][0] > rv.risk[1]
    assert not rv.flagged.any()
    rv = review_groups(group_of, 2, left, right, np.array([0.78, 0.70]), body, _model())
    assert not rv.flagged.any()
    assert rv.evidence["challenged"].max() == 0.0


def test_a_challenged_group_with_other_evidence_is_still_flagged() -> None:
    # As above, and record 3 (body 2, alone) scores 0.83 with record 0: a missed link
    # (P above one half) flags group 0; the challenge adds nothing to the flag, but the
    # group is on the list.
    body = np.array([0, 0, 1, 2])
    group_of = np.array([0, 1, 0, 2])
    left, right = np.array([0, 1, 0]), np.array([2, 2, 3])
    rv = review_groups(group_of, 3, left, right, np.array([0.78, 0.785, 0.83]), body,
                       _model())  # fmt: skip
    assert rv.evidence["challenged"][0] > 0.0
    assert rv.flagged[0] and rv.evidence["missed"][0] >= FLAG_AT


def test_a_model_that_calls_every_score_a_non_match_flags_nothing_unchallenged() -> None:
    # 40 children linked at 0.95 under a model whose step sits at 0.99 (a bad fit: every
    # in-group link looks like a non-match). No record has a rival, so no group is
    # flagged: the count does not follow the fit.
    n = 40
    body = np.array([0] * n + [1] * n)
    group_of = np.concatenate([np.arange(n), np.arange(n)])
    scores = np.full(n, 0.95)
    rv = review_groups(group_of, n, np.arange(n), np.arange(n) + n, scores, body,
                       ScoreModel(0.99, "fixed", 0.9))  # fmt: skip
    assert not rv.flagged.any()


def test_missing_body_also_flags_the_best_candidates_group() -> None:
    # 40 children in bodies 0 and 1; child 39's two records (39, 79) scored 0.72, below
    # the threshold 0.8 (P(match) about 0): two singletons. Body 1's records are nearly
    # always with body 0, so 79's group is flagged (missing body) and so is the group of
    # its best candidate in body 0 (39): the other half of the same question. Record 80
    # (body 0, no candidate) stays off the list.
    n = 40
    body = np.array([0] * n + [1] * n + [0])
    left = np.arange(n)
    right = np.arange(n) + n
    scores = np.full(n, 0.95)
    scores[-1] = 0.72
    group_of = np.concatenate([np.arange(n), np.arange(n), [n + 1]])
    group_of[2 * n - 1] = n
    rv = review_groups(group_of, n + 2, left, right, scores, body, _model())
    assert rv.evidence["missed"][n - 1] < FLAG_AT  # the pair itself says non-match
    assert rv.evidence["missing_body"][n] >= FLAG_AT
    assert rv.evidence["partner"][n - 1] >= FLAG_AT
    assert np.flatnonzero(rv.flagged).tolist() == [n - 1, n]


def test_two_peoples_records_joined_by_one_weak_link_are_a_bridge() -> None:
    # Records 0 (body 0) and 1 (body 1) are one child, 2 (body 2) and 3 (body 3) another:
    # each pair linked at 0.95. The greedy joined them through 1-2 at 0.78, more likely a
    # non-match than a match (P about 0.12 under a step at 0.8): flagged, ranked by it.
    body = np.array([0, 1, 2, 3])
    left, right = np.array([0, 2, 1]), np.array([1, 3, 2])
    group_of = np.zeros(4, np.int64)
    rv = review_groups(group_of, 1, left, right, np.array([0.95, 0.95, 0.78]), body, _model())
    assert rv.evidence["bridge"][0] == pytest.approx(1.0 - _model().posterior(np.array([0.78]))[0])
    assert rv.flagged.tolist() == [True]
    # A likely link between the two parts: one child's records, nothing to ask.
    rv = review_groups(group_of, 1, left, right, np.array([0.95, 0.95, 0.85]), body, _model())
    assert rv.evidence["bridge"][0] == 0.0
    # One record joined by a weak link is not two parts (a low link alone is not evidence).
    rv = review_groups(group_of, 1, np.array([0, 0, 2]), np.array([1, 2, 3]),
                       np.array([0.95, 0.95, 0.78]), body, _model())  # fmt: skip
    assert rv.evidence["bridge"][0] == 0.0
    assert not rv.flagged.any()


def test_a_weak_link_people_confirmed_is_no_bridge() -> None:
    # The group of the bridge test, with the coordinator's answer that 1 and 2 are one
    # child (or any pair across the two parts, listed or not): nothing left to ask.
    body = np.array([0, 1, 2, 3])
    left, right, scores = np.array([0, 2, 1]), np.array([1, 3, 2]), np.array([0.95, 0.95, 0.78])
    group_of = np.zeros(4, np.int64)
    for known in ((np.array([1]), np.array([2])), (np.array([3]), np.array([0]))):
        rv = review_groups(group_of, 1, left, right, scores, body, _model(), known=known)
        assert rv.evidence["bridge"][0] == 0.0 and not rv.flagged.any()
    # A confirmed pair in another group says nothing about this one.
    group_of2 = np.array([0, 0, 0, 0, 1, 1])
    rv = review_groups(group_of2, 2, left, right, scores, np.array([0, 1, 2, 3, 0, 1]),
                       _model(), known=(np.array([4]), np.array([5])))  # fmt: skip
    assert rv.evidence["bridge"][0] > FLAG_AT and rv.flagged[0]


def _twins(group_of: list[int], far: bool = False) -> Review:
    # Twins A and B, one record each in bodies 0, 1 and 2 (A: 0, 1, 2; B: 3, 4, 5). A's
    # body-0 record 0 and B's body-1 record 4 lack a reading: they score 0.90 with each
    # other, and each only 0.84 with its own twin's other records (0.75 with ``far``).
    body = np.array([0, 1, 2, 0, 1, 2])
    own = 0.75 if far else 0.84
    pairs = [(1, 2, 0.99), (3, 5, 0.99), (0, 4, 0.90), (0, 1, own), (0, 2, own),
             (4, 3, own), (4, 5, own), (1, 5, 0.78), (2, 3, 0.78)]  # fmt: skip
    left = np.array([p[0] for p in pairs])
    right = np.array([p[1] for p in pairs])
    scores = np.array([p[2] for p in pairs])
    g = np.array(group_of)
    return review_groups(g, int(g.max()) + 1, left, right, scores, body, _model(0.7))


def test_a_record_with_more_close_links_to_a_group_with_room_for_it_is_outvoted() -> None:
    # Wrong: {0, 4} (the two records without a reading) apart from {1, 2} and {3, 5}.
    rv = _twins([0, 1, 1, 2, 0, 2])
    assert rv.evidence["outvoted"].tolist() == [OUTVOTED_RISK] * 3
    assert rv.flagged.all()
    # Right: each twin's records in one group. B's group has no room for record 0.
    rv = _twins([0, 0, 0, 1, 1, 1])
    assert rv.evidence["outvoted"].max() == 0.0
    # Links far below the record's link inside its group (siblings, not the record's own
    # child) do not outvote it.
    rv = _twins([0, 1, 1, 2, 0, 2], far=True)
    assert rv.evidence["outvoted"].max() == 0.0


def test_a_dedup_bodys_own_pairs_are_weighed_by_its_own_model() -> None:
    # Body 0 deduplicates, body 1 holds one record per child. Record 0 (body 0) and 2
    # (body 1) are one child's group; record 1 (body 0) is alone and scores 0.8 with 0.
    body = np.array([0, 0, 1])
    dedup = np.array([True, False])
    left, right, scores = np.array([0, 0, 1]), np.array([2, 1, 2]), np.array([0.95, 0.8, 0.7])
    group_of = np.array([0, 1, 0])
    model = ScoreModel(0.6, "fixed", 0.6)  # a sure match from 0.6 up
    # Few repeats in the body: 0.8 is P 0.05 there, 0.95 nearly 1.
    own = ScoreModel(0.6, "review: within one body", 0.6, 0.05, 1.0, 8.0, 8.0, 1.0, 100)
    assert own.posterior(np.array([0.8]))[0] == pytest.approx(0.05, abs=1e-3)
    same = SameBody(np.array([0.85, 2.0]), (own, None))
    plain = review_groups(group_of, 2, left, right, scores, body, model, dedup=dedup,
                          split_floor=0.6)  # fmt: skip
    assert plain.evidence["split"][1] == 0.5  # SPLIT_RISK: a pair above the floor
    rv = review_groups(group_of, 2, left, right, scores, body, model, dedup=dedup,
                       split_floor=0.6, same_body=same)  # fmt: skip
    assert rv.evidence["split"][1] == pytest.approx(0.05, abs=1e-3) and not rv.flagged.any()
    # A pair that could be a repeat left apart is put to a person.
    near = review_groups(group_of, 2, left, right, np.array([0.95, 0.9, 0.7]), body, model,
                         dedup=dedup, split_floor=0.6, same_body=same)  # fmt: skip
    p_near = own.posterior(np.array([0.9]))[0]
    assert near.evidence["split"][1] == pytest.approx(p_near) and near.flagged[1]
    # Each group holding its own record of body 1: two children, no split to ask about.
    body4 = np.array([0, 0, 1, 1])
    two = review_groups(np.array([0, 1, 0, 1]), 2, left, right, np.array([0.95, 0.9, 0.7]),
                        body4, model, dedup=dedup, split_floor=0.6, same_body=same)  # fmt: skip
    assert two.evidence["split"].max() == 0.0
    # A group holding both of body 0's records: a repeat, weighed by 1 - P of its pair.
    together = review_groups(np.zeros(3, np.int64), 1, left, right, scores, body, model,
                             dedup=dedup, split_floor=0.6, same_body=same)  # fmt: skip
    assert together.evidence["repeat"][0] == pytest.approx(0.95, abs=1e-3)
    assert together.flagged[0]
    sure = review_groups(np.zeros(3, np.int64), 1, left, right, np.array([0.95, 0.97, 0.9]),
                         body, model, dedup=dedup, split_floor=0.6, same_body=same)  # fmt: skip
    assert sure.evidence["repeat"][0] < 0.01
    # Without the body's own model (FEBRL3, one body) there is no repeat evidence.
    assert plain.evidence["repeat"].max() == 0.0
