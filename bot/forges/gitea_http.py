"""Gitea transport: token auth, retries, error mapping and `page`/`limit` paging over httpx.

Everything `GiteaForge` sends goes through `GiteaTransport.request`; nothing from httpx escapes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from bot.forges.base import ForgeError, RateLimited, Unavailable, parse_int, split_repo
from bot.forges.common import Backoff, Clock, Sleep, WritePacer, error_for, http_date, next_link, retry_after_seconds

logger = logging.getLogger(__name__)

PLATFORM = "gitea"
PAGE_SIZE = 50  # Gitea caps pages at [api] MAX_RESPONSE_ITEMS, 50 by default
MAX_PAGES = 2000  # a server that ignores `page` must not loop us forever
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
READS = frozenset({"GET", "HEAD"})
# Failures where the request never reached the server, so even a POST may be sent again.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

Recover = Callable[[], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    data: Any  # parsed JSON, raw bytes when asked for, None for an empty body
    headers: Mapping[str, str] = field(default_factory=dict)


class GiteaTransport:
    """One Gitea server as seen by one token."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        http: httpx.AsyncClient,
        clock: Clock,
        sleep: Sleep,
        max_wait: float,
        retries: int,
        write_interval: float,
    ) -> None:
        self.api = base_url.rstrip("/") + "/api/v1"
        self.http = http
        self.clock = clock
        self.sleep = sleep
        self.max_wait = max_wait
        self.retries = retries
        self.backoff = Backoff(attempts=retries, sleep=sleep)
        self.pacer = WritePacer(interval=write_interval, clock=clock, sleep=sleep)
        self._token = token
        self.server_time: float | None = None  # the last answer's Date header (the server's clock)
        self._headers = {"Authorization": f"token {token}", "Accept": "application/json"}

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        recover: Recover | None = None,
        raw: bool = False,
    ) -> Reply:
        """Sends one API call, retrying what is safe to retry; raises the protocol's errors.

        A POST is not idempotent unless the caller says so: after an answer that leaves its effect
        unknown (5xx, connection lost after sending) it is sent again only if `recover` is given
        and finds no trace of it; if `recover` returns something, that is the result.
        429s and connection failures before sending are always safe to retry.

        A 500 to a write is different: it is how Gitea reports errors it has no code for, most of
        them certain to come back (an assignee without access, a commit that does not exist), and
        the write may have been half done. So it is sent once only; `recover` (a state check) runs
        once, and either returns the state it found or raises a clearer error; otherwise the 500
        is raised. 502, 503 and 504 (proxies, restarts) are retried as above.
        """
        if idempotent is None:
            idempotent = method in IDEMPOTENT
        waited = 0.0
        attempt = 0
        ambiguous = False  # an earlier attempt may have taken effect
        line = f"{method} {path}"
        while True:
            if method not in ("GET", "HEAD"):
                await self.pacer.wait_turn()
            delay: float | None = None
            try:
                resp = await self.http.request(
                    method, self.api + path, params=params, json=json, headers=self._headers
                )
            except httpx.TransportError as exc:
                sent = not isinstance(exc, NOT_SENT)
                failure: ForgeError = Unavailable(
                    message=self._scrub(f"could not reach Gitea: {type(exc).__name__}: {exc}".rstrip(": ")),
                    platform=PLATFORM,
                    details=(line,),
                )
                retryable = idempotent or not sent or recover is not None
                unsure = sent
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise ForgeError(message=self._scrub(f"request failed: {exc}"), platform=PLATFORM,
                                 details=(line,)) from None
            else:
                self.server_time = http_date(resp.headers.get("date")) or self.server_time
                if resp.is_success:
                    return Reply(resp.status_code, self._body(resp, raw, line), resp.headers)
                if resp.status_code == 404 and method == "DELETE" and ambiguous:
                    # An earlier attempt that failed without an answer did delete it.
                    return Reply(204, None, resp.headers)
                failure = self._error(resp, line)
                delay = self._retry_after(resp)
                status = resp.status_code
                if status == 500 and method not in READS:
                    return await self._after_write_failed(failure, line, attempt, recover)
                retryable = status == 429 or (status >= 500 and (idempotent or recover is not None))
                unsure = status >= 500
            ambiguous = ambiguous or unsure
            if not retryable or attempt >= self.retries:
                raise self._final(failure, delay)
            wait = delay if delay is not None else self.backoff.delay(attempt)
            if waited + wait > self.max_wait:
                raise self._final(failure, wait)
            logger.info("gitea retry", extra={"request": line, "attempt": attempt + 1, "wait": wait})
            await self.sleep(wait)
            waited += wait
            attempt += 1
            if unsure and not idempotent and recover is not None:
                found = await recover()
                if found is not None:
                    return Reply(200, found)

    async def _after_write_failed(self, failure: ForgeError, line: str, attempt: int, check: Recover | None) -> Reply:
        """A write answered 500: never sent again; the state check (if any) decides."""
        if check is None:
            raise failure
        await self.sleep(self.backoff.delay(attempt))  # let a write that was under way settle first
        logger.info("gitea write failed; checking state", extra={"request": line})
        found = await check()
        if found is None:
            raise failure
        return Reply(200, found)

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return (await self.request("GET", path, params=params)).data

    async def get_or_none(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The JSON at `path`, or None when Gitea answers 404."""
        try:
            return await self.get(path, params)
        except ForgeError as exc:
            if exc.status == 404:
                return None
            raise

    async def pages(self, path: str, params: Mapping[str, Any] | None = None, *, key: str | None = None) -> list[Any]:
        """Every item of a paged list: `page` from 1 with `limit` 50, until the list is done.

        The list is done when X-Total-Count items have arrived, else when the Link header has no
        rel="next", else at the first short page. Page URLs are built here rather than taken from
        Link, whose host is Gitea's ROOT_URL and may not be the address we were given.
        """
        items: list[Any] = []
        for page in range(1, MAX_PAGES + 1):
            reply = await self.request("GET", path, params={**(params or {}), "page": page, "limit": PAGE_SIZE})
            data = reply.data
            chunk = (data.get(key) if isinstance(data, dict) else None) if key else data
            chunk = chunk or []
            if not isinstance(chunk, list):
                raise ForgeError(message=f"expected a list from GET {path}", platform=PLATFORM)
            items.extend(chunk)
            total = parse_int(reply.headers.get("x-total-count"))
            link = reply.headers.get("link")
            if not chunk:
                return items
            if total is not None:
                if len(items) >= total:
                    return items
            elif link is not None:
                if next_link(link) is None:
                    return items
            elif len(chunk) < PAGE_SIZE:
                return items
        raise ForgeError(message=f"GET {path} did not end after {MAX_PAGES} pages", platform=PLATFORM)

    # -- answers -------------------------------------------------------------------------
    def _body(self, resp: httpx.Response, raw: bool, line: str) -> Any:
        if raw:
            return resp.content
        if not resp.content.strip():
            return None
        try:
            return resp.json()
        except ValueError:
            raise ForgeError(message="Gitea answered with something that is not JSON", status=resp.status_code,
                             platform=PLATFORM, details=(line,)) from None

    def _error(self, resp: httpx.Response, line: str) -> ForgeError:
        """Gitea's error body is {"message", "url"}, sometimes with "errors" or "invalidTopics"."""
        message = ""
        details: list[str] = []
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            message = str(body.get("message") or "")
            for key in ("errors", "invalidTopics"):
                extra = body.get(key)
                if isinstance(extra, list):
                    details.extend(str(x) for x in extra if x)
        elif resp.content:
            message = resp.text.strip()[:200]
        message = self._scrub(message or resp.reason_phrase or f"HTTP {resp.status_code}")
        details = [self._scrub(d) for d in details] + [line]
        if resp.status_code == 429:
            return RateLimited(message=message, status=429, platform=PLATFORM, details=tuple(details))
        return error_for(resp.status_code, message, PLATFORM, tuple(details))

    def _final(self, failure: ForgeError, wait: float | None) -> ForgeError:
        if isinstance(failure, RateLimited) and wait is not None:
            failure.retry_at = self.clock() + wait
        return failure

    def _retry_after(self, resp: httpx.Response) -> float | None:
        return retry_after_seconds(resp.headers.get("retry-after"), self.clock())

    @property
    def token(self) -> str:
        return self._token

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


def repo_path(repo: str) -> str:
    """/repos/{owner}/{name} for an "owner/name" string."""
    owner, name = split_repo(repo)
    return f"/repos/{seg(owner)}/{seg(name)}"


def seg(value: str | int) -> str:
    """One path segment, '/' included, percent-encoded."""
    return quote(str(value), safe="")


def ref_path(value: str) -> str:
    """A branch name or file path for Gitea's wildcard routes, where '/' stays a '/'."""
    return quote(value.lstrip("/"), safe="/")
