"""Secrets kept out of what ``meridian`` prints and logs.

The secrets are the values of the environment variables that hold keys, tokens and passwords
(``FINNHUB_API_KEY``, ``MERIDIAN__SERVING__API_KEY``, ...) and the passwords inside connection
strings (``postgresql://user:PASSWORD@host/db``), wherever they are set. Every log record that
reaches the command's handlers, at any level and from any library (urllib3 logs each request
line, token included, at DEBUG), and every error line has them replaced by ``***``."""

from __future__ import annotations

import logging
import os
import re

SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|DSN)$", re.IGNORECASE)
URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^:/@\s]+:([^@\s]+)@", re.IGNORECASE)
MIN_LEN = 4  # shorter values would scrub ordinary words


def secrets(environ: dict[str, str] | None = None) -> list[str]:
    """The secret values in ``environ`` (default: this process's environment), longest first."""
    found: set[str] = set()
    for name, value in (os.environ if environ is None else environ).items():
        if SECRET_NAME.search(name) and len(value) >= MIN_LEN and "://" not in value:
            found.add(value)
        found.update(m.group(1) for m in URL_PASSWORD.finditer(value) if len(m.group(1)) >= MIN_LEN)
    return sorted(found, key=len, reverse=True)


def scrub(text: str, values: list[str] | None = None) -> str:
    for value in secrets() if values is None else values:
        text = text.replace(value, "***")
    return text


class ScrubSecrets(logging.Filter):
    """Replaces the secrets in each record's formatted message and traceback."""

    def __init__(self) -> None:
        super().__init__()
        self.values = secrets()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.values:
            return True
        message = record.getMessage()
        clean = scrub(message, self.values)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, self.values)
        return True


def install() -> None:
    """Scrub every record that reaches the root logger's handlers."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ScrubSecrets) for f in handler.filters):
            handler.addFilter(ScrubSecrets())
