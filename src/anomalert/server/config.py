"""The ``anomalert watch`` configuration: a YAML file read into :class:`WatchConfig`.

See ``docs/watch.md`` for a commented example. Every key is checked (unknown keys are an
error, so a typo cannot silently disable something) and every error names the file and
the key path, e.g. ``watch.yaml: queries[1].step: Cannot read 'fast' as a duration ...``.

Examples
--------
>>> cfg = config_from_dict({
...     "prometheus": {"url": "http://127.0.0.1:9090"},
...     "queries": [{"name": "cpu", "query": "avg by (instance) (cpu_usage)", "step": "30s"}],
...     "sinks": [{"type": "webhook", "url": "http://127.0.0.1:8000/hook"}],
... })
>>> q = cfg.queries[0]
>>> q.name, q.metrics, q.step.total_seconds(), q.lookback.days
('cpu', {'value': 'avg by (instance) (cpu_usage)'}, 30.0, 3)
>>> config_from_dict({"queries": [{"name": "x", "query": "up", "stepp": "1m"}]}, source="w.yaml")
Traceback (most recent call last):
...
anomalert.server.config.ConfigError: w.yaml: queries[0] has unknown key(s) ['stepp']; allowed: ['delay', 'detector', 'forget_after', 'labels', 'lookback', 'max_series', 'metrics', 'name', 'params', 'policy', 'query', 'severity', 'stale_after', 'step']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from anomalert.alerting import AlertPolicy
from anomalert.alerting.sinks import make_sink
from anomalert.detectors import make
from anomalert.errors import AnomalertError
from anomalert.server.staleness import STALE_MIN, default_stale_after, forget_after_for

__all__ = [
    "ConfigError",
    "PushSpec",
    "QuerySpec",
    "SimulateSpec",
    "WatchConfig",
    "config_from_dict",
    "default_stale_after",
    "forget_after_for",
    "load_config",
    "make_spec",
]

_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_DECIMAL = re.compile(r"^(\d*\.\d+)(ms|s|m|h)$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_TOP = {
    "prometheus", "listen", "state", "external_url", "token", "defaults", "queries", "sinks",
    "retry", "limits", "clock", "simulate", "poll", "checkpoint", "full_checkpoint", "resend",
    "alert_labels", "title",
}
#: Label names Prometheus and Alertmanager accept.
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
#: Points a query's backfill may hold per series (lookback / step).
_MAX_BACKFILL_POINTS = 1_000_000
_QUERY = {"name", "query", "metrics", "step", "lookback", "delay", "detector", "params", "policy",
          "labels", "severity", "stale_after", "forget_after", "max_series"}
#: Label sets one query monitors unless its ``max_series`` says otherwise.
MAX_SERIES_PER_QUERY = 500


class ConfigError(AnomalertError):
    """A watch configuration that cannot be used; names the file and the key."""


@dataclass(frozen=True)
class QuerySpec:
    """One monitored query: its PromQL per metric column, cadence, detector and policy."""

    name: str
    metrics: dict[str, str]  # column -> PromQL (the ``query:`` form gives {"value": expr})
    step: pd.Timedelta = pd.Timedelta("60s")
    lookback: pd.Timedelta = pd.Timedelta(days=3)
    delay: pd.Timedelta = pd.Timedelta(0)
    detector: str = "default"
    params: dict[str, Any] = field(default_factory=dict)
    policy: AlertPolicy = field(default_factory=AlertPolicy)
    labels: dict[str, str] = field(default_factory=dict)
    stale_after: pd.Timedelta | None = None  # None: default_stale_after(step)
    forget_after: pd.Timedelta | None = None  # None: forget_after_for's default; 0: never
    max_series: int = MAX_SERIES_PER_QUERY

    @property
    def columns(self) -> list[str]:
        return list(self.metrics)

    @property
    def staleness(self) -> pd.Timedelta:
        """Time without a point after which a series of this query is stale."""
        return self.stale_after if self.stale_after is not None else default_stale_after(self.step)

    @property
    def forgetting(self) -> pd.Timedelta | None:
        """Time without a point after which a series of this query is forgotten (None: never)."""
        return forget_after_for(self.forget_after, self.staleness)


@dataclass(frozen=True)
class PushSpec:
    """How series pushed to ``POST /v1/score`` are monitored: the config's ``defaults``."""

    detector: str = "default"
    params: dict[str, Any] = field(default_factory=dict)
    policy: AlertPolicy = field(default_factory=AlertPolicy)
    labels: dict[str, str] = field(default_factory=dict)
    stale_after: pd.Timedelta | None = None  # None: default_stale_after(the series' step)
    forget_after: pd.Timedelta | None = None  # None: forget_after_for's default; 0: never


