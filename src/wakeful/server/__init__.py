"""The HTTP server: FastAPI routes, the keep-alive response, middleware, the data-directory lock,
signals and the graceful drain. All that knows HTTP lives here."""
