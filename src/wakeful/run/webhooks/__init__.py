"""Webhooks: signed deliveries of a run's end and of its permission requests, through an outbox.

`outbox.Webhooks` stores each delivery when its event happens; `courier.Courier` sends what is
stored, with retries, one server per delivery; `allow.AllowList` decides where callbacks may point;
`signing` holds the secret and the signature. See docs/webhooks.md.
"""

from wakeful.run.webhooks.outbox import Webhooks

__all__ = ["Webhooks"]