@dataclass(frozen=True)
class SimulateSpec:
    """The live simulator: which scenarios, how fast, how much history."""

    scenarios: tuple[str, ...] = ("cpu", "lb")
    seed: int = 42
    days: int = 14
    history: pd.Timedelta = pd.Timedelta(days=2)
    lead: pd.Timedelta = pd.Timedelta("20min")


@dataclass(frozen=True)
class WatchConfig:
    """Everything ``anomalert watch`` needs (see :func:`load_config`)."""

    queries: tuple[QuerySpec, ...] = ()
    sinks: tuple[dict[str, Any], ...] = ()
    prometheus_url: str | None = None
    prometheus_token: str | None = None
    prometheus_timeout: float = 10.0
    listen: str = "127.0.0.1:9108"
    state: str | None = None
    external_url: str | None = None
    token: str | None = None
    retry_initial: float = 1.0
    retry_max: float = 60.0
    retry_max_attempts: int | None = None
    max_body: int = 1 << 20
    max_points: int = 10_000
    max_series: int = 1000
    clock_start: pd.Timestamp | None = None  # a replay clock instead of the wall clock
    clock_minute: float | None = None  # wall seconds per simulated minute
    simulate: SimulateSpec | None = None
    poll_backoff: float = 1.0
    poll_max_backoff: float = 60.0
    checkpoint: float = 5.0
    full_checkpoint: float = 1800.0  # seconds between two writes of a series' full state
    resend: float = 60.0
    alert_labels: dict[str, str] = field(default_factory=dict)
    title: str = "anomalert"
    defaults: dict[str, Any] = field(default_factory=dict)
    push: PushSpec = field(default_factory=PushSpec)


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {where}{': ' if where else ''}{message}")

    def mapping(self, value: Any, where: str, allowed: set[str]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a mapping, got {type(value).__name__}")
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            raise ConfigError(
                f"{self.source}: {where or 'the top level'} has unknown key(s) {unknown}; "
                f"allowed: {sorted(allowed)}"
            )
        return value

    def duration(self, value: Any, where: str, *, zero: bool = False) -> pd.Timedelta:
        from anomalert.sources.prometheus import parse_duration

        m = _DECIMAL.match(str(value).strip())
        if m:  # fractional durations (0.05s), handy for replay speeds and timeouts
            td = pd.Timedelta(float(m.group(1)) * _UNIT_S[m.group(2)], unit="s")
            if td > pd.Timedelta(0) or (zero and td == pd.Timedelta(0)):
                return td
        try:
            return parse_duration(value, allow_zero=zero)
        except AnomalertError as exc:
            raise self.fail(where, str(exc)) from None

    def seconds(self, value: Any, where: str, *, zero: bool = False) -> float:
        return float(self.duration(value, where, zero=zero).total_seconds())

    def integer(self, value: Any, where: str, lo: int = 1) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise self.fail(where, f"must be an integer >= {lo}, got {value!r}")
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"must be a non-empty string, got {value!r}")
        return value

    def labels(self, value: Any, where: str) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(where, "must be a mapping label -> value")
        for k, v in value.items():  # what Prometheus and Alertmanager accept (else a 400)
            if not isinstance(k, str) or not _LABEL.match(k):
                raise self.fail(f"{where}.{k}", "label names are letters, digits and _, not "
                                "starting with a digit")
            if not isinstance(v, str | int | float) or isinstance(v, bool):
                raise self.fail(f"{where}.{k}", f"must be a text value, got {v!r}")
        return {str(k): str(v) for k, v in value.items()}

    def forget(self, value: Any, where: str, stale_after: pd.Timedelta | None) -> pd.Timedelta:
        """A ``forget_after``: a duration longer than ``stale_after`` (None: at least the
        least default, five minutes), or 0 / ``never`` (returned as 0)."""
        if isinstance(value, str) and value.strip().lower() == "never":
            return pd.Timedelta(0)
        td = self.duration(value, where, zero=True)
        least = stale_after if stale_after is not None else STALE_MIN
        if td != pd.Timedelta(0) and td <= least:
            raise self.fail(where, f"{td.total_seconds():g}s must be longer than stale_after "
                            f"({least.total_seconds():g}s): a series is forgotten after it went "
                            "stale (0 or never: stale series are kept)")
        return td


