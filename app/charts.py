"""Altair chart builders for the app: drawing only (the numbers and words come from
:mod:`core.evaluation.explanations`).

Every chart here:

* has a ``description`` (Vega's accessible description of the chart) and a title naming what it shows, and is
  meant to be shown with a text alternative beside it (the page puts a sentence and a table of the same numbers
  under each chart: screen readers otherwise hear only "Vega visualization");
* shows pass and fail in words on the chart itself (a text mark beside each bar or point), never by colour alone;
* draws a policy's limit where it binds: a fairness chart shades the band of rates the rule allows around the
  highest group and draws its lower edge as a dashed line, per rate (both true- and false-positive rate for
  equalized odds), not one line derived from the first rate only.

Colours reach at least 3:1 against the white background (WCAG 2.1 non-text contrast) and text marks 4.5:1.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from core.evaluation.explanations import RateBand, number

#: Bar and text colours (contrast with white: PASS 6.0:1, FAIL 6.5:1, NEUTRAL 8.6:1, LIMIT 6.5:1).
PASS = "#1b6e3a"
FAIL = "#b3261e"
NEUTRAL = "#1d4e89"
LIMIT = "#b3261e"
BAND = "#c9dcf0"
REFERENCE = "#5b6b7f"
#: Chart label font size, and the widest a label axis grows (long group or feature names are cut with "…").
FONT = 12
LABEL_LIMIT = 220


def _bar_height(rows: int) -> int:
    """The chart's whole height (Streamlit fits the chart in it: title and axis included), 40 px a bar."""
    return 40 * rows + 110


def _unit_axis(top: float) -> alt.Axis:
    """A value axis whose ticks stop at 1 when the values do (room is left beside the bars for their labels)."""
    return alt.Axis(values=[i / 10 for i in range(11)]) if top <= 1 else alt.Axis()


def _result_colour() -> alt.Color:
    return alt.Color("result:N", scale=alt.Scale(domain=["passes", "fails"], range=[PASS, FAIL]), legend=None)


def metrics_chart(rows: list[dict[str, Any]], description: str) -> alt.Chart:
    """Horizontal bars of metric values on 0..1 (``metric``, ``value``, ``threshold`` or ``None``, ``rule``,
    ``result`` "passes"/"fails"), the threshold of each as a dark tick, and "0.9031 passes" written by each bar."""
    data = pd.DataFrame(rows)
    data["label"] = [f"{number(v)} {r}" for v, r in zip(data["value"], data["result"], strict=True)]
    y = alt.Y("metric:N", title=None, sort=None, axis=alt.Axis(labelLimit=LABEL_LIMIT, labelFontSize=FONT))
    x = alt.X("value:Q", title="value (0 to 1)", scale=alt.Scale(domain=[0, 1.25]), axis=_unit_axis(1.0))
    tooltip = [alt.Tooltip("metric:N"), alt.Tooltip("value:Q", format=".4f"), alt.Tooltip("rule:N"),
               alt.Tooltip("result:N")]
    bars = alt.Chart(data).mark_bar(height=18).encode(y=y, x=x, color=_result_colour(), tooltip=tooltip)
    text = alt.Chart(data).mark_text(align="left", dx=4, fontSize=FONT, color="#1d1d1f").encode(
        y=y, x="value:Q", text="label:N")
    layers = [bars, text]
    limits = data.dropna(subset=["threshold"])
    if not limits.empty:
        layers.append(alt.Chart(limits).mark_tick(color="#1d1d1f", thickness=3, size=26).encode(
            y=y, x="threshold:Q", tooltip=[alt.Tooltip("metric:N"), alt.Tooltip("rule:N", title="limit")]))
    return alt.layer(*layers).properties(
        title="Performance metrics against their limits (dark tick: the policy's limit)",
        description=description, height=_bar_height(len(data)))


