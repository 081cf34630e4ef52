"""Transient failures retried around the client, as restic's ``backend/retry`` does.

The policy is plain data and the delay a pure function of it, so tests can check the
delays without sleeping. Only retryable failures (connection, timeout, 5xx, 429, a
garbled answer) are retried; a permanent one (401, 403, quota, unsupported) goes
straight through. A ``Retry-After`` from the server is honoured (within the cap).
Cancellation stops at once: no attempt is made after it. Each attempt of an upload
re-creates its body from the file, so a retry sends the same bytes again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from .errors import ApiError, TransportError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    initial: float = 2.0
    max: float = 600.0


def backoff_delay(policy: RetryPolicy, attempt: int, rng: random.Random | None = None,
                  retry_after: float | None = None) -> float:
    """Delay before attempt ``attempt + 1`` (attempt counts from 1).

    Exponential with "equal jitter": half the nominal delay is fixed, half random, so
    many clients retrying together spread out but none retries at once. A server's
    Retry-After is a floor, the policy's ``max`` a ceiling.
    """
    nominal = min(policy.max, policy.initial * (2 ** (attempt - 1)))
    r = (rng or random).random()
    delay = nominal / 2 + r * nominal / 2
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, policy.max)


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, (ApiError, TransportError)) and exc.retryable


async def call_with_retry(
    policy: RetryPolicy,
    fn: Callable[[], Awaitable[T]],
    *,
    what: str,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    rng: random.Random | None = None,
    on_retry: Callable[[int, float, BaseException], None] | None = None,
) -> T:
    """Call ``fn`` until it succeeds, fails permanently, or runs out of attempts.

    The last failure is re-raised as it is, so the caller classifies it. The first
    attempt is a plain call: tenacity's machinery (~70 µs a call, on the event loop,
    for every upload and check) starts only once something failed.
    """
    try:
        return await fn()
    except BaseException as exc:
        if policy.max_attempts <= 1 or not is_retryable(exc):
            raise
        first = exc

    def delay_after(attempt: int, exc: BaseException | None) -> float:
        delay = backoff_delay(policy, attempt, rng, getattr(exc, "retry_after", None))
        if attempt >= policy.max_attempts:
            # tenacity asks for the wait before it checks the stop: this failure is
            # the last, and nothing is retried; say nothing here, the caller reports it.
            return delay
        if on_retry is not None and exc is not None:
            on_retry(attempt, delay, exc)
        log.info("%s failed (attempt %d of %d): %s; retrying in %.1f s", what,
                 attempt, policy.max_attempts, exc, delay)
        return delay

    def wait(state: RetryCallState) -> float:  # tenacity counts from the second attempt
        exc = state.outcome.exception() if state.outcome else None
        return delay_after(state.attempt_number + 1, exc)

    await (sleep or asyncio.sleep)(delay_after(1, first))
    kwargs = {"sleep": sleep} if sleep is not None else {}
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts - 1),
        wait=wait,
        retry=retry_if_exception(is_retryable),
        reraise=True,
        **kwargs,
    )
    attempts = 1

    async def attempt() -> T:
        nonlocal attempts
        attempts += 1
        result = await fn()
        log.info("%s succeeded after %d attempts", what, attempts)
        return result

    return await retrying(attempt)
