"""The report page and its words: one self-contained HTML file, text generated from numbers.

Every sentence of interpretation is built from the measured numbers of the run it describes
(no fixed verdicts): comparisons name both sides' numbers, the contamination paragraph reads
the sweep, and anything that depends on a threshold says which one. Images are embedded as
base64 PNG; the page loads nothing from the network.

Examples
--------
>>> _pct(0.0123), _pct(0.0), _pct(0.5)
('1.23%', '0%', '50.0%')
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anomalert.detectors import preset as preset_of
from anomalert.report.page import describe_detector, esc, image, minutes, page, pct, when
from anomalert.report.page import incident_table as _incidents

if TYPE_CHECKING:
    from anomalert.report.results import CaseResult, DemoResult

__all__ = ["acceptance", "case_paragraphs", "incident_table", "render", "summary_table",
           "sweep_paragraphs", "write_report"]

_pct, _esc, _what = pct, esc, describe_detector


def acceptance(cases: Sequence[CaseResult]) -> list[dict[str, Any]]:
    """Issue 3's check per case and scope: ``default`` vs the tutorial preset."""
    out = []
    for case in cases:
        for scope in ("all", "heldout"):
            got = {r["detector"]: r for r in case.runs if r["scope"] == scope}
            d, p = got["default"], got[case.preset]
            out.append({"scenario": case.scenario, "variant": case.variant, "seed": case.seed,
                        "scope": scope, "preset": case.preset,
                        "default_false_incidents": d["incidents"]["false"],
                        "preset_false_incidents": p["incidents"]["false"],
                        "default_events": d["events"]["detected"],
                        "preset_events": p["events"]["detected"],
                        "events_total": d["events"]["total"],
                        "passed": bool(d["incidents"]["false"] <= p["incidents"]["false"]
                                       and d["events"]["detected"] >= p["events"]["detected"])})
    return out


def summary_table(cases: Sequence[CaseResult], scope: str = "heldout") -> str:
    """A plain-text table of every run in ``scope`` (what ``anomalert demo`` prints)."""
    head = (f"{'scenario':9} {'variant':9} {'seed':>4} {'detector':16} {'prec':>6} {'recall':>6} "
            f"{'f1':>6} {'fpr':>7} {'events':>7} {'incid.':>6} {'false':>5} {'false/d':>7} "
            f"{'longest':>8}")
    lines = ["held-out rows (after each scenario's training window); * = trained on them too"
             if scope == "heldout" else "all rows", head, "-" * len(head)]
    note = ("incidents as anomalert detect opens them (one page each, re-opened within the "
            "cooldown); longest: first to last alert")
    for case in cases:
        for r in case.runs:
            if r["scope"] != scope:
                continue
            p, e, i = r["point"], r["events"], r["incidents"]
            star = "*" if scope == "heldout" and r["in_sample"] else ""
            lines.append(
                f"{case.scenario:9} {case.variant:9} {case.seed:>4} {r['detector'] + star:16} "
                f"{p['precision']:6.3f} {p['recall']:6.3f} {p['f1']:6.3f} {p['fpr']:7.4f} "
                f"{e['detected']:>3}/{e['total']:<3} {i['total']:>6} {i['false']:>5} "
                f"{i['false_per_day']:7.2f} {_hours(i.get('longest_min', 0.0)):>8}")
    return "\n".join([*lines, note])


def _hours(minutes: float) -> str:
    """``"37.7 h"``; minutes below an hour (``"9 min"``)."""
    return f"{minutes / 60:.1f} h" if minutes >= 60 else f"{minutes:.0f} min"


def _run(case: CaseResult, detector: str, scope: str = "heldout") -> dict[str, Any]:
    return next(r for r in case.runs if r["detector"] == detector and r["scope"] == scope)


def _duration(minutes: float) -> str:
    """``90`` -> ``"1.5 hours"``; days from two days up, minutes below an hour."""
    if minutes >= 2880:
        return f"{minutes / 1440:.1f} days"
    return f"{minutes / 60:.1f} hours" if minutes >= 60 else f"{minutes:.0f} min"


