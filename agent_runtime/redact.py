"""Secrets out of error text: one `redact(text)` for everything that may echo a credential.

Model endpoints and tools can put a credential into an error message (an endpoint that
echoes the request's `Authorization` header, a tool that prints its AWS keys). Such text
becomes events, task errors and log lines, and through them the store, so it passes
through `redact` first. Two kinds of secrets are removed:

- the secrets this process knows, registered at start-up (`register_secret`): the LLM API
  key, the API's keys; they are replaced wherever they appear, whatever they look like;
- credentials recognisable by their shape: bearer tokens, `sk-` style keys, AWS access key
  ids (`AKIA...`, `ASIA...`) and the value next to `aws_secret_access_key`.

`RedactingFilter` does the same to log records; `configure_logging` installs it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

REDACTED = "[REDACTED]"
# Shorter registered values are ignored: replacing a 3-letter "secret" would garble ordinary text.
MIN_SECRET_CHARS = 8

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Bearer <token> (and bare "Bearer <token>" anywhere)
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1" + REDACTED),
    # OpenAI / Anthropic style keys: sk-..., sk-proj-..., sk-ant-...
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), REDACTED),
    # AWS access key ids (long-term AKIA, temporary ASIA)
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), REDACTED),
    # the value next to a secret-looking name: aws_secret_access_key=..., "SecretAccessKey": "...", api_key: ...
    (re.compile(r"(?i)\b((?:aws_)?secret_?access_?key|aws_session_token|session_?token|api[_-]?key|x-api-key)"
                r"(\W{0,3}\s*[:=]\s*[\"']?)[A-Za-z0-9/+=._-]{8,}"), r"\1\2" + REDACTED),
)

_lock = threading.Lock()
_known: set[str] = set()
_known_pattern: re.Pattern[str] | None = None


def register_secret(*values: str | None) -> None:
    """Remember secrets this process holds, so `redact` removes them wherever they appear."""
    global _known_pattern
    fresh = {v.strip() for v in values if v and len(v.strip()) >= MIN_SECRET_CHARS} - _known
    if not fresh:
        return
    with _lock:
        _known.update(fresh)
        # Longest first, so a secret that contains another is removed whole.
        alternatives = sorted(_known, key=len, reverse=True)
        _known_pattern = re.compile("|".join(re.escape(v) for v in alternatives))


def register_secrets(values: Iterable[str | bytes]) -> None:
    """`register_secret` for a collection (API keys as the key sources give them)."""
    register_secret(*(v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values))


def forget_secrets() -> None:
    """Drop every registered secret (tests)."""
    global _known_pattern
    with _lock:
        _known.clear()
        _known_pattern = None


def redact(text: str) -> str:
    """`text` with every registered secret and every credential-shaped string replaced by `[REDACTED]`."""
    if not text:
        return text
    known = _known_pattern
    if known is not None:
        text = known.sub(REDACTED, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Redact a record's message, its string extras and its traceback before any handler formats it."""

    _formatter = logging.Formatter()
    _plain = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        for key, value in list(record.__dict__.items()):
            if key not in self._plain and isinstance(value, str):
                setattr(record, key, redact(value))
        return True
