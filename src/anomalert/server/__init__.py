"""The long-running side: ``anomalert watch`` / ``serve`` and the HTTP service.

- :mod:`~anomalert.server.app`: the Starlette app factory (/healthz, /metrics, /, /v1/alerts,
  POST /v1/score), state injected, no module globals.
- :mod:`~anomalert.server.runtime`: the state the app and the watch loop share (one
  :mod:`~anomalert.server.series` runtime per series, the loop's :mod:`~anomalert.server.health`),
  checkpointed by :mod:`~anomalert.server.persist`.
- :mod:`~anomalert.server.watch`: backfill, poll, score through ``Monitor``, fire and resolve;
  its clocks and sources in :mod:`~anomalert.server.sources`.
- :mod:`~anomalert.server.staleness` (how long without points: stale, forgotten) and
  :mod:`~anomalert.server.forget` (series gone for good are removed).
- :mod:`~anomalert.server.config`: the YAML config; :mod:`~anomalert.server.daemon` wires it all.
- :mod:`~anomalert.server.scoring`, :mod:`~anomalert.server.statuspage`,
  :mod:`~anomalert.server.telemetry`, :mod:`~anomalert.server.simulator`: one concern each.
- :mod:`~anomalert.server.cli`: the ``watch`` and ``serve`` subcommands.
"""
