"""Secrets kept out of what Meridian prints and logs, in the ``meridian`` command and in every Ray
worker it starts.

The secrets are the values of the environment variables that hold keys, tokens and passwords
(``FINNHUB_API_KEY``, ``MERIDIAN__SERVING__API_KEY``, ...) and the passwords inside connection
strings (``postgresql://user:PASSWORD@host/db``), wherever they are set, and the values
:func:`register`-ed in this process: every configuration section registers its secret fields
when it is built or unpickled (``pipelines.config.base.Frozen``), so a key written only in the
YAML file is masked in the process that loads it and in each Ray worker that receives it. Every log record that
reaches the command's handlers, at any level and from any library (urllib3 logs each request
line, token included, at DEBUG), and every error line has them replaced by ``***``.

A Ray worker's stdout and stderr are files under the session's ``logs`` folder, and Ray streams
them to the driver's console (``log_to_driver``). :func:`scrub_worker` runs in each worker as
its ``worker_process_setup_hook`` (``cluster.runtime.init_ray`` sets it for a job and the Serve
replicas it runs; ``serving/serve-config.yaml`` for a deployed application): what the worker
prints or logs is scrubbed before it reaches those files, so neither the files nor the driver see it."""

from __future__ import annotations

import logging
import os
import re
import sys

SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|DSN)$", re.IGNORECASE)
URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^:/@\s]+:([^@\s]+)@", re.IGNORECASE)
MIN_LEN = 4  # shorter values would scrub ordinary words
MASK = "***"


_registered: set[str] = set()
_current: tuple[tuple[int, int], list[str]] = ((-1, -1), [])


def secrets(environ: dict[str, str] | None = None) -> list[str]:
    """The secret values in ``environ``, longest first; without it, those of this process's
    environment and the :func:`register`-ed ones."""
    found: set[str] = set() if environ is not None else set(_registered)
    for name, value in (os.environ if environ is None else environ).items():
        if SECRET_NAME.search(name) and len(value) >= MIN_LEN and "://" not in value:
            found.add(value)
        found.update(_url_passwords(value))
    return sorted(found, key=len, reverse=True)


def _url_passwords(value: str) -> set[str]:
    return {m.group(1) for m in URL_PASSWORD.finditer(value) if len(m.group(1)) >= MIN_LEN}


def register(*values: str) -> None:
    """Mask these secret values too, in this process, from now on: a connection string's
    password (not the whole string), any other value whole; shorter than MIN_LEN: ignored."""
    for value in values:
        if "://" in value:
            _registered.update(_url_passwords(value))
        elif len(value) >= MIN_LEN:
            _registered.add(value)


def current() -> list[str]:
    """:func:`secrets`, computed again only once a value is registered or a variable is added
    to or removed from the environment: what a worker's streams and records are checked
    against, line by line."""
    global _current
    key = (len(os.environ), len(_registered))
    if _current[0] != key:
        _current = (key, secrets())
    return _current[1]


def scrub(text: str, values: list[str] | None = None) -> str:
    for value in secrets() if values is None else values:
        text = text.replace(value, MASK)
    return text


class ScrubSecrets(logging.Filter):
    """Replaces the secrets in each record's formatted message and traceback: ``values``, or
    without them the process's secrets when the record is made (:func:`current`)."""

    def __init__(self, values: list[str] | None = None) -> None:
        super().__init__()
        self._values = values

    @property
    def values(self) -> list[str]:
        return current() if self._values is None else self._values

    def filter(self, record: logging.LogRecord) -> bool:
        values = self.values
        if not values:
            return True
        message = record.getMessage()
        clean = scrub(message, values)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, values)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info, values)
        return True


def install() -> None:
    """Scrub every record that reaches the root logger's handlers."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ScrubSecrets) for f in handler.filters):
            handler.addFilter(ScrubSecrets())


class ScrubbedStream:
    """A text stream that writes ``stream``'s text with the secrets masked (``values``, or
    without them :func:`current`). Text is passed on a whole line at a time (a secret split over
    two ``write`` calls is still found); ``flush`` passes on a pending partial line."""

    def __init__(self, stream, values: list[str] | None = None) -> None:
        self.stream = stream
        self._values = values
        self._pending = ""

    @property
    def values(self) -> list[str]:
        given = self.__dict__["_values"]
        return current() if given is None else given

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
    worker points its stdout and stderr at its log files. Each line and record is checked against
    the secrets of its moment, so those the worker learns later (a configuration it receives or
    loads registers its own) are masked too."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, ScrubbedStream):
            setattr(sys, name, ScrubbedStream(stream))
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "scrubs_secrets", False):
        return
    check = ScrubSecrets()

    def scrubbed_record(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        check.filter(record)
        return record

    scrubbed_record.scrubs_secrets = True
    logging.setLogRecordFactory(scrubbed_record)