def _query(r: _Reader, raw: Any, where: str, defaults: dict[str, Any]) -> QuerySpec:
    q = r.mapping(raw, where, _QUERY)
    merged = {**defaults, **q}
    name = r.text(q.get("name"), f"{where}.name")
    if not _NAME.match(name):
        raise r.fail(f"{where}.name", f"{name!r} must be 1-100 letters, digits or _ . : -")
    if ("query" in q) == ("metrics" in q):
        raise r.fail(where, "give exactly one of 'query' (one PromQL expression) or 'metrics' "
                     "(column -> PromQL)")
    if "query" in q:
        metrics = {"value": r.text(q["query"], f"{where}.query")}
    else:
        m = q["metrics"]
        if not isinstance(m, dict) or not m:
            raise r.fail(f"{where}.metrics", "must be a non-empty mapping column -> PromQL")
        metrics = {str(k): r.text(v, f"{where}.metrics.{k}") for k, v in m.items()}
    push = _push(r, merged, where)
    step = r.duration(merged.get("step", "60s"), f"{where}.step")
    lookback = r.duration(merged.get("lookback", "3d"), f"{where}.lookback")
    if lookback < step * 2:
        raise r.fail(f"{where}.lookback", "must cover at least two steps")
    if lookback / step > _MAX_BACKFILL_POINTS:  # (a step of 1 ms over 3 days: 259M points)
        raise r.fail(f"{where}.step", f"{lookback} of lookback at a step of {step} is "
                     f"{lookback / step:,.0f} points a series; at most "
                     f"{_MAX_BACKFILL_POINTS:,} (a longer step or a shorter lookback)")
    stale_after = push.stale_after if push.stale_after is not None else default_stale_after(step)
    if stale_after < 2 * step:  # (a series would be stale between two of its points)
        raise r.fail(f"{where}.stale_after", f"{stale_after.total_seconds():g}s must be at least "
                     f"two steps ({2 * step.total_seconds():g}s): a series is stale only after "
                     "it missed a point")
    forget_after = None
    if merged.get("forget_after") is not None:
        forget_after = r.forget(merged["forget_after"], f"{where}.forget_after", stale_after)
    return QuerySpec(
        name=name, metrics=metrics, step=step, lookback=lookback,
        delay=r.duration(merged.get("delay", 0), f"{where}.delay", zero=True),
        detector=push.detector, params=push.params, policy=push.policy, labels=push.labels,
        stale_after=stale_after, forget_after=forget_after_for(forget_after, stale_after)
        or pd.Timedelta(0),
        max_series=r.integer(merged.get("max_series", MAX_SERIES_PER_QUERY), f"{where}.max_series"),
    )


