"""Explanation text: numbers as people read them, no "0.0σ below"."""

from __future__ import annotations

from anomalert.detectors import Contribution


def test_counts_are_grouped_not_scientific():
    c = Contribution("total_requests", 29520.0, 12190.4, 1107.0, 15.66)
    assert c.text() == "total_requests=29,520 is 15.7σ above baseline 12,190 (±1,107)"
    assert "e+" not in Contribution("total_requests", 1.087e5, 1.219e4, 1.15e4, 8.4).text()


def test_small_values_keep_their_significant_digits():
    c = Contribution("5xx_rate", 0.02001, 0.005089, 0.00255, 5.86, share=0.079)
    assert c.text() == ("5xx_rate=0.02001 is 5.9σ above baseline 0.005089 (±0.00255, +0.079 "
                        "of the score)")


def test_a_value_at_its_baseline_says_so():
    c = Contribution("5xx_rate", 0.005, 0.005089, 0.00255, -0.035, share=0.068)
    assert c.text() == "5xx_rate=0.005 is at baseline 0.005089 (±0.00255, +0.068 of the score)"
    assert "0.0σ" not in c.text()
    assert "0.1σ below" in Contribution("cpu", 39.0, 40.0, 10.0, -0.1).text()
