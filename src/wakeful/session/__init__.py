"""Session services: each write goes to the store and publishes exactly one event on the bus."""
