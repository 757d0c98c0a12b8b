"""The coordinator's side (e.g. the municipal こども家庭センター): its own trust zone.

Runs on the coordinator's machine only. It holds the coordinator's key pair, decrypts the
signals bodies sent, applies the readable support rules and makes the support list, and
serves the dashboard on 127.0.0.1. It talks to the linkage server through ``apiclient``
only and may use ``linkage``; it never imports ``server`` or ``encoders`` (checked by
import-linter). The private key never leaves this side.
"""