def _describe(r: dict[str, Any]) -> str:
    e, i, p = r["events"], r["incidents"], r["point"]
    delay = (f" (first alert {e['mean_delay_min']:.1f} min after the start on average)"
             if e["mean_delay_min"] is not None else "")
    longest = i.get("longest_min", 0.0)
    held = (f", the longest open {_duration(longest)} from first to last alert"
            if longest >= 60 else "")
    return (f"detected {e['detected']} of {e['total']} events{delay}; {i['total']} "
            f"incident(s), {i['false']} of them false ({i['false_per_day']:.2f} per day){held}, "
            f"alerting outside the events {minutes(i['false_alert_min_per_day'])} a day; "
            f"point precision {p['precision']:.3f}, recall {p['recall']:.3f}, false-positive "
            f"rate {_pct(p['fpr'])}.")


def _span(rows: int) -> str:
    return f"{rows / 1440:.1f} days" if rows >= 2880 else f"{rows / 60:.1f} hours"


def case_paragraphs(case: CaseResult) -> list[str]:
    """Plain-words reading of one case's held-out numbers (HTML fragments)."""
    out = [f"<p>{case.rows:,} one-minute rows over {case.days:.1f} days, {case.events} labelled "
           f"event(s); metrics {_esc(', '.join(case.metrics))}. Detectors are compared on the "
           f"{case.heldout_rows:,} held-out rows ({_span(case.heldout_rows)}) from "
           f"{when(case.heldout_from)}, after the scenario's label-free training window.</p>"]
    items = []
    for n in case.detectors:
        s = case.summary[n]
        items.append(f"<li><b>{_esc(n)}</b> <span class=note>({_esc(_what(n))}; trained on "
                     f"{s['train_rows']:,} rows, threshold {s['threshold']:.3g})</span>: "
                     f"{_esc(_describe(_run(case, n)))}</li>")
    out.append("<ul>" + "".join(items) + "</ul>")
    d, p = _run(case, "default"), _run(case, case.preset)
    fewer = p["incidents"]["false"] - d["incidents"]["false"]
    more = d["events"]["detected"] - p["events"]["detected"]
    if fewer >= 0 and more >= 0:
        gain = []
        if fewer > 0:
            gain.append(f"{fewer} fewer false incident(s)")
        if more > 0:
            gain.append(f"{more} more event(s) detected")
        verdict = (f"default did at least as well as {case.preset} on false incidents and on "
                   "events detected here"
                   + (f" ({' and '.join(gain)})." if gain else " (a tie)."))
    else:
        lost = []
        if fewer < 0:
            lost.append(f"more false incidents ({d['incidents']['false']} vs "
                        f"{p['incidents']['false']})")
        if more < 0:
            lost.append(f"fewer events detected ({d['events']['detected']} vs "
                        f"{p['events']['detected']})")
        verdict = f"default did worse than {case.preset} here: {' and '.join(lost)}."
    plan = preset_of(case.preset)
    caveats = []
    if p["in_sample"]:
        caveats.append(f"{case.preset} was fitted on every row, these included, so its held-out "
                       "numbers are in-sample and flatter it")
    if plan.exclude_labelled:
        caveats.append(f"{case.preset} picked its training rows with the labels (labelled rows "
                       "removed), which no real deployment can do")
    missed = [f"{k} ({s['events'] - s['detected']} of {s['events']})"
              for k, s in sorted(d["events"]["per_type"].items()) if s["detected"] < s["events"]]
    if missed:
        caveats.append("default missed " + ", ".join(missed))
    out.append(f'<p class="verdict">{_esc(verdict)}'
               + (" Caveats: " + _esc("; ".join(caveats)) + "." if caveats else "") + "</p>")
    return out


