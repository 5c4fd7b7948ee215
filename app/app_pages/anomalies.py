"""Anomalies: detected days with their impact, the root-cause breakdown of the selected one, and
feedback buttons (real / expected / planned; acknowledge, resolve) that persist in the app store."""

import pandas as pd
import streamlit as st

from app import data, widgets

st.title("Anomalies")
cost_view = widgets.cost_view_picker()
found = widgets.page_data(lambda: data.anomalies(cost_view), computed_by="Anomalies")

currency = data.main_currency() or "USD"
statuses = st.pills("Status", list(data.ANOMALY_STATUSES), selection_mode="multi", default=["open", "acknowledged"],
                    key="statuses")
shown = found[found["status"].fillna("open").isin(statuses or data.ANOMALY_STATUSES)].reset_index(drop=True)
total, impact = st.columns(2)
total.metric("Anomalies shown", len(shown), border=True)
impact.metric("Total impact", widgets.money(shown["impact"].sum() if not shown.empty else 0, currency), border=True)
if shown.empty:
    st.info("No anomalies with these statuses.")
    st.stop()

columns = ["anomaly_date", "scope_type", "scope_value", "actual_cost", "expected_cost", "impact", "status", "feedback"]
selection = st.dataframe(shown[columns], hide_index=True, width="stretch", on_select="rerun",
                         selection_mode="single-row", key="anomaly_table",
                         column_config={"anomaly_date": st.column_config.DateColumn(format="YYYY-MM-DD"),
                                        **{c: st.column_config.NumberColumn(format="%.2f")
                                           for c in ("actual_cost", "expected_cost", "impact")}})
rows = selection.selection.rows if selection is not None and hasattr(selection, "selection") else []
labels = [f"{pd.Timestamp(r.anomaly_date):%Y-%m-%d} · {r.scope_type} {r.scope_value} · {widgets.money(r.impact, currency)}"
          for r in shown.itertuples()]
index = st.selectbox("Anomaly", range(len(shown)), index=rows[0] if rows else 0, format_func=labels.__getitem__,
                     key="anomaly_pick")
chosen = shown.iloc[index]
day = pd.Timestamp(chosen["anomaly_date"]).date()

st.subheader("Root causes")
causes = data.root_causes(chosen.get("root_causes"))
if causes.empty:
    st.caption("The detector recorded no contributors for this anomaly.")
else:
    value = next((c for c in ("delta", "impact", "change", "cost_delta", "contribution") if c in causes.columns),
                 next((c for c in causes.columns if pd.api.types.is_numeric_dtype(causes[c])), None))
    text_columns = [c for c in causes.columns if c != value and not pd.api.types.is_numeric_dtype(causes[c])]
    st.dataframe(causes, hide_index=True, width="stretch",
                 column_config={**{c: st.column_config.NumberColumn(format="%.2f") for c in ("actual", "expected", "delta")},
                                "share": st.column_config.NumberColumn(format="percent")})
    if value and text_columns:
        # The chart of the same rows is a lazy expander: a page without Plotly figures does not load Plotly's
        # browser bundle (4.7 MB of script to compile on every full page load).
        chart = st.expander("Root causes as a chart", key="root_causes_chart", on_change="rerun")
        if chart.open:
            with chart:
                causes["contributor"] = causes[text_columns].astype(str).agg(" · ".join, axis=1)
                st.plotly_chart(widgets.horizontal_bar(causes, "contributor", value), width="stretch", key="root_causes")

st.subheader("Feedback")
st.caption(f"Current: status **{chosen['status'] or 'open'}**, feedback **{chosen['feedback'] or 'none'}**")
buttons = st.columns(5)
actions = [("Real anomaly", {"feedback": "yes"}), ("Expected", {"feedback": "no"}),
           ("Planned activity", {"feedback": "planned"}), ("Acknowledge", {"status": "acknowledged"}),
           ("Resolve", {"status": "resolved"})]
for cell, (label, change) in zip(buttons, actions):
    if cell.button(label, key=f"anomaly_{label}"):
        data.set_anomaly_feedback(chosen["scope_type"], chosen["scope_value"], chosen["cost_view"], day, **change)
        st.toast(f"Saved: {label.lower()}")
        st.rerun()
