"""The runtime: every service a run needs, built once per server from its ServerConfig.

The server owns it (its lifespan opens and closes it); the run layer receives it and never imports
the server. The store is chosen here, from the config, and only here: everything else holds the
narrowest store protocol it needs, or a service.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wakeful import ids
from wakeful.config import ServerConfig
from wakeful.errors import ServiceUnavailableError
from wakeful.mcp.manager import McpManager
from wakeful.project.catalog import Catalog, ModelChoice, catalog_of
from wakeful.project.config import ProjectConfigs
from wakeful.project.instructions import Instructions
from wakeful.providers.base import Provider
from wakeful.providers.registry import ProviderPool
from wakeful.run.admission import Admission
from wakeful.run.cluster import Cluster, LocalCluster
from wakeful.run.manager import RunManager
from wakeful.run.permissions import Permissions
from wakeful.run.system import SystemPrompts
from wakeful.run.webhooks import Webhooks
from wakeful.session.bus import EventBus
from wakeful.session.messages import MessageLog
from wakeful.session.sessions import Sessions
from wakeful.session.todos import Todos
from wakeful.storage.base import Store
from wakeful.storage.sql import SQLStore
from wakeful.storage.sqlite import SQLite
from wakeful.telemetry.metrics import Metrics
from wakeful.tools.base import Tool
from wakeful.tools.bash import child_env
from wakeful.tools.output import KeptOutputs
from wakeful.tools.pool import ToolPool
from wakeful.tools.registry import builtin_tools
from wakeful.tools.webfetch import WebClient


def config_store(config: ServerConfig) -> Store:
    """The store the config names: PostgreSQL at `database_url`, else SQLite in the data directory."""
    if config.database_url:
        # Only a server with a database URL loads the PostgreSQL driver.
        from wakeful.storage.postgres import Postgres

        return SQLStore(
            Postgres(config.database_url, pool_size=config.db_pool_size, timeout=config.db_busy_timeout)
        )
    return SQLStore(
        SQLite(config.data_dir / "wakeful.db", readers=config.db_readers, busy_timeout=config.db_busy_timeout)
    )


@dataclass
class Runtime:
    config: ServerConfig
    store: Store
    bus: EventBus
    sessions: Sessions
    messages: MessageLog
    projects: ProjectConfigs
    runs: RunManager
    providers: ProviderPool
    tools: dict[str, Tool]
    child_env: dict[str, str]  # the environment of the processes tools start (secrets removed)
    todos: Todos
    permissions: Permissions
    webhooks: Webhooks
    tool_pool: ToolPool
    mcp: McpManager  # the projects' MCP servers
    web: WebClient  # webfetch's connections; closed with the runtime
    instance: str
    cluster: Cluster  # the server alone, or replicas on one PostgreSQL database
    prompts: SystemPrompts  # system prompts, with the per-project caches behind them
    outputs: KeptOutputs  # tool outputs too long for the model, kept whole
    metrics: Metrics  # this runtime's own registry, served at GET /metrics

    @classmethod
    def build(cls, config: ServerConfig, store: Store | None = None) -> Runtime:
        """The runtime for `config`, on `store` if given (a test's MemoryStore), else the config's."""
        store = store or config_store(config)
        metrics = Metrics()
        bus = EventBus(config.event_replay, config.subscriber_queue, config.event_replay_bytes, metrics)
        messages = MessageLog(store, bus, config.history_cache)
        sessions = Sessions(store, bus, config.session_index_size)
        instance = ids.new_id("run")
        admission = Admission(config.max_running_runs, config.max_held_calls, config.run_start_rate)
        runs = RunManager(messages, store, bus, instance, sessions, metrics, admission)
        permissions = Permissions(store, bus, sessions)
        env = child_env(config.environ)
        mcp = McpManager(config, bus, env)
        projects = ProjectConfigs(config.environ, config.config_freshness)
        webhooks = Webhooks(config, store, bus, runs, instance)
        runs.on_end = webhooks.run_ended
        permissions.on_ask = webhooks.permission_asked
        cluster: Cluster = LocalCluster()
        if config.database_url and isinstance(store, SQLStore):
            from wakeful.run.replicas import Replicas
            from wakeful.storage.mailbox import Mailbox
            from wakeful.storage.postgres import Postgres

            if isinstance(store.db, Postgres):
                cluster = Replicas(config, instance, store, Mailbox(store.db), bus, runs, permissions, mcp, projects)
                messages.recent.limit = 0  # the others' writes are heard late: keep no history
                sessions.written_limit = 0  # nor sessions as this server wrote them
        runs.cluster = permissions.cluster = cluster
        mcp.changed = cluster.mcp_changed
        return cls(
            config=config,
            store=store,
            bus=bus,
            sessions=sessions,
            messages=messages,
            projects=projects,
            runs=runs,
            providers=ProviderPool(
                silence_timeout=config.provider_silence,
                max_connections=config.llm_max_connections,
                transport=config.llm_transport,
            ),
            tools=builtin_tools(),
            child_env=env,
            todos=Todos(store, bus),
            permissions=permissions,
            webhooks=webhooks,
            tool_pool=ToolPool(config.tool_threads),
            mcp=mcp,
            web=WebClient(),
            instance=instance,
            cluster=cluster,
            prompts=SystemPrompts(Instructions(config.environ, config.config_freshness)),
            outputs=KeptOutputs(config.data_dir / "tool-output"),
            metrics=metrics,
        )

    def catalog(self, directory: Path) -> Catalog:
        return catalog_of(self.projects.load(directory), self.config.environ)

    def provider(self, choice: ModelChoice) -> Provider:
        entry = choice.provider
        return self.providers.get(entry.id, entry.options, npm=entry.npm)

    def refuse_when_draining(self) -> None:
        if not self.runs.accepting:
            raise ServiceUnavailableError("The server is shutting down", retry_after=5)

    async def open(self) -> None:
        """Open the store, then close or resume what stopped servers left behind: their runs, their
        local MCP servers and their permission requests (alone: every unfinished run; replicas:
        those whose lease expired; the runs it closes store their webhook deliveries), and with
        replicas, from now on keep leases and hear the other servers; then start the webhook courier."""
        from wakeful.run.takeover import Takeover  # it builds runs, whose modules import this one

        await self.store.open()
        await self.mcp.recover()
        await self.cluster.start(Takeover(self))
        await self.webhooks.start()

    async def close(self, reason: str) -> None:
        """Stop taking runs, end the event streams, abort what still runs (storing `reason` as its
        error) and release every resource. The graceful drain (server.serve) runs before this."""
        self.runs.stop_accepting()
        await self.permissions.close(reason)
        self.bus.close()
        await self.runs.drain(0, reason)
        await self.webhooks.close()  # after the drain: the runs it ends store their deliveries
        await self.cluster.close()
        await self.mcp.close()
        self.tool_pool.close()
        await self.web.aclose()
        await self.providers.aclose()
        await self.store.close()