def sweep_paragraphs(case: CaseResult) -> list[str]:
    """What the contamination sweep and default's threshold sweep show, from their numbers."""
    rows = sorted(case.sweeps.get("contamination", []), key=lambda r: r["value"])
    if not rows:
        return []
    lo, hi = rows[0], rows[-1]
    tracked = all(abs(r["train_flagged"] - r["value"]) <= 0.1 * r["value"] + 1 / r["train_rows"]
                  for r in rows)
    text = (f"Raising {case.preset}'s contamination from {lo['value']:g} to {hi['value']:g} moved "
            f"the flagged share of its training window from {_pct(lo['train_flagged'])} to "
            f"{_pct(hi['train_flagged'])}")
    text += (" — each time equal to the contamination, because the threshold is the training "
             "window's (1 − contamination) score quantile, whatever the data holds. "
             if tracked else ". ")
    ties = [r for r in rows if r["train_flagged"] < 0.5 * r["value"]]
    if ties:
        listed = ", ".join(format(r["value"], "g") for r in ties)
        text += (f"At contamination {listed} far fewer rows "
                 "were flagged than asked for: many training rows share the most extreme score "
                 "(values clipped to the same number), so the quantile falls on the tie and "
                 "nothing scores above it. ")
    ups = sum(b["fpr"] >= a["fpr"] for a, b in zip(rows, rows[1:], strict=False))
    where = " (which it was also trained on)" if lo["in_sample"] else ""
    rows_word = "held-out rows" if lo["scope"] == "heldout" else "rows"
    text += (f"Its false-positive rate on the {rows_word}{where} went from {_pct(lo['fpr'])} to "
             f"{_pct(hi['fpr'])} (up or flat in {ups} of {len(rows) - 1} steps), false incidents "
             f"from {lo['false_incidents_per_day']:.2f} to {hi['false_incidents_per_day']:.2f} per "
             f"day, and events detected from {lo['events_detected']} to {hi['events_detected']} "
             f"of {lo['events_total']}. ")
    full = [r for r in rows if r["events_detected"] == r["events_total"]]
    # the least alerting outside the events, not the fewest false incidents: a high
    # contamination merges alerts into day-long incidents that cover an event and count true
    best = min(full, key=lambda r: (r["false_alert_min_per_day"],
                                    r["false_incidents_per_day"])) if full else None
    if best is None:
        text += "No contamination value tried detected every event."
    else:
        text += (f"Among the values that detected every event, the least alerting outside the "
                 f"events came at contamination {best['value']:g}: "
                 f"{minutes(best['false_alert_min_per_day'])} a day, in "
                 f"{best['false_incidents_per_day']:.2f} false incidents per day (fewer false "
                 "incidents at a higher contamination can mean longer ones, not fewer alerts).")
    d = case.summary["default"]
    mine = d["false_incidents_per_day"]
    if best is not None:
        ref = best["false_incidents_per_day"]
        rel = "fewer than" if mine < ref else "the same as" if mine == ref else "more than"
        versus = (f"{rel} the {ref:.2f} of the contamination value with the least alerting "
                  "outside the events that detected every event")
    else:
        per_day = [r["false_incidents_per_day"] for r in rows]
        versus = f"the contamination values gave {min(per_day):.2f} to {max(per_day):.2f}"
    text2 = (f"default's threshold ({d['threshold']:.2f}σ) was chosen without labels, from its "
             f"own training scores. It flagged {_pct(d['train_flagged'])} of its training window "
             f"and {_pct(d['fpr'])} of normal {_scope(d['scope'])} rows, with {mine:.2f} false "
             f"incidents per day ({versus}), alerting outside the events "
             f"{minutes(d['false_alert_min_per_day'])} a day, and {d['events_detected']} of "
             f"{d['events_total']} events.")
    th = sorted(case.sweeps.get("threshold", []), key=lambda r: r["threshold"])
    if th:
        text2 += " Moving that threshold by hand: " + "; ".join(
            f"{r['threshold']:.2f}σ gives {r['false_incidents_per_day']:.2f} false incidents/day "
            f"and {r['events_detected']}/{r['events_total']} events" for r in th) + "."
    return [_esc(text), _esc(text2)]


def _scope(scope: str) -> str:
    return "held-out" if scope == "heldout" else "all-rows"


