"""What a GitHub exchange costs and what a failed one means: counting, rate limits, retries, errors.

Every call of the GitHub client runs through `RequestPolicy.run`:

* mutating calls take their turn from a `WritePacer` (GitHub asks for about 1 s between writes);
* a rate-limited answer (403 or 429) waits `retry-after`, else until `x-ratelimit-reset` when the
  quota is spent, else 60 s doubling each time; when the next wait would take the call past
  `max_wait` seconds in total it raises `RateLimited(retry_at=...)` instead of waiting;
* 5xx answers and lost connections are retried with `Backoff`, but only where a repeat cannot do
  harm: reads and calls marked retry-safe, or a request that provably never left (connect errors);
  a DELETE of the addressed resource that finds it gone after such an unclear attempt is done;
* anything else becomes the protocol's error, carrying GitHub's own message and never a token.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar

import gidgethub
import gidgethub.httpx
import httpx
from gidgethub import sansio

from bot.forges.base import Conflict, ForgeError, NotFound, RateLimit, RateLimited, Unavailable, parse_int
from bot.forges.common import Backoff, BoundedCache, Clock, Sleep, WritePacer, error_for, http_date, retry_after_seconds

PLATFORM = "github"
T = TypeVar("T")
logger = logging.getLogger(__name__)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RETRY_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})  # idempotent in HTTP's sense
SECONDARY_FIRST_WAIT = 60.0  # GitHub: "wait at least one minute", then back off exponentially
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)  # the request never left

# GitHub answers some clashes with a bare 422 message and no `errors` list.
MESSAGE_KINDS: tuple[tuple[int, str, type[ForgeError]], ...] = (
    (422, "already exists", Conflict),  # "Reference already exists"
    (422, "reference does not exist", NotFound),  # DELETE of a ref that is not there
    (422, "no commit found for sha", NotFound),  # a status for a commit the repository lacks
    (422, "object does not exist", NotFound),  # a ref made from a commit the repository lacks
)
CONFLICT_CODES = frozenset({"already_exists"})


class CountingAPI(gidgethub.httpx.GitHubAPI):
    """gidgethub over the caller's httpx client; each exchange is reported to the policy."""

    def __init__(self, client: httpx.AsyncClient, requester: str, *, policy: RequestPolicy,
                 cache_size: int, base_url: str) -> None:
        # gidgethub types its client as httpx2's once httpx2 is installed (the mcp SDK brings it) and only
        # calls request() on it, which httpx's client has alike.
        super().__init__(client, requester, cache=BoundedCache(cache_size), base_url=base_url)  # type: ignore[arg-type]
        self._policy = policy

    async def call(self, method: str, url: str, url_vars: Mapping[str, Any], data: Any, *,
                   jwt: str | None, oauth_token: str | None) -> Any:
        """One request of any method, returning the decoded body (gidgethub's `delete` drops it,
        but GitHub answers some DELETEs with the resource, e.g. the issue after unassigning)."""
        body, _, _ = await self._make_request(method, url, url_vars, data, sansio.accept_format(),
                                              jwt=jwt, oauth_token=oauth_token)
        return body

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        self._policy.stats[method] += 1
        status, response_headers, content = await super()._request(method, url, headers, body)
        self._policy.observe(status, response_headers)
        if _epoch(response_headers.get("x-ratelimit-reset")) is None and "x-ratelimit-reset" in response_headers:
            # gidgethub turns the reset into a datetime and fails on nonsense (e.g. milliseconds):
            # a garbled header must not spoil a good answer.
            response_headers = {k: v for k, v in response_headers.items() if k.lower() != "x-ratelimit-reset"}
        return status, response_headers, content