def fairness_chart(band: RateBand, title: str, description: str) -> alt.Chart:
    """One rate of a fairness check per group: bars, the band the rule allows (shaded), its lower edge (dashed
    line, "lowest allowed"), and each group's value with "inside"/"below the band" written beside its bar."""
    data = pd.DataFrame([{"group": g, "rate": v,
                          "position": "below the band" if g in band.outside else
                          ("inside the band" if band.low is not None else "")}
                         for g, v in band.groups.items()])
    data["label"] = [f"{number(v)} {p}".strip() for v, p in zip(data["rate"], data["position"], strict=True)]
    top = max([1.0, *data["rate"].tolist()])
    y = alt.Y("group:N", title=None, sort=None, axis=alt.Axis(labelLimit=LABEL_LIMIT, labelFontSize=FONT))
    x = alt.X("rate:Q", title=band.label, scale=alt.Scale(domain=[0, top * 1.25]), axis=_unit_axis(top))
    colour = alt.Color("position:N", scale=alt.Scale(domain=["inside the band", "below the band", ""],
                                                     range=[NEUTRAL, FAIL, NEUTRAL]), legend=None)
    layers: list[alt.Chart] = []
    if band.low is not None and band.high is not None:
        limits = pd.DataFrame({"low": [band.low], "high": [band.high], "words": [band.band_words]})
        layers.append(alt.Chart(limits).mark_rect(color=BAND, opacity=0.8).encode(
            x="low:Q", x2="high:Q", tooltip=[alt.Tooltip("words:N", title="allowed")]))
        layers.append(alt.Chart(limits).mark_rule(color=LIMIT, strokeDash=[6, 3], size=2).encode(
            x="low:Q", tooltip=[alt.Tooltip("low:Q", title="lowest allowed", format=".4f")]))
    layers.append(alt.Chart(data).mark_bar(height=18).encode(
        y=y, x=x, color=colour, tooltip=[alt.Tooltip("group:N"), alt.Tooltip("rate:Q", format=".4f"),
                                         alt.Tooltip("position:N", title="against the rule")]))
    layers.append(alt.Chart(data).mark_text(align="left", dx=4, fontSize=FONT, color="#1d1d1f").encode(
        y=y, x="rate:Q", text="label:N"))
    return alt.layer(*layers).properties(title=title, description=description, height=_bar_height(len(data)))


def confusion_chart(cells: list[dict[str, Any]], title: str, description: str) -> alt.Chart:
    """A confusion matrix (``actual``, ``predicted``, ``rows``): a heat map with each cell's count written in it."""
    data = pd.DataFrame(cells)
    data["share"] = data["rows"] / max(1, int(data["rows"].sum()))
    data["label"] = [f"{n:,}" for n in data["rows"]]
    base = alt.Chart(data).encode(
        x=alt.X("predicted:N", title="predicted", sort=None, axis=alt.Axis(labelAngle=0, labelFontSize=FONT)),
        y=alt.Y("actual:N", title="actual", sort=None, axis=alt.Axis(labelFontSize=FONT)))
    cells_mark = base.mark_rect(stroke="#ffffff").encode(
        color=alt.Color("share:Q", scale=alt.Scale(range=["#eef2f8", "#7fa6d3"]), legend=None),
        tooltip=[alt.Tooltip("actual:N"), alt.Tooltip("predicted:N"), alt.Tooltip("rows:Q", format=",")])
    text = base.mark_text(fontSize=14, color="#1d1d1f").encode(text="label:N")
    return (cells_mark + text).properties(title=title, description=description, width=320, height=200)


def roc_chart(points: list[dict[str, Any]], title: str, description: str) -> alt.Chart:
    """A ROC curve (false- against true-positive rate) with the chance diagonal."""
    data = pd.DataFrame(points)
    # Both layers name their axes alike: Vega-Lite joins differing layer titles ("x, false-positive rate").
    x = alt.X("false-positive rate:Q", title="False-positive rate", scale=alt.Scale(domain=[0, 1]))
    y = alt.Y("true-positive rate:Q", title="True-positive rate", scale=alt.Scale(domain=[0, 1]))
    curve = alt.Chart(data).mark_line(color=NEUTRAL, interpolate="step-after").encode(
        x=x, y=y,
        tooltip=[alt.Tooltip("false-positive rate:Q", format=".4f"), alt.Tooltip("true-positive rate:Q", format=".4f"),
                 alt.Tooltip("threshold:Q", format=".4f")])
    chance = alt.Chart(pd.DataFrame({"false-positive rate": [0.0, 1.0], "true-positive rate": [0.0, 1.0]})).mark_line(
        color=REFERENCE, strokeDash=[4, 4]).encode(x=x, y=y)
    return (chance + curve).properties(title=title, description=description, width=320, height=320)


