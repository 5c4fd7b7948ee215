"""Shared pieces of the screens: money formatting, cost cards, charts, the 'not computed yet' state."""

from __future__ import annotations

import json
import math

import pandas as pd
import streamlit as st

from app import data

CHART_HEIGHT = 360


def money(value, currency: str = "USD", digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency)
    text = f"{abs(float(value)):,.{digits}f}"
    sign = "-" if float(value) < 0 else ""
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"


def percent_change(current: float, previous: float) -> str | None:
    if not previous:
        return None
    return f"{(current - previous) / abs(previous):+.1%}"


def not_computed(what: str) -> None:
    st.info(f"{what}: {data.NOT_COMPUTED}.", icon=":material/hourglass_empty:")


def no_snapshot() -> None:
    st.warning(f"Nothing is published yet ({data.settings().serving_path} does not exist). "
               "Load billing exports (`autostack ingest PATH` or `autostack up`) and this page fills in.",
               icon=":material/cloud_off:")


def cost_view_picker(key: str = "cost_view") -> str:
    """Billed (what the invoice says) or effective (commitments amortized), shared across pages."""
    return st.sidebar.segmented_control(
        "Cost view", options=list(data.COST_VIEWS), default="billed", key=key,
        format_func=str.capitalize, help="Billed: as invoiced. Effective: commitment purchases amortized over use.",
    ) or "billed"


def cost_cards(frame: pd.DataFrame, currency: str, *, columns: int = 4, limit: int = 8,
               budget_states: dict[str, str] | None = None) -> None:
    """Compact per-team/project cards: spend, a trend arrow against the previous period and, where a
    budget's scope is exactly that team/project, the budget's state (`budget_states`: name → text)."""
    rows = frame.head(limit).to_dict("records")
    for start in range(0, len(rows), columns):
        cells = st.columns(columns)
        for cell, row in zip(cells, rows[start:start + columns]):
            change = percent_change(row["spend"], row["previous"])
            cell.metric(str(row["name"]), money(row["spend"], currency, 0), delta=change,
                        delta_color="inverse", border=True)
            if budget_states and str(row["name"]) in budget_states:
                cell.caption(budget_states[str(row["name"])])


# Charts are Vega-Lite specs drawn by Streamlit's built-in Vega renderer (st.vega_lite_chart), not Plotly:
# Plotly's browser bundle (4.7 MB) costs every full page load about a second of script compilation and
# evaluation on a small machine, even from the browser's cache; Vega's is a fraction of that.
SERIES_COLORS = {"actual": "#00cc96", "forecast": "#636efa", "80% interval": "#636efa", "95% interval": "#636efa"}


def _day_strings(values) -> pd.Series:
    return pd.to_datetime(values).dt.strftime("%Y-%m-%d")


def trend_chart(history: pd.DataFrame, forecast: pd.DataFrame | None = None, *, title: str = "",
                currency: str = "USD") -> tuple[pd.DataFrame, dict]:
    """Daily actual cost with, when there is one, the forecast and its 80% and 95% bands: (data, spec)."""
    actual = pd.DataFrame({"day": _day_strings(history["charge_date"]), "series": "actual",
                           "cost": pd.to_numeric(history["cost"], errors="coerce").astype(float)})
    parts = [actual]
    bands = []
    if forecast is not None and not forecast.empty:
        predicted = pd.DataFrame({"day": _day_strings(forecast["forecast_date"]), "series": "forecast",
                                  "cost": pd.to_numeric(forecast["predicted_cost"], errors="coerce").astype(float)})
        for low, high, name, opacity in (("lower_95", "upper_95", "95% interval", 0.15),
                                         ("lower_80", "upper_80", "80% interval", 0.3)):
            if low in forecast and high in forecast:
                predicted[low] = pd.to_numeric(forecast[low], errors="coerce").astype(float).to_numpy()
                predicted[high] = pd.to_numeric(forecast[high], errors="coerce").astype(float).to_numpy()
                bands.append({"mark": {"type": "area", "opacity": opacity},
                              "transform": [{"filter": "datum.series === 'forecast'"}],
                              "encoding": {"y": {"field": low, "type": "quantitative"}, "y2": {"field": high},
                                           "color": {"datum": name}}})
        parts.append(predicted)
    frame = pd.concat(parts, ignore_index=True)
    domain = ["actual", *(["forecast"] if len(parts) > 1 else []), *(b["encoding"]["color"]["datum"] for b in bands)]
    x = {"field": "day", "type": "temporal", "title": None}
    spec = {
        "height": CHART_HEIGHT,
        "encoding": {"x": x, "color": {"scale": {"domain": domain, "range": [SERIES_COLORS[d] for d in domain]},
                                       "legend": {"orient": "bottom", "title": None}}},
        "layer": [*bands,
                  {"mark": {"type": "line"},
                   "encoding": {"y": {"field": "cost", "type": "quantitative", "title": currency},
                                "color": {"field": "series", "type": "nominal"},
                                "strokeDash": {"field": "series", "type": "nominal", "legend": None,
                                               "scale": {"domain": ["actual", "forecast"], "range": [[1, 0], [6, 4]]}}}},
                  {"mark": {"type": "point", "opacity": 0, "size": 60},  # hover targets: one per day and series
                   "encoding": {"y": {"field": "cost", "type": "quantitative"},
                                "tooltip": [{"field": "day", "type": "temporal", "title": "day"},
                                            {"field": "series", "type": "nominal"},
                                            {"field": "cost", "type": "quantitative", "format": ",.2f", "title": currency}]}}],
    }
    if title:
        spec["title"] = title
    return frame, spec


