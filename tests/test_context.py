"""The context test (``context``, and ``default`` with ``_context``): metrics that stop
moving together."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from anomalert.detectors import Context, Default
from anomalert.detectors import _kernel as K


def _host(days: int = 3, seed: int = 3) -> pd.DataFrame:
    """Requests with a daily cycle and noise; CPU follows them closely (own noise 0.5)."""
    n = days * 1440
    idx = pd.date_range("2025-01-01", periods=n, freq="1min", tz="UTC")
    rng = np.random.default_rng(seed)
    requests = 100 + 30 * np.sin(np.arange(n) * 2 * np.pi / 1440) + rng.normal(0, 5, n)
    cpu = 10 + 0.4 * requests + rng.normal(0, 0.5, n)
    return pd.DataFrame({"requests": requests, "cpu": cpu}, index=idx)


class _NoContext(Default):
    name = "default-no-context"
    _context = False


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 8])
def test_chi_square_tail_and_its_gaussian_equivalent_match_scipy(k: int) -> None:
    for x in (0.01, 0.5, 3.0, 20.0, 80.0, 400.0, 1200.0):
        assert K._chi2_logsf(x, k) == pytest.approx(stats.chi2.logsf(x, k), rel=1e-9, abs=1e-12)
        lp = stats.chi2.logsf(x, k)
        z = K._as_sigma(lp, math.sqrt(x))
        assert z <= math.sqrt(x) + 1e-12  # never more than one Gaussian deviation this far
        if lp > -700:  # scipy's isf underflows beyond
            assert z == pytest.approx(stats.norm.isf(math.exp(lp) / 2), rel=1e-7, abs=1e-9)
    # far past where scipy's tail underflows the sums stay finite (2 degrees: exactly -x/2)
    assert K._chi2_logsf(6000.0, 2) == pytest.approx(-3000.0, rel=1e-12)
    assert math.isfinite(K._chi2_logsf(6000.0, k)) and K._as_sigma(-3000.0, 100.0) < 100.0


def test_cpu_without_the_traffic_pages_and_names_what_the_traffic_implies() -> None:
    frame = _host()
    det = Context().fit(frame.iloc[:-1])
    ts, row = frame.index[-1], frame.iloc[-1].to_dict()
    assert det.score_one(ts, row) < det.threshold_
    point = dict(row, cpu=row["cpu"] + 8.0)  # CPU up 8: its own noise is 0.5
    assert det.score_one(ts, point) > det.threshold_
    top = det.explain_one(ts, point).top
    assert top is not None and top.metric == "cpu"
    assert "what requests=" in top.text() and "implies" in top.text()
    # the baseline is what the traffic implies: near the CPU the traffic would give
    assert abs(top.baseline - row["cpu"]) < 2.0 and top.scale < 1.5
    assert top.deviation > 5
    # each metric alone is unremarkable: no other test of default pages on it
    assert _NoContext().fit(frame.iloc[:-1]).score_one(ts, point) < det.threshold_
    assert Default().fit(frame.iloc[:-1]).score_one(ts, point) > det.threshold_


def test_metrics_that_move_together_do_not_page() -> None:
    frame = _host()
    det = Context().fit(frame.iloc[:-1])
    ts, row = frame.index[-1], frame.iloc[-1].to_dict()
    # a burst of traffic with the CPU it brings: 3 of the requests' noise, 0.4 CPU each
    point = {"requests": row["requests"] + 15.0, "cpu": row["cpu"] + 0.4 * 15.0}
    assert det.score_one(ts, point) < det.threshold_
    scores = det.score(_host(days=1, seed=9).set_axis(
        frame.index[-1] + pd.to_timedelta(np.arange(1, 1441), "min")))
    assert float(scores.max()) < det.threshold_  # a day of the same host: no page


def test_one_metric_never_scores_and_a_flat_metric_is_left_out() -> None:
    frame = _host()
    single = Context().fit(frame[["cpu"]].iloc[:-1])
    ts = frame.index[-1]
    assert single.score_one(ts, {"cpu": 1e6}) == 0.0
    assert int(single.state_["P"][K.P_CTX]) == 0
    flat = frame.assign(disk=50.0)
    det = Context().fit(flat.iloc[:-1])
    row = flat.iloc[-1].to_dict()
    assert det.score_one(ts, dict(row, cpu=row["cpu"] + 8.0)) > det.threshold_
    assert det.score_one(ts, row) < det.threshold_


def test_a_missing_metric_skips_the_point_and_nothing_is_learned_from_it() -> None:
    frame = _host()
    det = Context().fit(frame.iloc[:-2])
    learned = int(det.state_["N"][det.state_["P"][K.P_CTX_ID]])
    ts, row = frame.index[-2], frame.iloc[-2].to_dict()
    assert det.score_one(ts, dict(row, requests=float("nan"), cpu=row["cpu"] + 8.0)) == 0.0
    det.learn_one(ts, dict(row, requests=float("nan")))
    assert int(det.state_["N"][det.state_["P"][K.P_CTX_ID]]) == learned
