"""The coordinator's dashboard (``kakehashi dashboard``): web pages on 127.0.0.1."""

from coordinator.dashboard.app import DashboardConfig, create_app

__all__ = ["DashboardConfig", "create_app"]
