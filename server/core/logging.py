"""Structured JSON logs. Only fixed fields and ids are logged, never request bodies."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Send the ``kakehashi`` loggers to stderr as JSON lines (idempotent)."""
    logger = logging.getLogger("kakehashi")
    logger.setLevel(level.upper())
    if not any(getattr(h, "_kakehashi", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        handler._kakehashi = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.propagate = False


def uvicorn_log_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.dictConfig`` for uvicorn that writes its own messages as JSON lines too."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"handlers": ["json"], "level": level.upper(), "propagate": False},
            # Access lines carry full paths and query strings: the app logs requests itself.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
