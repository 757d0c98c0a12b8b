"""Structured JSON logs. Only fixed fields and ids are logged, never request bodies."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from server.core.files import private_dir, private_file

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


class PrivateFileHandler(logging.FileHandler):
    """Appends to a log file created with mode 0600 (and set to 0600 if it existed)."""

    def __init__(self, filename: str) -> None:
        private_dir(Path(filename).parent)
        private_file(Path(filename))
        super().__init__(filename, mode="a", encoding="utf-8")


def _handler(log_file: Path | None) -> logging.Handler:
    return PrivateFileHandler(str(log_file)) if log_file else logging.StreamHandler()


def configure_logging(level: str = "INFO", log_file: Path | None = None) -> None:
    """Send the ``kakehashi`` loggers to stderr (or ``log_file``, mode 0600) as JSON lines
    (idempotent)."""
    logger = logging.getLogger("kakehashi")
    logger.setLevel(level.upper())
    if not any(getattr(h, "_kakehashi", False) for h in logger.handlers):
        handler = _handler(log_file)
        handler.setFormatter(JsonFormatter())
        handler._kakehashi = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.propagate = False


def uvicorn_log_config(level: str = "INFO", log_file: Path | None = None) -> dict[str, Any]:
    """A ``logging.dictConfig`` for uvicorn that writes its own messages as JSON lines too."""
    handler: dict[str, Any] = (
        {"()": PrivateFileHandler, "filename": str(log_file), "formatter": "json"}
        if log_file
        else {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": handler},
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"handlers": ["json"], "level": level.upper(), "propagate": False},
            # Access lines carry full paths and query strings: the app logs requests itself.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