class RequestPolicy:
    def __init__(self, *, clock: Clock, sleep: Sleep, max_wait: float, write_interval: float,
                 secrets: Callable[[], Iterable[str]], attempts: int = 4) -> None:
        self.clock = clock
        self.sleep = sleep
        self.max_wait = max_wait
        self.stats: Counter[str] = Counter()
        self.rate_limit = RateLimit()
        # What the last answer said about its side: the forge's clock and, for a classic token, its
        # scopes (None when the header is absent: fine-grained tokens and Apps have none).
        self.server_time: float | None = None
        self.oauth_scopes: tuple[str, ...] | None = None
        self.backoff = Backoff(attempts=attempts, base=0.5, cap=8.0, sleep=sleep)
        self.pacer = WritePacer(write_interval, clock=clock, sleep=sleep)
        self._secrets = secrets

    # -- observing ------------------------------------------------------------------------
    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        if status == 304:
            self.stats["304"] += 1
        self.server_time = http_date(headers.get("date")) or self.server_time
        scopes = headers.get("x-oauth-scopes")
        self.oauth_scopes = None if scopes is None else tuple(s.strip() for s in scopes.split(",") if s.strip())
        remaining = parse_int(headers.get("x-ratelimit-remaining"))
        if remaining is not None:
            self.rate_limit = RateLimit(limit=parse_int(headers.get("x-ratelimit-limit")), remaining=remaining,
                                        reset_at=_epoch(headers.get("x-ratelimit-reset")))

    # -- running --------------------------------------------------------------------------
    async def run(self, method: str, send: Callable[[], Awaitable[T]], *, retry_safe: bool,
                  pace: bool = True, gone: Callable[[], T] | None = None) -> T:
        """`send()` until it succeeds, waiting out rate limits and retrying what is safe to retry.

        `gone` is for a DELETE of the resource its URL names: when a retry finds the resource
        missing after an attempt whose outcome is unknown, that attempt did the deleting, and
        `gone()` is the result instead of NotFound.
        """
        waited = 0.0
        limited = failures = 0
        unsure = False  # an earlier attempt may have taken effect
        while True:
            if pace and method not in READ_METHODS:
                await self.pacer.wait_turn()
            try:
                return await send()
            except gidgethub.HTTPException as exc:
                delay = self.rate_limit_delay(exc, limited)
                if delay is None:
                    if isinstance(exc, gidgethub.GitHubBroken) and retry_safe and failures + 1 < self.backoff.attempts:
                        logger.info("github server error; retrying",
                                    extra={"method": method, "status": int(exc.status_code)})
                        await self.sleep(self.backoff.delay(failures))
                        failures += 1
                        unsure = True
                        continue
                    error = self.error(exc)
                    if unsure and gone is not None and isinstance(error, NotFound):
                        logger.info("github: gone after an unclear attempt; taken as done", extra={"method": method})
                        return gone()
                    raise error from None
                if waited + delay > self.max_wait:
                    raise RateLimited(message=self._redact(_message(exc)), status=int(exc.status_code),
                                      platform=PLATFORM, retry_at=self.clock() + delay) from None
                logger.warning("github rate limit; waiting", extra={"method": method, "status": int(exc.status_code),
                                                                    "seconds": delay})
                await self.sleep(delay)
                waited += delay
                limited += 1
            except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
                sent_or_not = retry_safe or isinstance(exc, NOT_SENT)
                if isinstance(exc, httpx.TransportError) and sent_or_not and failures + 1 < self.backoff.attempts:
                    logger.info("github unreachable; retrying", extra={"method": method, "error": type(exc).__name__})
                    await self.sleep(self.backoff.delay(failures))
                    failures += 1
                    unsure = unsure or not isinstance(exc, NOT_SENT)
                    continue
                what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                raise Unavailable(message=self._redact(f"cannot reach GitHub ({what})"), platform=PLATFORM) from None
            except (ValueError, UnicodeDecodeError):
                # gidgethub could not read the answer: a body that is not JSON, a status it has no name for...
                raise Unavailable(message="GitHub sent an answer that cannot be read", platform=PLATFORM) from None

    def rate_limit_delay(self, exc: gidgethub.HTTPException, waits_so_far: int) -> float | None:
        """Seconds to wait before trying again, or None if `exc` is not a rate limit."""
        status, headers = int(exc.status_code), exc.headers
        if status not in (403, 429):
            return None
        retry_after = retry_after_seconds(headers.get("retry-after"), self.clock())
        spent = headers.get("x-ratelimit-remaining") == "0"
        secondary = "rate limit" in _message(exc).lower()
        if status == 403 and not (retry_after is not None or spent or secondary
                                  or isinstance(exc, gidgethub.RateLimitExceeded)):
            return None  # a plain "you may not"
        if retry_after is not None:
            return retry_after
        reset = _epoch(headers.get("x-ratelimit-reset"))
        if spent and reset is not None:
            return max(1.0, reset - self.clock())
        return SECONDARY_FIRST_WAIT * 2**waits_so_far

    # -- failing --------------------------------------------------------------------------
    def error(self, exc: gidgethub.HTTPException) -> ForgeError:
        status = int(exc.status_code)
        message = self._redact(_message(exc))
        errors = getattr(exc, "errors", None)
        details = tuple(self._redact(d) for d in _details(errors))
        kind: type[ForgeError] | None = None
        if status == 422 and isinstance(errors, list) and any(
            isinstance(e, Mapping) and e.get("code") in CONFLICT_CODES for e in errors
        ):
            kind = Conflict
        for code, text, candidate in MESSAGE_KINDS:
            if kind is None and status == code and text in message.lower():
                kind = candidate
        if kind is None:
            return error_for(status, message, PLATFORM, details)
        return kind(message=message, status=status, platform=PLATFORM, details=details)

    def _redact(self, text: str) -> str:
        for secret in self._secrets():
            if secret:
                text = text.replace(secret, "***")
        return text


def _message(exc: gidgethub.HTTPException) -> str:
    if isinstance(exc, gidgethub.BadRequestUnknownError):
        return str(exc.response)[:500]
    if exc.args and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc) or exc.status_code.phrase


def _details(errors: Any) -> Iterable[str]:
    """GitHub's 422 `errors` as "field: code" (or the message it gives instead)."""
    if isinstance(errors, str):
        yield errors
        return
    for item in errors if isinstance(errors, list) else ():
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            what = item.get("message") or item.get("code") or "invalid"
            yield f"{item['field']}: {what}" if item.get("field") else str(what)


def _epoch(value: Any) -> float | None:
    """`x-ratelimit-reset` as epoch seconds, or None if it is not a plausible time."""
    seconds = parse_int(value)
    if seconds is None:
        return None
    try:
        datetime.fromtimestamp(seconds, timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None
    return float(seconds)


