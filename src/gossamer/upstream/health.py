"""The health loop: every `health_interval_s`, each replica that is up is asked its health route, and
each that is not is identified again (it comes back into rotation only as what it was: the same
model, still giving token ids back).

A replica also goes down without waiting for this loop, the moment a request cannot connect to it
or its stream breaks (engine.py); the loop is what brings it back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import httpx

from gossamer.upstream.config import FleetConfig
from gossamer.upstream.identify import auth_headers
from gossamer.upstream.metrics import UpstreamMetrics
from gossamer.upstream.replica import Replica

logger = logging.getLogger(__name__)


class HealthChecker:
    def __init__(
        self,
        replicas: list[Replica],
        config: FleetConfig,
        identify: Callable[[httpx.AsyncClient, Replica], Awaitable[None]],
        metrics: UpstreamMetrics,
    ) -> None:
        self.replicas = replicas
        self.config = config
        self.identify = identify
        self.metrics = metrics

    async def run(self, client: httpx.AsyncClient) -> None:
        """One loop per replica: a replica that hangs (an identification waits up to a minute for its
        probe) must not hold back the checks of the others."""
        await asyncio.gather(*(self._watch(client, replica) for replica in self.replicas))

    async def _watch(self, client: httpx.AsyncClient, replica: Replica) -> None:
        while True:
            await self.check(client, replica)
            await asyncio.sleep(self.config.health_interval_s)

    async def check(self, client: httpx.AsyncClient, replica: Replica) -> None:
        try:
            if not replica.is_up:
                await self.identify(client, replica)
                return
            problem = await self._probe(client, replica)
        except Exception:  # one replica's surprise must not stop the loop watching the others
            logger.exception("health check of %s failed", replica.label)
            return
        if problem is not None and replica.is_up:
            replica.mark_down(f"health check: {problem}")
            self.metrics.failures.labels(replica.label, "health").inc()

    async def _probe(self, client: httpx.AsyncClient, replica: Replica) -> str | None:
        assert replica.adapter is not None
        timeout = self.config.connect_timeout_s
        try:
            response = await client.get(
                replica.spec.url + replica.adapter.health_path,
                headers=auth_headers(replica.spec),
                timeout=timeout,
            )
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__} on {replica.adapter.health_path}"
        if response.status_code != 200:
            return f"{replica.adapter.health_path} answered {response.status_code}"
        return None
