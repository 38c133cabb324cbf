"""The one TLS context of every outgoing HTTPS client: providers, webfetch, webhooks.

A module of its own so that the clients made at start-up do not import the provider SDKs' HTTP
layer (`providers.http`: httpx2 and aiohttp, a third of a second) only to reach this.
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def tls_context() -> ssl.SSLContext:
    """Loading the CA bundle takes 0.1 to 0.3 s of CPU: done once (in a thread, by the first client
    that needs it), never per client on the loop. Contexts are safe to share between connections."""
    import httpx2  # the SDKs' own CA bundle and defaults; imported here, in that thread

    return httpx2.create_ssl_context()