def _table(case: CaseResult) -> str:
    head = ["detector", "scope", "precision", "recall", "F1", "FPR", "events", "mean delay (min)",
            "incidents", "false", "false/day", "longest incident", "threshold", "training rows",
            "training flagged"]
    body = []
    for r in case.runs:
        p, e, i = r["point"], r["events"], r["incidents"]
        s = case.summary[r["detector"]]
        scope = r["scope"] + (" (in-sample)" if r["scope"] == "heldout" and r["in_sample"] else "")
        delay = f"{e['mean_delay_min']:.1f}" if e["mean_delay_min"] is not None else "–"
        cells = [r["detector"], scope, f"{p['precision']:.3f}", f"{p['recall']:.3f}",
                 f"{p['f1']:.3f}", _pct(p["fpr"]), f"{e['detected']}/{e['total']}", delay,
                 str(i["total"]), str(i["false"]), f"{i['false_per_day']:.2f}",
                 _hours(i.get("longest_min", 0.0)), f"{s['threshold']:.3g}", f"{s['train_rows']:,}", _pct(s["train_flagged"])]
        body.append("<tr>" + "".join(
            f'<td{"" if k < 2 else " class=n"}>{_esc(c)}</td>' for k, c in enumerate(cells))
            + "</tr>")
    return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
            + "".join(body) + "</table>")


#: Incidents listed per detector in a case's incident table (the rest are counted).
INCIDENT_ROWS = 8


def incident_table(case: CaseResult, limit: int = INCIDENT_ROWS) -> str:
    """The held-out incidents of each detector, as ``anomalert detect`` lists them (UTC)."""
    return _incidents(
        {n: case.incidents.get(n, []) for n in case.detectors}, limit=limit,
        note="Held-out incidents as the Monitor (and <code>anomalert detect</code>) opens "
        "them: start and end are the first and last alert; “open before”: opened in the "
        "training window and still alerting after it. False: overlaps no labelled event.")