def drift_chart(rows: list[dict[str, Any]], compared: str, title: str, description: str) -> alt.Chart:
    """Per feature, the drift test's value (``value``) and its limit (``threshold``, a dark tick), with "drifted"
    or "stable" written beside each point. ``compared`` is "p-value" (drift when below the limit) or "statistic"
    (drift when above it)."""
    data = pd.DataFrame(rows)
    data["label"] = [f"{number(v)} {'drifted' if d == 'yes' else 'stable'}"
                     for v, d in zip(data["value"], data["drifted"], strict=True)]
    data["result"] = ["fails" if d == "yes" else "passes" for d in data["drifted"]]
    top = max([1.0 if compared == "p-value" else 0.0, *data["value"].tolist(), *data["threshold"].dropna().tolist()])
    y = alt.Y("feature:N", title=None, sort=None, axis=alt.Axis(labelLimit=LABEL_LIMIT, labelFontSize=FONT))
    x = alt.X("value:Q", title=compared, scale=alt.Scale(domain=[0, top * 1.25 or 1]), axis=_unit_axis(top))
    colour = alt.Color("result:N", scale=alt.Scale(domain=["passes", "fails"], range=[PASS, FAIL]), legend=None)
    points = alt.Chart(data).mark_point(filled=True, size=90).encode(
        y=y, x=x, color=colour, shape=alt.Shape("result:N", scale=alt.Scale(domain=["passes", "fails"],
                                                                          range=["circle", "triangle-down"]),
                                                legend=None),
        tooltip=[alt.Tooltip("feature:N"), alt.Tooltip("test:N"), alt.Tooltip("value:Q", format=".4f"),
                 alt.Tooltip("rule:N"), alt.Tooltip("drifted:N")])
    limits = alt.Chart(data.dropna(subset=["threshold"])).mark_tick(color="#1d1d1f", thickness=2, size=22).encode(
        y=y, x="threshold:Q", tooltip=[alt.Tooltip("feature:N"), alt.Tooltip("rule:N", title="limit")])
    text = alt.Chart(data).mark_text(align="left", dx=8, fontSize=FONT, color="#1d1d1f").encode(
        y=y, x="value:Q", text="label:N")
    return alt.layer(limits, points, text).properties(title=title, description=description,
                                                     height=_bar_height(len(data)))


def distribution_chart(rows: list[dict[str, Any]], title: str, description: str) -> alt.Chart:
    """A feature's reference and current distributions side by side (``bin``, ``data``, ``share``), as Evidently
    draws them."""
    data = pd.DataFrame(rows)
    return alt.Chart(data).mark_bar(opacity=0.7).encode(
        y=alt.Y("bin:N", title=None, sort=None, axis=alt.Axis(labelLimit=160)),
        yOffset=alt.YOffset("data:N", sort=["reference", "current"]),
        x=alt.X("share:Q", title="share of rows", axis=alt.Axis(format="%")),
        color=alt.Color("data:N", scale=alt.Scale(domain=["reference", "current"], range=[REFERENCE, NEUTRAL]),
                        legend=alt.Legend(title=None, orient="bottom")),
        tooltip=[alt.Tooltip("bin:N"), alt.Tooltip("data:N"), alt.Tooltip("share:Q", format=".2%")],
    ).properties(title=title, description=description, height=alt.Step(9))


def importance_chart(importance: dict[str, float], title: str, description: str) -> alt.Chart:
    """Mean absolute SHAP value per feature, largest first, with the value written by each bar."""
    data = pd.DataFrame({"feature": list(importance), "mean |SHAP|": [float(v or 0) for v in importance.values()]})
    data["label"] = [number(v) for v in data["mean |SHAP|"]]
    y = alt.Y("feature:N", sort="-x", title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT, labelFontSize=FONT))
    bars = alt.Chart(data).mark_bar(color=NEUTRAL, height=16).encode(
        y=y, x=alt.X("mean |SHAP|:Q"), tooltip=[alt.Tooltip("feature:N"), alt.Tooltip("mean |SHAP|:Q", format=".4f")])
    text = alt.Chart(data).mark_text(align="left", dx=4, fontSize=FONT, color="#1d1d1f").encode(
        y=y, x="mean |SHAP|:Q", text="label:N")
    return (bars + text).properties(title=title, description=description, height=_bar_height(len(data)))
