"""Privacy benchmark: attacks an honest-but-curious operator can run on the encodings.

``python -m benchmarks.privacy`` (or ``kakehashi bench privacy``); see ``docs/privacy.md``.
Modules: :mod:`.data` (a synthetic municipality, two bodies encoded with the real encoder
pipeline, the attacker's knowledge), :mod:`.bits` (Dice on bit matrices), :mod:`.attacks`
(frequency pattern mining, similarity-graph matching, bit-pattern decoding, leakage
statistics), :mod:`.run` (the report).
"""
