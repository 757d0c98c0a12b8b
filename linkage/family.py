"""Families: guardians, pregnancies and households related to linked children.

Three pure steps run after the ordinary linkage of children's CLKs and of guardians' CLKs
(``linkage.engine.link`` on each; guardian CLKs use the children's schema and fields):

1. **Date tags** (computed by the department, never by the server). A pregnancy record
   knows the mother and an expected date of birth (出産予定日), but not the child; the
   child's record knows the child's birth date. Both are turned into keyed tags of a
   date *bucket* with a key derived from the project's linkage secret, so the server can
   test "is this birth date within this pregnancy's window?" by set membership without
   seeing a date: :func:`derive_tag_key`, :func:`date_tag`, :func:`window_tags`.
2. **Households** (:func:`households`): connected components of child groups that share
   any guardian group (siblings, half-siblings through a shared parent, step-families
   through a step-parent guardian).
3. **Pregnancy → child** (:func:`match_pregnancies`): a pregnancy links to every child
   group related to the same guardian (mother) group whose birth tag lies in the window.

Nothing here imports a party's package; inputs are arrays of group indices (int64) and
opaque tags (``bytes``).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from linkage.components import components
from linkage.errors import LinkageError

DATE_TAG_BYTES = 16
"""Length of one date tag (HMAC-SHA256 truncated to 128 bits)."""
TAG_KEY_INFO = b"kakehashi/date-tag/v1"
"""HKDF ``info`` label: the tag key is independent of every other key drawn from the
same linkage secret (CLK hashing keys, signal keys)."""

BEFORE_DAYS = 126
"""Default days before the expected date a birth may fall: 18 weeks, i.e. a birth at
22 weeks + 0 days of gestation when the expected date is 40 + 0 — the limit of viability
used in Japanese perinatal statistics (births before 22 weeks are miscarriages, 流産,
and give no child record). Preterm births (< 37 weeks) are about 5.6 % of births in
Japan, births < 28 weeks about 0.2 %; all fall inside this window."""
AFTER_DAYS = 21
"""Default days after the expected date: 43 + 0 weeks. Post-term births (≥ 42 weeks) are
well under 1 % in Japan because labour is induced at 41–42 weeks; the extra week covers
an expected date entered on the 妊娠届 by last menstrual period and later re-dated by
ultrasound (re-dating by up to ~7 days is common)."""


def derive_tag_key(secret: bytes) -> bytes:
    """The 32-byte date-tag key, HKDF-SHA256 of the project's linkage ``secret``.

    The secret is shared by the bodies of a project and never by the server, so the
    server cannot compute (and so cannot dictionary-attack) the tag of any date.
    """
    if not isinstance(secret, bytes | bytearray) or len(secret) < 16:
        raise LinkageError("the linkage secret must be at least 16 bytes")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=TAG_KEY_INFO).derive(
        bytes(secret)
    )


def week_bucket(day: datetime.date) -> str:
    """The bucket of ``day``: its ISO week, as ``"2026-W14"``."""
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def date_tag(key: bytes, day: datetime.date) -> bytes:
    """Keyed tag (``DATE_TAG_BYTES`` bytes) of the ISO week that contains ``day``.

    Bucket choice — ISO week rather than day:

    * privacy: the server sees which records share a tag. Day tags would show which
      children were born on the same day (twins stand out, and so do the few children
      born on a rare day), and a pregnancy's set of day tags pins the expected date to
      the day. Week tags make every tag shared by about seven times as many births
      (about 20 a week in a city of 100 000 children under 18), so equal tags say less;
    * accuracy: nothing that matters is lost. A pregnancy links only to children of the
      *same mother*, whose births are at least ~9 months apart (twins: the same week,
      linked to the same pregnancy anyway), so a window that ends up to 6 days wider at
      each edge cannot take a sibling. The bucket only has to separate births of one
      mother, and weeks do that by a wide margin.

    Tags are HMAC-SHA256 of ``b"week:" + bucket`` truncated to 128 bits (collisions
    between the ~1 000 weeks in use are negligible).
    """
    if len(key) < 16:
        raise LinkageError("the date-tag key must be at least 16 bytes")
    mac = hmac.new(key, b"week:" + week_bucket(day).encode("ascii"), hashlib.sha256)
    return mac.digest()[:DATE_TAG_BYTES]


def window_tags(
    key: bytes,
    expected: datetime.date,
    *,
    before_days: int = BEFORE_DAYS,
    after_days: int = AFTER_DAYS,
) -> list[bytes]:
    """Tags of every ISO week that meets ``[expected - before_days, expected + after_days]``.

    Chronological order, no repeats; with the defaults 21 or 22 tags. The window is
    asymmetric because births come early far more often and far earlier than late:
    :data:`BEFORE_DAYS` (22 + 0 weeks, the limit of viability) and :data:`AFTER_DAYS`
    (43 + 0 weeks). See :func:`window_offsets` for the same tags with their distance.
    """
    return list(window_offsets(key, expected, before_days=before_days, after_days=after_days))


def window_offsets(
    key: bytes,
    expected: datetime.date,
    *,
    before_days: int = BEFORE_DAYS,
    after_days: int = AFTER_DAYS,
) -> dict[bytes, int]:
    """The tags of :func:`window_tags` (same order) -> offset in weeks from the expected
    date's week (negative: before). Passed to :func:`match_pregnancies` instead of a set,
    they let it give a child claimed by two pregnancies of one mother to the closer one;
    storing them tells the holder the order of the tags, which overlapping windows
    reveal anyway."""
    if before_days < 0 or after_days < 0:
        raise LinkageError("window days must not be negative")
    first = expected - datetime.timedelta(days=before_days)
    last = expected + datetime.timedelta(days=after_days)
    monday = first - datetime.timedelta(days=first.weekday())
    centre = expected - datetime.timedelta(days=expected.weekday())
    out: dict[bytes, int] = {}
    while monday <= last:
        out[date_tag(key, monday)] = (monday - centre).days // 7
        monday += datetime.timedelta(days=7)
    return out


MIN_GAP_WEEKS = 10
"""Two pregnancies of one woman have expected dates at least ~10 weeks apart: a 妊娠届
is made at ≥ 8 weeks, so a pregnancy lost after it and the next one conceived at once
are 8 + 2 weeks apart at the very least."""
NOTIFIED_MAX_DAYS = 36 * 7
"""An expected date is plausible when it lies 0 to 36 weeks after the 妊娠届's
notification date (gestational age 4 to 40 weeks when notified; most are notified
before 11 weeks, some late)."""
FROM_NOTIFIED_DAYS = 39 * 7
"""A birth comes at most 39 weeks after notification (notified at 4 weeks at the
earliest, born by 43 + 0)."""


def pregnancy_window(
    key: bytes,
    expected: datetime.date | None,
    notified: datetime.date | None = None,
    *,
    before_days: int = BEFORE_DAYS,
    after_days: int = AFTER_DAYS,
) -> dict[bytes, int]:
    """The window of one 妊娠届, guarding against a mistyped or missing expected date.

    With a plausible ``expected`` date (0 to :data:`NOTIFIED_MAX_DAYS` after
    ``notified``, or no ``notified`` date), the :func:`window_offsets` of ``expected``.
    Otherwise — the expected date is missing, or implausible and so most likely mistyped
    (a year or month digit wrong, day and month swapped) — every week from ``notified``
    to ``notified + FROM_NOTIFIED_DAYS`` instead, offsets counted from ``notified + 30
    weeks`` (the usual expected date). The implausible date's own window is dropped: in
    the benchmark it took a sibling born a year away. The cost: when it is the 届出日
    that is wrong, the right expected date is not used and the birth is missed (the
    generator does not mistype 届出日, so the benchmark does not measure this). Empty
    when both dates are missing.
    """
    if expected is not None and (
        notified is None or 0 <= (expected - notified).days <= NOTIFIED_MAX_DAYS
    ):
        return window_offsets(key, expected, before_days=before_days, after_days=after_days)
    if notified is None:
        return {}
    centre = notified + datetime.timedelta(weeks=30)
    return window_offsets(key, centre, before_days=30 * 7, after_days=FROM_NOTIFIED_DAYS - 30 * 7)


def _int_array(name: str, values: np.ndarray) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise LinkageError(f"{name} must be a 1-D integer array")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < 0:
        raise LinkageError(f"{name} holds a negative group index")
    return arr


def households(
    child_group: np.ndarray, guardian_group: np.ndarray, n_child_groups: int
) -> np.ndarray:
    """Household of every child group: children who share a guardian, transitively.

    Args:
        child_group: ``(r,)`` int64, relation rows: the child's group in the children's
            linkage (``0 .. n_child_groups - 1``).
        guardian_group: ``(r,)`` int64, the guardian's group in the guardians' linkage,
            related to ``child_group`` of the same row.
        n_child_groups: number of child groups.

    Returns:
        ``(n_child_groups,)`` int64 household of each child group: connected components
        of the bipartite graph child group — guardian group, numbered ``0 .. h - 1`` in
        order of each household's smallest child group. A child group with no relation
        is a household of its own.
    """
    children = _int_array("child_group", child_group)
    guardians = _int_array("guardian_group", guardian_group)
    if children.shape != guardians.shape:
        raise LinkageError(
            f"child_group and guardian_group differ in length: {children.size} != {guardians.size}"
        )
    if n_child_groups < 0:
        raise LinkageError("n_child_groups must not be negative")
    if children.size and children.max() >= n_child_groups:
        raise LinkageError(
            f"child_group holds {int(children.max())}, beyond n_child_groups={n_child_groups}"
        )
    # Each guardian group joins its children to the first child seen with it: sorting
    # rows by guardian gives the edges (child, first child of the same guardian).
    order = np.argsort(guardians, kind="stable")
    g, c = guardians[order], children[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if g.size else np.zeros(0, np.int64)
    first_child = np.repeat(c[starts], np.diff(np.r_[starts, g.size]))
    smallest = components(n_child_groups, c, first_child)
    # Labels are each component's smallest member; number them in that order.
    _, labels = np.unique(smallest, return_inverse=True)
    return labels.astype(np.int64).reshape(n_child_groups)


@dataclass(frozen=True)
class PregnancyLinks:
    """Pregnancy → child links.

    Attributes:
        preg_index: ``(k,)`` int64 index of the pregnancy of each link (into the
            pregnancy arrays given to :func:`match_pregnancies`), sorted with
            ``child_group`` second.
        child_group: ``(k,)`` int64 the child group of each link; a multiple birth gives
            one link per child group, children are never merged.
        open: ``(m,)`` int64 indices of pregnancies with no child (not yet born, lost,
            moved away, or the child's record is missing).
        ambiguous: ``(k,)`` bool, True where the link's child could also be taken by
            another pregnancy of the same mother and no distance decided between them;
            such links are kept (both) and should be reviewed by a person.
    """

    preg_index: np.ndarray
    child_group: np.ndarray
    open: np.ndarray
    ambiguous: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def match_pregnancies(
    preg_guardian_group: np.ndarray,
    preg_window: Sequence[Collection[bytes]],
    child_group: np.ndarray,
    child_guardian_group: np.ndarray,
    child_birth_tag: Sequence[bytes],
) -> PregnancyLinks:
    """Link pregnancies to the children born of them.

    Args:
        preg_guardian_group: ``(p,)`` int64 group of each pregnancy's mother in the
            guardians' linkage.
        preg_window: ``p`` collections of date tags, each pregnancy's window
            (:func:`window_tags` as a set, or :func:`window_offsets`: tag -> offset in
            weeks, which also lets the closer pregnancy win, see below).
        child_group: ``(r,)`` int64 relation rows: a child group ...
        child_guardian_group: ``(r,)`` int64 ... related to this guardian group ...
        child_birth_tag: ``r`` tags, ... and that child's birth-date tag.

    Rule: pregnancy ``i`` links to child group ``c`` when some relation row relates ``c``
    to ``preg_guardian_group[i]`` and the row's birth tag is in ``preg_window[i]``. Each
    (pregnancy, child group) pair appears once however many rows support it. A child
    group that several pregnancies of the *same* mother could take (a lost pregnancy
    followed soon by another; the same pregnancy registered twice) goes to the pregnancy
    whose expected week is closest when every candidate window carries offsets
    (a mapping) and every other candidate's expected week is at least
    :data:`MIN_GAP_WEEKS` from the closest one's. Otherwise — a tie, a plain set, or two
    expected dates too close to be two pregnancies of one woman (the same pregnancy
    registered twice, or two women's records wrongly linked into one guardian group) —
    it is linked to the closest candidate and to every candidate within the gap, and
    those links are marked ``ambiguous``: a person decides, the engine does not guess.
    Pregnancies of *different* mother groups may share a child (a child's two guardians
    cannot both be its mother, but the guardians' linkage can be wrong); those links are
    kept and are not marked.
    """
    mothers = _int_array("preg_guardian_group", preg_guardian_group)
    children = _int_array("child_group", child_group)
    guardians = _int_array("child_guardian_group", child_guardian_group)
    if len(preg_window) != mothers.size:
        raise LinkageError(
            f"preg_window has {len(preg_window)} windows for {mothers.size} pregnancies"
        )
    if not (children.size == guardians.size == len(child_birth_tag)):
        raise LinkageError(
            "child_group, child_guardian_group and child_birth_tag differ in length: "
            f"{children.size}, {guardians.size}, {len(child_birth_tag)}"
        )
    by_guardian: dict[int, list[tuple[int, bytes]]] = {}
    for c, g, t in zip(children.tolist(), guardians.tolist(), child_birth_tag, strict=True):
        by_guardian.setdefault(g, []).append((c, t))
    # child group -> [(distance or None, pregnancy)] for the pregnancies that could take it
    claims: dict[tuple[int, int], list[tuple[int | None, int]]] = {}
    for i, (mother, window) in enumerate(zip(mothers.tolist(), preg_window, strict=True)):
        seen: set[int] = set()
        for c, tag in by_guardian.get(mother, ()):
            if c in seen or tag not in window:
                continue
            seen.add(c)
            offset = int(window[tag]) if isinstance(window, Mapping) else None
            claims.setdefault((mother, c), []).append((offset, i))
    links: list[tuple[int, int, bool]] = []
    for (_, c), cands in claims.items():
        if len(cands) == 1:
            links.append((cands[0][1], c, False))
            continue
        offsets = [o for o, _ in cands if o is not None]
        if len(offsets) == len(cands):
            # offset = birth week - expected week, so expected weeks differ by offset gaps
            best = min(offsets, key=abs)
            closest = [i for o, i in cands if o is not None and abs(o) == abs(best)]
            near = [
                i
                for o, i in cands
                if o is not None and abs(o) != abs(best) and abs(o - best) < MIN_GAP_WEEKS
            ]
            winners = closest + near
        else:
            winners = [i for _, i in cands]
        flag = len(winners) > 1
        links.extend((i, c, flag) for i in winners)
    links.sort()
    preg = np.array([i for i, _, _ in links], dtype=np.int64)
    kids = np.array([c for _, c, _ in links], dtype=np.int64)
    amb = np.array([f for _, _, f in links], dtype=bool)
    linked = np.zeros(mothers.size, dtype=bool)
    linked[preg] = True
    return PregnancyLinks(preg, kids, np.flatnonzero(~linked).astype(np.int64), amb)
