"""Secrets kept out of what Meridian prints and logs, in the ``meridian`` command and in every Ray
worker it starts.

The secrets are the values of the environment variables that hold keys, tokens and passwords
(``FINNHUB_API_KEY``, ``MERIDIAN__SERVING__API_KEY``, ...) and the passwords inside connection
strings (``postgresql://user:PASSWORD@host/db``), wherever they are set. Every log record that
reaches the command's handlers, at any level and from any library (urllib3 logs each request
line, token included, at DEBUG), and every error line has them replaced by ``***``.

A Ray worker's stdout and stderr are files under the session's ``logs`` folder, and Ray streams
them to the driver's console (``log_to_driver``). :func:`scrub_worker` runs in each worker as
its ``worker_process_setup_hook`` (``cluster.runtime.init_ray`` sets it): what the worker prints
or logs is scrubbed before it reaches those files, so neither the files nor the driver see it."""

from __future__ import annotations

import logging
import os
import re
import sys

SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|DSN)$", re.IGNORECASE)
URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^:/@\s]+:([^@\s]+)@", re.IGNORECASE)
MIN_LEN = 4  # shorter values would scrub ordinary words
MASK = "***"


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
        text = text.replace(value, MASK)
    return text


class ScrubSecrets(logging.Filter):
    """Replaces the secrets in each record's formatted message and traceback."""

    def __init__(self, values: list[str] | None = None) -> None:
        super().__init__()
        self.values = secrets() if values is None else values

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
        if record.stack_info:
            record.stack_info = scrub(record.stack_info, self.values)
        return True


def install() -> None:
    """Scrub every record that reaches the root logger's handlers."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ScrubSecrets) for f in handler.filters):
            handler.addFilter(ScrubSecrets())


class ScrubbedStream:
    """A text stream that writes ``stream``'s text with the secrets masked. Text is passed on a
    whole line at a time (a secret split over two ``write`` calls is still found); ``flush``
    passes on a pending partial line."""

    def __init__(self, stream, values: list[str]) -> None:
        self.stream = stream
        self.values = values
        self._pending = ""

    def write(self, data: str) -> int:
        text = self._pending + data
        cut = text.rfind("\n") + 1
        self._pending = text[cut:]
        if cut:
            self.stream.write(scrub(text[:cut], self.values))
        return len(data)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, ""
            self.stream.write(scrub(pending, self.values))
        self.stream.flush()

    def __getattr__(self, attr):   # fileno, isatty, encoding, ... of the wrapped stream
        return getattr(self.__dict__["stream"], attr)


def scrub_worker() -> None:
    """Scrub this process's own output: ``sys.stdout``, ``sys.stderr`` and every log record made
    from now on, by any logger and whatever handler it reaches (handlers that hold the original
    streams included). Ray runs it in each worker as ``worker_process_setup_hook``, after the
    worker points its stdout and stderr at its log files."""
    values = secrets()
    if not values:
        return
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, ScrubbedStream):
            setattr(sys, name, ScrubbedStream(stream, values))
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "scrubs_secrets", False):
        return
    check = ScrubSecrets(values)

    def scrubbed_record(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        check.filter(record)
        return record

    scrubbed_record.scrubs_secrets = True
    logging.setLogRecordFactory(scrubbed_record)
