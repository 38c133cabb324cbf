"""The courier: sends what the outbox holds, each delivery by one server, until it is answered 2xx.

One task per server claims due deliveries (`DeliveryStore.claim_deliveries`: a lease, so that of
several servers on one database each delivery is sent by one) and posts each in a task of its own,
at most `webhook_concurrency` at once. A delivery this server stores while it has a slot free is
stored already leased to it (`hold`) and sent at once (`send`), without waiting for a claim. An attempt ends with its outcome stored (`settle_delivery`),
which ends the lease: delivered on 2xx; on anything else (another status, a refused connection, no
answer within `webhook_timeout`, a host the allow-list no longer allows) retried after
`backoff_delay(attempt, webhook_retry_base, webhook_retry_max_delay)`, until `webhook_retry_for`
has passed since the event: then failed. Redirects are not followed.

Invariants:
- A delivery is only sent while this server holds its lease, which outlasts the attempt (twice
  `webhook_timeout`; an attempt is cut at `webhook_timeout`). A lease a dead server left expires, and
  another server (or this one, restarted) takes the delivery over.
- Every attempt sends the same body and delivery id, so a receiver that saw an attempt whose outcome
  was lost (a crash, a cut connection) can tell the repeat.
- `close` cancels the attempts under way and gives their deliveries back (pending, due at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import TYPE_CHECKING

from wakeful.backoff import backoff_delay
from wakeful.config import ServerConfig
from wakeful.errors import InvalidRequestError
from wakeful.ids import now_ms
from wakeful.providers.tls import tls_context
from wakeful.run.webhooks.allow import AllowList, Target
from wakeful.run.webhooks.signing import DELIVERY, EVENT, SIGNATURE, TIMESTAMP, load_secret, signature
from wakeful.storage.base import DeliveryRecord, DeliveryStore, Settlement
from wakeful.version import __version__

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("wakeful.webhooks")

# How long the courier sleeps at most between looks at the outbox: deliveries of this server wake
# it at once; this bounds how late it notices those another server stored and could not send.
POLL = 30.0
AFTER_ERROR = 5.0  # when the outbox could not be read


class Courier:
    def __init__(
        self,
        config: ServerConfig,
        store: DeliveryStore,
        allow: AllowList,
        instance: str,
        announce: Callable[[DeliveryRecord], None],
    ) -> None:
        self._config = config
        self._store = store
        self._allow = allow
        self._instance = instance
        self._announce = announce
        self._wake = asyncio.Event()
        self._sending: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._making = asyncio.Lock()
        self._secret = ""
        self._closing = False
        self._held = 0  # slots taken by deliveries `hold` leased that are not sent yet

    async def start(self) -> None:
        self._secret = await asyncio.to_thread(load_secret, self._config)
        self._task = asyncio.create_task(self._run(), name="webhook courier")

    async def _http(self) -> httpx.AsyncClient:
        """The client, made with the first attempt: most servers never send a webhook, and the
        providers' TLS context it needs is a tenth of a second of file work, loaded in a thread."""
        async with self._making:
            if self._client is None:
                self._client = await asyncio.to_thread(self._new_client)
            return self._client

    def _new_client(self) -> httpx.AsyncClient:
        import httpx  # loaded after start-up (wakeful.server.serve), not before the first answer

        return httpx.AsyncClient(
            timeout=self._config.webhook_timeout,
            limits=httpx.Limits(max_connections=self._config.webhook_concurrency),
            headers={"User-Agent": f"wakeful/{__version__}"},
            verify=tls_context(),
            # Only the allow-list decides where a delivery goes: no proxy from the environment.
            trust_env=False,
        )

    async def close(self) -> None:
        if self._task is None:
            return
        # The loop ends between two looks at the outbox, so that no claim is left half done.
        self._closing = True
        self._wake.set()
        await self._task
        for task in self._sending:
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    # --- claiming ---------------------------------------------------------------------------------

    @property
    def _lease(self) -> int:
        return int(2 * self._config.webhook_timeout * 1000)

    def _free(self) -> int:
        return self._config.webhook_concurrency - len(self._sending) - self._held

    def hold(self, records: list[DeliveryRecord]) -> list[DeliveryRecord]:
        """`records`, as many as there are free slots leased to this server for their first attempt
        (so stored, no other server takes them); `send` must follow with those that were stored."""
        if self._task is None or self._closing:
            return records
        now = now_ms()
        taken = min(len(records), max(self._free(), 0))
        self._held += taken
        leased = [
            replace(r, owner=self._instance, lease_until=now + self._lease, attempts=1)
            for r in records[:taken]
        ]
        return leased + records[taken:]

    def send(self, held: list[DeliveryRecord], stored: list[DeliveryRecord]) -> None:
        """Send the deliveries of `hold` that were stored (a delivery stored before is the claim's);
        free the slots of the others."""
        ids = {r.id for r in stored}
        for record in held:
            if record.owner != self._instance:
                continue
            self._held -= 1
            # Stored after `close` (no run ends that late): its lease runs out, and a server takes it.
            if record.id in ids and not self._closing:
                self._spawn(record)
        self._wake.set()

    async def _run(self) -> None:
        while not self._closing:
            self._wake.clear()
            free = self._free()
            delay = POLL
            try:
                if free > 0:
                    now = now_ms()
                    claimed = await self._store.claim_deliveries(self._instance, now, now + self._lease, free)
                    for record in claimed:
                        self._spawn(record)
                    free -= len(claimed)
                if free > 0:  # else a finished attempt wakes the loop
                    due = await self._store.next_delivery_due()
                    if due is not None:
                        delay = min(POLL, max(0.0, (due - now_ms()) / 1000))
            except Exception:
                delay = AFTER_ERROR
                log.exception("webhooks: the outbox could not be read; trying again in %g s", delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    def _spawn(self, record: DeliveryRecord) -> None:
        task = asyncio.create_task(self._attempt(record), name=f"webhook {record.id}")
        self._sending.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self._wake.set()

    # --- one attempt ------------------------------------------------------------------------------

    async def _attempt(self, record: DeliveryRecord) -> None:
        try:
            status, error = await self._post(record)
        except asyncio.CancelledError:
            stopped = Settlement("pending", now_ms(), last_error="the server stopped during the attempt")
            await asyncio.shield(self._settle(record, stopped))
            raise
        await self._settle(record, self._outcome(record, status, error))

    async def _post(self, record: DeliveryRecord) -> tuple[int | None, str | None]:
        """The receiver's status, or why there is none."""
        import httpx

        body = record.body.encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            DELIVERY: record.id,
            EVENT: record.event,
            TIMESTAMP: timestamp,
            SIGNATURE: signature(self._secret, timestamp, body),
        }
        timeout = self._config.webhook_timeout
        try:
            client = await self._http()
            # The server's own URL is the operator's: only callbacks answer to the allow-list.
            target = (
                await self._allow.target(record.url)
                if record.source == "callback"
                else Target(httpx.URL(record.url))
            )
            async with asyncio.timeout(timeout):
                async with client.stream(
                    "POST",
                    target.url,
                    content=body,
                    headers={**headers, **target.headers},
                    extensions=target.extensions,
                ) as response:
                    return response.status_code, None
        except InvalidRequestError as exc:
            return None, exc.message
        except TimeoutError:
            return None, f"no answer within {timeout:g} s"
        except httpx.ConnectError as exc:
            return None, f"could not connect: {exc}" if str(exc) else "could not connect"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # nobody foresaw it: the attempt failed, the delivery goes on
            log.exception("webhook %s to %s: the attempt failed", record.id, _shown(record.url))
            return None, f"{type(exc).__name__}: {exc}"

    def _outcome(self, record: DeliveryRecord, status: int | None, error: str | None) -> Settlement:
        now = now_ms()
        if status is not None and 200 <= status < 300:
            return Settlement("delivered", record.next_attempt, last_status=status, ended=now)
        why = error or f"HTTP {status}"
        if now >= record.expires:
            log.warning(
                "webhook %s (%s) to %s failed after %d attempts: %s",
                record.id,
                record.event,
                _shown(record.url),
                record.attempts,
                why,
            )
            return Settlement("failed", record.next_attempt, status, error, ended=now)
        delay = backoff_delay(
            record.attempts, self._config.webhook_retry_base, self._config.webhook_retry_max_delay
        )
        next_attempt = min(now + int(delay * 1000), record.expires)
        log.info(
            "webhook %s (%s) to %s: attempt %d failed (%s); next in %.3g s",
            record.id,
            record.event,
            _shown(record.url),
            record.attempts,
            why,
            (next_attempt - now) / 1000,
        )
        return Settlement("pending", next_attempt, status, error)

    async def _settle(self, record: DeliveryRecord, outcome: Settlement) -> None:
        try:
            settled = await self._store.settle_delivery(record.id, self._instance, record.attempts, outcome)
        except Exception:
            log.exception(
                "webhook %s: its outcome could not be stored; it is sent again once its lease ends", record.id
            )
            return
        if settled:
            self._announce(replace(record, owner=None, lease_until=0, **asdict(outcome)))


def _shown(url: str) -> str:
    """`url` as logs show it: without its query, fragment and credentials, where tokens go."""
    import httpx
    return str(httpx.URL(url).copy_with(query=None, fragment=None, username=None, password=None))
