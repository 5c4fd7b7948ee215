"""Forecasts: pick a scope, see its history, the forecast with 80% and 95% bands, the month-end
projection and how the chosen model did in backtests against the baselines."""

from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import data, widgets

st.title("Forecasts")
cost_view = widgets.cost_view_picker()
scopes = widgets.page_data(data.forecast_scopes, absent=lambda frame: frame.empty, computed_by="Forecasts")

currency = data.main_currency() or "USD"
left, right = st.columns(2)
scope_types = scopes["scope_type"].drop_duplicates().tolist()
scope_type = left.selectbox("Scope", scope_types, key="scope_type")
values = scopes.loc[scopes["scope_type"] == scope_type, "scope_value"].tolist()
scope_value = right.selectbox("Value", values, key="scope_value")

forecast = data.forecast(scope_type, scope_value, cost_view)
if forecast.empty:
    st.info(f"No {cost_view} forecast for {scope_type} {scope_value}.")
    st.stop()
as_of = pd.Timestamp(forecast["as_of_date"].iloc[0]).date()
history = data.scope_history(scope_type, scope_value, cost_view, as_of - timedelta(days=180), as_of, currency)
model = forecast["model"].iloc[0]

projection = data.month_end_projection(scope_type, scope_value, cost_view)
cards = st.columns(3)
if projection:
    cards[0].metric("Projected month end", widgets.money(projection["projected_total"], currency), border=True)
    cards[0].caption(f"80% interval {widgets.money(projection['lower_80'], currency, 0)} – "
                     f"{widgets.money(projection['upper_80'], currency, 0)}")
    cards[1].metric("Actual to date", widgets.money(projection["actual_to_date"], currency), border=True)
    mape = projection.get("backtest_mape")
    cards[2].metric("Backtested accuracy", "—" if mape is None or pd.isna(mape) else f"{100 - 100 * float(mape):.1f}%",
                    help="100% minus the month-end projection's backtest MAPE", border=True)
else:
    cards[0].metric("Projected month end", "—", border=True)
    cards[0].caption(f"Month-end projection {data.NOT_COMPUTED}")
st.caption(f"Model: {model}; as of {as_of:%Y-%m-%d}; {cost_view} cost in {currency}")

st.plotly_chart(widgets.trend_chart(history, forecast, currency=currency), width="stretch", key="forecast_chart")

st.subheader("Backtest accuracy against the baselines")
tests = data.backtests(scope_type, scope_value, cost_view)
if tests is None:
    widgets.not_computed("Backtests")
elif tests.empty:
    st.info("No backtests for this scope.")
else:
    metric = next((c for c in ("mape", "wape", "backtest_mape") if c in tests.columns), None)
    if metric and "model" in tests.columns:
        summary = tests.groupby("model", as_index=False)[metric].mean().sort_values(metric)
        summary[metric] = 100 * summary[metric]  # ml.forecast_backtests holds fractions
        figure = go.Figure(go.Bar(x=summary["model"], y=summary[metric],
                                  marker_color=["#00cc96" if m == model else "#8c8c8c" for m in summary["model"]]))
        figure.update_layout(height=280, yaxis_title=f"{metric.upper()} (%)", margin={"l": 10, "r": 10, "t": 10, "b": 10})
        st.plotly_chart(figure, width="stretch", key="backtest_chart")
    # Every backtest fold behind the chart: lazy (runs and is drawn only once opened).
    rows = st.expander(f"Backtest rows ({len(tests)})", key="backtest_rows", on_change="rerun")
    if rows.open:
        with rows:
            st.dataframe(tests, hide_index=True, width="stretch")