def stacked_bar(frame: pd.DataFrame, x: str, y: str, color: str, currency: str, *,
                granularity: str = "day") -> tuple[pd.DataFrame, dict]:
    """Cost per period stacked by group, the largest group first and (other) last: (data, spec)."""
    chart = pd.DataFrame({"period": _day_strings(frame[x]), "group": frame[color].astype(str),
                          "cost": pd.to_numeric(frame[y], errors="coerce").astype(float)})
    totals = chart.assign(size=chart["cost"].abs()).groupby("group", sort=False)["size"].sum()
    order = sorted(totals.index, key=lambda g: (g == "(other)", -totals[g], g))  # largest first, (other) last
    unit = "yearmonth" if granularity == "month" else "yearmonthdate"
    spec = {
        "height": 420,
        "mark": {"type": "bar"},
        "encoding": {
            "x": {"field": "period", "type": "temporal", "timeUnit": unit, "title": None},
            "y": {"field": "cost", "type": "quantitative", "title": currency},
            "color": {"field": "group", "type": "nominal", "title": color,
                      "scale": {"domain": order, "scheme": "category20"}, "legend": {"orient": "bottom", "columns": 4}},
            "order": {"field": "rank", "type": "quantitative"},
            "tooltip": [{"field": "period", "type": "temporal", "timeUnit": unit, "title": "period"},
                        {"field": "group", "type": "nominal", "title": color},
                        {"field": "cost", "type": "quantitative", "format": ",.2f", "title": currency}],
        },
    }
    chart["rank"] = chart["group"].map({g: i for i, g in enumerate(order)})
    return chart, spec


def horizontal_bar(frame: pd.DataFrame, label: str, value: str) -> tuple[pd.DataFrame, dict]:
    """One bar per row, in the frame's order, top to bottom: (data, spec)."""
    chart = pd.DataFrame({"label": frame[label].astype(str), "value": pd.to_numeric(frame[value], errors="coerce")})
    spec = {
        "height": max(160, 32 * len(chart)),
        "mark": {"type": "bar"},
        "encoding": {"y": {"field": "label", "type": "nominal", "sort": None, "title": None},
                     "x": {"field": "value", "type": "quantitative", "title": value},
                     "tooltip": [{"field": "label", "type": "nominal", "title": label},
                                 {"field": "value", "type": "quantitative", "format": ",.2f", "title": value}]},
    }
    return chart, spec


def column_bar(frame: pd.DataFrame, label: str, value: str, *, highlight: str | None = None,
               title: str = "") -> tuple[pd.DataFrame, dict]:
    """One column per row in the frame's order; the `highlight` label in green, the others grey: (data, spec)."""
    chart = pd.DataFrame({"label": frame[label].astype(str), "value": pd.to_numeric(frame[value], errors="coerce")})
    spec = {
        "height": 280,
        "mark": {"type": "bar"},
        "encoding": {"x": {"field": "label", "type": "nominal", "sort": None, "title": None, "axis": {"labelAngle": 0}},
                     "y": {"field": "value", "type": "quantitative", "title": title or value},
                     "color": {"condition": {"test": f"datum.label === {json.dumps(str(highlight))}", "value": "#00cc96"},
                               "value": "#8c8c8c"},
                     "tooltip": [{"field": "label", "type": "nominal", "title": label},
                                 {"field": "value", "type": "quantitative", "format": ",.2f", "title": title or value}]},
    }
    return chart, spec


def chart(figure: tuple[pd.DataFrame, dict], key: str) -> None:
    """Draw a (data, spec) chart across the page width."""
    data_frame, spec = figure
    st.vega_lite_chart(data_frame, spec, width="stretch", key=key)


def budget_progress(label: str, spent_or_forecast: float, pct: float, amount: float, currency: str) -> None:
    """One progress bar of a budget: actual or forecast spend against the amount (capped at full)."""
    fraction = max(0.0, min(float(pct) / 100.0, 1.0)) if pct is not None else 0.0
    st.progress(fraction, text=f"{label}: {money(spent_or_forecast, currency)} of {money(amount, currency)} "
                               f"({float(pct):.1f}%)")
