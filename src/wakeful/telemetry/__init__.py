"""What an operator sees of wakeful: Prometheus metrics (`metrics`), OpenTelemetry traces
(`tracing`, off until the `OTEL_*` variables turn it on), the spans and metrics of runs, model calls
and tool calls (`calls`), and log lines with request ids (`logs`).

It sits just above the vocabulary: every other layer may call it, and it imports nothing of wakeful
above `config`, `errors`, `ids` and `version`. The OpenTelemetry SDK and exporter load only when
tracing is set up. docs/observability.md is the operator's view of all of it.
"""