def _push(r: _Reader, merged: dict[str, Any], where: str) -> PushSpec:
    """The keys a query shares with pushed series: detector, params, policy, labels, severity,
    stale_after and forget_after (``where`` is ``defaults`` for pushed series)."""
    detector = str(merged.get("detector", "default"))
    params = merged.get("params") or {}
    if not isinstance(params, dict):
        raise r.fail(f"{where}.params", "must be a mapping of detector parameters")
    try:
        make(detector, **params)._validate_params()
    except AnomalertError as exc:
        raise r.fail(f"{where}.detector", str(exc)) from None
    policy_raw = r.mapping(merged.get("policy"), f"{where}.policy",
                           set(AlertPolicy.__dataclass_fields__))
    try:
        policy = AlertPolicy(**policy_raw).validate()
    except (AnomalertError, TypeError) as exc:
        raise r.fail(f"{where}.policy", str(exc)) from None
    labels = r.labels(merged.get("labels"), f"{where}.labels")
    if "severity" in merged:
        labels["severity"] = str(merged["severity"])
    stale_after = None
    if merged.get("stale_after") is not None:
        stale_after = r.duration(merged["stale_after"], f"{where}.stale_after")
    forget_after = None
    if merged.get("forget_after") is not None:
        forget_after = r.forget(merged["forget_after"], f"{where}.forget_after", stale_after)
    return PushSpec(detector=detector, params=dict(params), policy=policy, labels=labels,
                    stale_after=stale_after, forget_after=forget_after)


def make_spec(config: WatchConfig, raw: dict[str, Any], *, source: str = "<config>") -> QuerySpec:
    """A :class:`QuerySpec` from ``raw`` (``name``, ``metrics``...) with the config's defaults."""
    return _query(_Reader(source), raw, str(raw.get("name", "query")), config.defaults)


def _simulate(r: _Reader, raw: Any) -> SimulateSpec:
    s = r.mapping(raw, "simulate", {"scenarios", "seed", "days", "history", "lead"})
    scenarios = s.get("scenarios", ["cpu", "lb"])
    if isinstance(scenarios, str):
        scenarios = [scenarios]
    if not isinstance(scenarios, list) or not scenarios or any(
        x not in ("cpu", "lb") for x in scenarios
    ) or len(set(scenarios)) != len(scenarios):
        raise r.fail("simulate.scenarios", f"must be a list of distinct 'cpu' / 'lb', got {scenarios!r}")
    days = r.integer(s.get("days", 14), "simulate.days", 7)
    if days % 7:
        raise r.fail("simulate.days", f"must be a multiple of 7 (whole weeks), got {days}")
    history = r.duration(s.get("history", "2d"), "simulate.history")
    if history > pd.Timedelta(days=days - 2):
        raise r.fail("simulate.history", f"must leave at least 2 of the {days} days to stream")
    return SimulateSpec(
        scenarios=tuple(scenarios), seed=r.integer(s.get("seed", 42), "simulate.seed", 0),
        days=days, history=history, lead=r.duration(s.get("lead", "20m"), "simulate.lead"),
    )


