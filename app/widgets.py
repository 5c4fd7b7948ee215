"""Shared pieces of the screens: money formatting, cost cards, charts, the 'not computed yet' state."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
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


def page_data(load, *, absent=lambda value: value is None, computed_by: str | None = None):
    """`load()` for a page's main data, or the page stops with the usual message: nothing published
    yet, the ML output `computed_by` not computed yet, or (without it) no cost rows yet."""
    try:
        value = load()
    except data.NoSnapshot:
        no_snapshot()
        st.stop()
    if absent(value):
        if computed_by:
            not_computed(computed_by)
        else:
            st.warning("The published snapshot holds no cost rows yet.")
        st.stop()
    return value


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


def trend_chart(history: pd.DataFrame, forecast: pd.DataFrame | None = None, *, title: str = "",
                currency: str = "USD") -> go.Figure:
    """Daily actual cost with, when there is one, the forecast and its 80% and 95% bands."""
    figure = go.Figure()
    if forecast is not None and not forecast.empty:
        x = pd.to_datetime(forecast["forecast_date"])
        for low, high, name, opacity in (("lower_95", "upper_95", "95% interval", 0.15),
                                         ("lower_80", "upper_80", "80% interval", 0.3)):
            if low in forecast and high in forecast:
                figure.add_trace(go.Scatter(x=x, y=forecast[high], mode="lines", line={"width": 0},
                                            showlegend=False, hoverinfo="skip"))
                figure.add_trace(go.Scatter(x=x, y=forecast[low], mode="lines", line={"width": 0}, fill="tonexty",
                                            fillcolor=f"rgba(99,110,250,{opacity})", name=name))
        figure.add_trace(go.Scatter(x=x, y=forecast["predicted_cost"], mode="lines", name="forecast",
                                    line={"dash": "dash", "color": "#636efa"}))
    figure.add_trace(go.Scatter(x=pd.to_datetime(history["charge_date"]), y=history["cost"], mode="lines",
                                name="actual", line={"color": "#00cc96"}))
    figure.update_layout(title=title, height=CHART_HEIGHT, margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
                         yaxis_title=currency, legend={"orientation": "h", "y": -0.15}, hovermode="x unified")
    return figure


def stacked_bar(frame: pd.DataFrame, x: str, y: str, color: str, currency: str) -> go.Figure:
    figure = go.Figure()
    for name, part in frame.groupby(color, sort=False):
        figure.add_trace(go.Bar(x=part[x], y=part[y], name=str(name)))
    figure.update_layout(barmode="relative", height=420, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                         yaxis_title=currency, legend={"orientation": "h", "y": -0.2})
    return figure


def horizontal_bar(frame: pd.DataFrame, label: str, value: str) -> go.Figure:
    figure = go.Figure(go.Bar(x=frame[value], y=frame[label].astype(str), orientation="h"))
    figure.update_layout(height=max(200, 40 * len(frame) + 60), margin={"l": 10, "r": 10, "t": 10, "b": 10},
                         yaxis={"autorange": "reversed"})
    return figure


def budget_progress(label: str, spent_or_forecast: float, pct: float, amount: float, currency: str) -> None:
    """One progress bar of a budget: actual or forecast spend against the amount (capped at full)."""
    fraction = max(0.0, min(float(pct) / 100.0, 1.0)) if pct is not None else 0.0
    st.progress(fraction, text=f"{label}: {money(spent_or_forecast, currency)} of {money(amount, currency)} "
                               f"({float(pct):.1f}%)")
