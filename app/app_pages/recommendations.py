"""Recommendations: sortable by savings, grouped by type, with their evidence; mark done or dismissed
(persisted in the app store); the total achievable savings."""

import json
from functools import partial

import pandas as pd
import streamlit as st

from app import data, widgets

PICK = "recommendation_pick"


def _pick_from_table(table_key: str, ids: tuple[str, ...]) -> None:
    """A row selected in a type's table becomes the recommendation whose evidence is shown."""
    rows = st.session_state[table_key].selection.rows
    if rows:
        st.session_state[PICK] = ids[rows[0]]

st.title("Recommendations")
recs = widgets.page_data(data.recommendations, computed_by="Recommendations")

currency = data.main_currency() or "USD"
recs = recs.assign(status=recs["status"].fillna("open"))
open_recs = recs[recs["status"] == "open"]
total, count, done = st.columns(3)
total.metric("Achievable monthly savings", widgets.money(open_recs["monthly_savings"].sum(), currency), border=True)
count.metric("Open recommendations", len(open_recs), border=True)
done.metric("Savings done", widgets.money(recs.loc[recs["status"] == "done", "monthly_savings"].sum(), currency),
            border=True)

statuses = st.pills("Status", list(data.RECOMMENDATION_STATUSES), selection_mode="multi", default=["open"], key="statuses")
order = st.segmented_control("Sort by savings", ["highest first", "lowest first"], default="highest first", key="order")
shown = recs[recs["status"].isin(statuses or data.RECOMMENDATION_STATUSES)]
shown = shown.sort_values("monthly_savings", ascending=order == "lowest first", kind="stable")

by_type = shown.groupby("type", as_index=False).agg(count=("recommendation_id", "count"),
                                                  monthly_savings=("monthly_savings", "sum"))
st.subheader("By type")
st.dataframe(by_type.sort_values("monthly_savings", ascending=False), hide_index=True, width="stretch",
             column_config={"monthly_savings": st.column_config.NumberColumn(format="%.2f")})

columns = ["recommendation_id", "type", "provider", "resource_id", "region", "current", "proposed",
           "monthly_savings", "confidence", "action", "status"]
# One expander per type, the type with the largest saving open; the others are lazy (their table runs and
# is sent to the browser only once opened), so a page view draws one table, not one per type.
for index, (kind, group) in enumerate(shown.groupby("type", sort=False)):
    section = st.expander(f"{kind} — {len(group)}, {widgets.money(group['monthly_savings'].sum(), currency)} a month",
                          expanded=index == 0, key=f"recommendations_{kind}", on_change="rerun")
    if section.open:
        with section:
            table_key = f"recommendation_table_{kind}"
            st.dataframe(group[[c for c in columns if c in group.columns]], hide_index=True, width="stretch",
                         column_config={"monthly_savings": st.column_config.NumberColumn(format="%.2f")},
                         key=table_key, selection_mode="single-row",
                         on_select=partial(_pick_from_table, table_key, tuple(group["recommendation_id"])))

if shown.empty:
    st.info("No recommendations with these statuses.")
    st.stop()
st.subheader("Evidence and decision")
# The picker lists the largest (in the chosen order), not all of them (thousands on a large estate), plus
# the one picked by selecting a row in a table above.
choices = list(shown["recommendation_id"].head(data.RECOMMENDATION_PICKER_LIMIT))
if st.session_state.get(PICK) in set(shown["recommendation_id"]) - set(choices):
    choices.append(st.session_state[PICK])
elif st.session_state.get(PICK) not in choices:
    st.session_state.pop(PICK, None)  # filtered out since it was picked
listed = shown[shown["recommendation_id"].isin(choices)]
labels = {r.recommendation_id: f"{r.type} · {r.resource_id} · {widgets.money(r.monthly_savings, currency)}/month"
          for r in listed.itertuples()}
picked = st.selectbox("Recommendation", choices, format_func=labels.get, key=PICK)
if len(shown) > data.RECOMMENDATION_PICKER_LIMIT:
    st.caption(f"The {data.RECOMMENDATION_PICKER_LIMIT} largest of {len(shown):,} are listed here; select a row in "
               "a table above to see any other.")
row = shown[shown["recommendation_id"] == picked].iloc[0]
st.markdown(f"**Action:** {row['action']}  \n**Current:** {row['current']} → **proposed:** {row['proposed']}  \n"
            f"**Confidence:** {row['confidence']} · **status:** {row['status']}")
evidence = row.get("evidence")
try:
    st.json(json.loads(evidence) if isinstance(evidence, str) else evidence, expanded=True)
except (TypeError, ValueError):
    st.code(str(evidence))
done_col, dismiss_col, reopen_col, _ = st.columns([1, 1, 1, 3])
for cell, status, label in ((done_col, "done", "Mark done"), (dismiss_col, "dismissed", "Dismiss"),
                            (reopen_col, "open", "Reopen")):
    if cell.button(label, key=f"recommendation_{status}", disabled=row["status"] == status):
        data.set_recommendation_status(picked, status)
        st.toast(f"Saved: {label.lower()}")
        st.rerun()