def config_from_dict(
    data: Any, *, source: str = "<config>", simulate: bool = False, serve: bool = False
) -> WatchConfig:
    """Validate a parsed configuration.

    ``simulate`` forces the simulator (no Prometheus); ``serve`` accepts a configuration
    without queries (the service only scores pushed points).
    """
    r = _Reader(source)
    top = r.mapping(data, "", _TOP) if data is not None else {}
    kw: dict[str, Any] = {}
    prom = r.mapping(top.get("prometheus"), "prometheus", {"url", "token", "timeout"})
    if prom:
        url = r.text(prom.get("url"), "prometheus.url")
        if not url.startswith(("http://", "https://")):
            raise r.fail("prometheus.url", f"must be an http(s) URL, got {url!r}")
        kw["prometheus_url"] = url
        kw["prometheus_token"] = prom.get("token")
        kw["prometheus_timeout"] = r.seconds(prom.get("timeout", "10s"), "prometheus.timeout")
    defaults = r.mapping(top.get("defaults"), "defaults", _QUERY - {"name", "query", "metrics"})
    kw["push"] = _push(r, defaults, "defaults")  # (checked here also when no query uses them)
    if "max_series" in defaults:
        r.integer(defaults["max_series"], "defaults.max_series")
    queries = top.get("queries") or []
    if not isinstance(queries, list):
        raise r.fail("queries", "must be a list")
    specs = tuple(_query(r, q, f"queries[{i}]", defaults) for i, q in enumerate(queries))
    names = [q.name for q in specs]
    if len(set(names)) != len(names):
        raise r.fail("queries", f"names must be unique, got {names}")
    sinks = top.get("sinks") or []
    if not isinstance(sinks, list):
        raise r.fail("sinks", "must be a list")
    built, specs_read = [], []
    for i, s in enumerate(sinks):
        if isinstance(s, dict):  # durations as everywhere else in the file: 5s, 5m (or seconds)
            s = {k: (r.seconds(v, f"sinks[{i}].{k}") if k in ("ttl", "timeout")
                     and isinstance(v, str) else v) for k, v in s.items()}
        try:
            built.append(make_sink(s, i))
        except AnomalertError as exc:
            raise ConfigError(f"{r.source}: {exc}") from None
        specs_read.append(s)
    if len({s.name for s in built}) != len(built):
        raise r.fail("sinks", "names must be unique (give each a 'name')")
    for key in ("listen", "state", "external_url", "token", "title"):
        if top.get(key) is not None:
            kw[key] = r.text(top[key], key)
    retry = r.mapping(top.get("retry"), "retry", {"initial", "max", "max_attempts"})
    kw["retry_initial"] = r.seconds(retry.get("initial", "1s"), "retry.initial")
    kw["retry_max"] = r.seconds(retry.get("max", "60s"), "retry.max")
    if retry.get("max_attempts") is not None:
        kw["retry_max_attempts"] = r.integer(retry["max_attempts"], "retry.max_attempts")
    limits = r.mapping(top.get("limits"), "limits", {"max_body", "max_points", "max_series"})
    for key, default in (("max_body", 1 << 20), ("max_points", 10_000), ("max_series", 1000)):
        kw[key] = r.integer(limits.get(key, default), f"limits.{key}")
    clock = r.mapping(top.get("clock"), "clock", {"start", "minute"})
    if clock:
        from anomalert.sources.prometheus import parse_time

        try:
            kw["clock_start"] = parse_time(clock.get("start", "now"))
        except AnomalertError as exc:
            raise r.fail("clock.start", str(exc)) from None
        kw["clock_minute"] = r.seconds(clock.get("minute", "1m"), "clock.minute")
    poll = r.mapping(top.get("poll"), "poll", {"backoff", "max_backoff"})
    kw["poll_backoff"] = r.seconds(poll.get("backoff", "1s"), "poll.backoff")
    kw["poll_max_backoff"] = r.seconds(poll.get("max_backoff", "60s"), "poll.max_backoff")
    kw["checkpoint"] = r.seconds(top.get("checkpoint", "5s"), "checkpoint")
    kw["full_checkpoint"] = r.seconds(top.get("full_checkpoint", "30m"), "full_checkpoint",
                                      zero=True)
    kw["resend"] = r.seconds(top.get("resend", "60s"), "resend")
    for sink in built:  # an alert not re-posted before its endsAt resolves, then fires again
        ttl = getattr(sink, "ttl", None)
        if ttl is not None and kw["resend"] >= ttl:
            raise r.fail("resend", f"{kw['resend']:g}s must be shorter than sink {sink.name!r}'s "
                         f"ttl ({ttl:g}s), or Alertmanager resolves open alerts between re-posts")
    kw["alert_labels"] = r.labels(top.get("alert_labels"), "alert_labels")
    if simulate or ("simulate" in top and not serve):
        kw["simulate"] = _simulate(r, top.get("simulate"))
    elif serve:
        specs = ()
    elif not specs:
        raise r.fail("queries", "no queries to watch (or use --simulate)")
    elif "prometheus_url" not in kw:
        raise r.fail("prometheus", "missing: give prometheus.url (or use --simulate)")
    return WatchConfig(queries=specs, sinks=tuple(specs_read), defaults=defaults, **kw)


def load_config(
    path: str | Path | None, *, simulate: bool = False, serve: bool = False
) -> WatchConfig:
    """Read and validate a YAML configuration file (None: an empty one)."""
    import yaml

    if path is None:
        return config_from_dict(None, source="(no config)", simulate=simulate, serve=serve)
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}".replace("\n", " ")) from None
    return config_from_dict(data, source=str(p), simulate=simulate, serve=serve)