def render(result: DemoResult) -> str:
    """The whole report page as a string."""
    cases = result.cases
    checks = acceptance(cases)
    passed = sum(c["passed"] for c in checks)
    first = [c for c in cases if c.figures]
    parts = ["<h1>anomalert demo report</h1>",
             f"<p class=meta>{len(cases)} case(s); seeds "
             f"{', '.join(str(s) for s in sorted({c.seed for c in cases}))}"
             f"{'; quick mode (shortened series)' if result.quick else ''}; "
             f"computed in {result.seconds:.0f} s.</p>",
             "<nav>" + "".join(f'<a href="#{c.key}">{c.scenario} / {c.variant}</a>'
                               for c in first) + '<a href="#reading">how to read</a></nav>',
             "<h2 id=summary>Summary</h2>",
             f"<p class=verdict>On {passed} of {len(checks)} checks (each scenario and seed, over "
             "all rows and over held-out rows) <b>default</b> opened no more false incidents than "
             "the tutorial preset and detected at least as many events.</p>"]
    sweeps = [r for c in cases for r in c.sweeps.get("contamination", [])]
    if sweeps:
        near = sum(abs(r["train_flagged"] - r["value"]) <= 0.1 * r["value"] + 1 / r["train_rows"]
                   for r in sweeps)
        ratios = [r["fpr"] / r["value"] for r in sweeps]
        parts.append(f"<p>The contamination challenge: in {near} of {len(sweeps)} sweep runs the "
                     "share of the training window flagged by the tutorial preset was within 10% "
                     "of the contamination asked for, while its false-positive rate on the "
                     f"held-out rows ranged from {min(ratios):.2g} to {max(ratios):.2g} times the "
                     "contamination (details per scenario below).</p>")
    failed = [c for c in checks if not c["passed"]]
    if failed:
        parts.append("<p>Checks default did not pass: " + "; ".join(
            f"{c['scenario']}/{c['variant']} seed {c['seed']} ({c['scope']}): false incidents "
            f"{c['default_false_incidents']} vs {c['preset_false_incidents']}, events "
            f"{c['default_events']} vs {c['preset_events']} of {c['events_total']}"
            for c in failed) + ".</p>")
    rows = []
    for c in cases:
        for r in c.runs:
            if r["scope"] != "heldout":
                continue
            i, e = r["incidents"], r["events"]
            good = r["detector"] == "default"
            rows.append(f"<tr class={'good' if good else ''}><td>{c.scenario}</td>"
                        f"<td>{c.variant}</td><td class=n>{c.seed}</td><td>{_esc(r['detector'])}"
                        f"{' *' if r['in_sample'] else ''}</td><td class=n>"
                        f"{r['point']['f1']:.3f}</td><td class=n>{_pct(r['point']['fpr'])}</td>"
                        f"<td class=n>{e['detected']}/{e['total']}</td><td class=n>{i['total']}"
                        f"</td><td class=n>{i['false']}</td><td class=n>"
                        f"{i['false_per_day']:.2f}</td><td class=n>"
                        f"{_hours(i.get('longest_min', 0.0))}</td></tr>")
    parts.append("<table><tr><th>scenario</th><th>variant</th><th>seed</th><th>detector</th>"
                 "<th>F1</th><th>FPR</th><th>events</th><th>incidents</th><th>false</th>"
                 "<th>false/day</th><th>longest incident</th></tr>" + "".join(rows)
                 + "</table><p class=note>Held-out rows only. * the detector was fitted on these "
                 "rows too (in-sample). Incidents as <code>anomalert detect</code> opens them; "
                 "the longest from its first alert to its last.</p>")
    for c in cases:
        if not c.figures:
            continue
        parts.append(f"<h2 id={c.key}>{c.scenario} / {c.variant} (seed {c.seed})</h2>")
        parts += case_paragraphs(c)
        parts.append(_table(c))
        if c.incidents:
            parts.append("<h3>Incidents</h3>")
            parts.append(incident_table(c))
        by_name = dict(c.figures)
        for name, caption in c.figures:
            if name.endswith("_sweep.png"):
                continue
            parts.append(image(result.out / name, caption))
        sweep_png = next((n for n in by_name if n.endswith("_sweep.png")), None)
        parts.append("<h3>The contamination challenge</h3>")
        parts += [f"<p>{p}</p>" for p in sweep_paragraphs(c)]
        if sweep_png:
            parts.append(image(result.out / sweep_png, by_name[sweep_png]))
    parts.append(_READING)
    return page("anomalert demo report", parts)


_READING = """<h2 id=reading>How to read this report</h2><ul>
<li><b>Held-out rows</b> come after the scenario's training window, which is fixed in advance
without looking at the labels; metrics are shown there and, separately, over all rows.</li>
<li>An <b>incident</b> is one page, counted the way the Monitor (and <code>anomalert
detect</code>) opens it: from its first alert to its last, resolved after 3 clean points, and
re-opened rather than paged again by an alert within the cooldown (an hour of points). A
detector that alerts all the time therefore opens few incidents that stay open for days: read
the incident count beside the false-positive rate and the longest incident. In the held-out
scope an incident counts by its alerts there. A <b>false incident</b> overlaps no labelled
event; an <b>event is detected</b> when an alert falls inside it, and its delay is the first
such alert minus the event's start.</li>
<li>Units: values are shown as stored and as alert explanations print them; error rates
(<code>*_rate</code>) are fractions of requests (0.47, not 47%), CPU and memory usage
percent.</li>
<li>Scores are in each detector's own units: Isolation Forest's is <code>-score_samples</code>
(in (0, 1]); default's is a robust z-score (σ). The dashed line is the threshold the detector
compares with.</li>
<li>Attribution: for Isolation Forest, a feature's share is how much the score drops when that
feature alone is put back at its training median; for default, the feature's distance from its
baseline in σ.</li></ul>"""


def write_report(result: DemoResult) -> Path:
    """Write ``report.html`` into the result's directory; returns its path."""
    result.report.write_text(render(result), encoding="utf-8")
    return result.report
