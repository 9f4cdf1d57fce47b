"""Errors of the BSG client, and the scrubber every message passes through.

Every text that leaves the client (exception messages, log lines, reprs) is built by
`Scrubber.scrub`, which replaces each known secret value with ``***``. Secrets are the values
of `Settings.secrets()` plus any bearer token obtained at login or refresh.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

# A secret this long is masked wherever it occurs: it cannot collide with a word by accident.
# A shorter one (a test token such as `t`) is masked only where it stands as a whole token, as
# it does in a header, a query string, a URL or a JSON value, so ordinary words survive.
ANYWHERE_LENGTH = 8
# Characters a token is made of (word characters and those of URLs and base64). `=` is left
# out: it separates a query parameter from its value (`?token=t`).
_WORD_CHAR = r"[\w.~+/-]"


class Scrubber:
    """Replaces every registered secret with ``***``; thread-safe, grows as tokens renew.

    A secret of `ANYWHERE_LENGTH` characters or more is masked anywhere in the text; a shorter
    one only where no token character (letters, digits, ``_.~+/-``) touches it on either side.
    """

    MASK = "***"

    def __init__(self, secrets: Iterable[str] = ()):
        self._lock = threading.Lock()
        # (secrets, pattern) swapped as one reference, so `scrub` needs no lock
        self._state: tuple[tuple[str, ...], re.Pattern[str] | None] = ((), None)
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        with self._lock:
            known = set(self._state[0])
            new = known | {s for s in secrets if s}
            if new == known:
                return
            # longest first, so a secret that contains another is masked whole
            ordered = tuple(sorted(new, key=lambda s: (-len(s), s)))
            self._state = (ordered, re.compile("|".join(map(self._pattern, ordered))))

    @staticmethod
    def _pattern(secret: str) -> str:
        escaped = re.escape(secret)
        if len(secret) >= ANYWHERE_LENGTH:
            return escaped
        return f"(?<!{_WORD_CHAR}){escaped}(?!{_WORD_CHAR})"

    def scrub(self, text: object) -> str:
        out = str(text)
        pattern = self._state[1]
        if pattern is None:
            return out
        return pattern.sub(self.MASK, out)

    def __repr__(self) -> str:
        return f"Scrubber({len(self._state[0])} secrets)"


class BSGError(Exception):
    """Base of every error the client raises; its text never holds a secret."""


class BSGAPIError(BSGError):
    """The API answered with an error that is not retried (or kept failing after retries).

    ``endpoint`` is the method and path (``GET /api/messages``), ``status_code`` the HTTP
    status (None for transport failures), ``api_message`` the API's own words (the
    ``message``/``errors`` of a 422 body, for instance), already scrubbed.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str = "",
        status_code: int | None = None,
        api_message: str | None = None,
    ):
        super().__init__(message)
        self.endpoint = endpoint
        self.status_code = status_code
        self.api_message = api_message


class BSGAuthError(BSGAPIError):
    """Credentials were refused (401 after the one renewal, 403) or are missing."""


class BSGRetryError(BSGAPIError):
    """A retryable failure (429, 5xx, timeout, dropped connection, bad body) kept happening
    until `max_retries` was used up."""


class BSGCancelled(BSGError):
    """The caller stopped the client (`BSGClient.cancel`): requests in flight end at once."""


class BSGPaginationError(BSGError):
    """A window could not be read consistently (its total kept moving after the re-reads)."""


class TransientError(Exception):
    """Internal: one attempt failed in a way worth retrying. Never escapes the client."""

    def __init__(self, reason: str, *, status_code: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class RateLimited(TransientError):
    """Internal: a 429; ``retry_after`` is the server's wish in seconds, when it gave one."""

    def __init__(self, reason: str, *, retry_after: float | None):
        super().__init__(reason, status_code=429)
        self.retry_after = retry_after
