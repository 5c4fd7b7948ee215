"""Cost explorer: a date range, day or month, billed or effective cost, grouped by any FOCUS dimension
or tag key, filtered on any dimension; a stacked chart and the table behind it, downloadable as CSV
or Parquet exactly as shown."""

from datetime import timedelta

import streamlit as st

from app import data, widgets

FILTER_SLOTS = 3
NO_FILTER = "—"

st.title("Cost explorer")
cost_view = widgets.cost_view_picker()
span = widgets.page_data(data.cost_date_range)
first_day, last_day = span
currency = data.main_currency()
dimensions = [label for label, _, _ in data.DIMENSIONS] + [data.TAG_PREFIX + key for key in data.tag_keys()]

controls = st.columns([2, 1, 2, 1])
chosen = controls[0].date_input("Dates", value=(max(first_day, last_day - timedelta(days=89)), last_day),
                                min_value=first_day, max_value=last_day, key="dates")
granularity = controls[1].segmented_control("Granularity", ["day", "month"], default="day", key="granularity",
                                            format_func=str.capitalize) or "day"
group_by = controls[2].selectbox("Group by", dimensions, index=dimensions.index("Service"), key="group_by")
top = controls[3].number_input("Top groups", min_value=1, max_value=50, value=12, key="top",
                               help="The rest is shown as (other)")

filters = []
with st.expander("Filters", expanded=False):
    for slot in range(FILTER_SLOTS):
        left, right = st.columns([1, 3])
        dimension = left.selectbox(f"Filter {slot + 1}", [NO_FILTER, *dimensions], key=f"filter_dim_{slot}")
        if dimension != NO_FILTER:
            values = right.multiselect(f"{dimension} is any of", data.dimension_values(dimension), key=f"filter_values_{slot}")
            if values:
                filters.append((dimension, tuple(values)))

if not isinstance(chosen, (tuple, list)) or len(chosen) != 2:
    st.info("Pick a start and an end date.")
    st.stop()
spec = data.Exploration(start=chosen[0], end=chosen[1], granularity=granularity, cost_view=cost_view,
                        group_by=group_by, filters=tuple(filters), top=int(top))
shown = data.explore(spec)
source, _, _ = data.exploration_plan(spec)

total = float(shown["cost"].sum()) if not shown.empty else 0.0
st.metric(f"Total {cost_view} cost", widgets.money(total, currency), border=True)
st.caption(f"{spec.start:%Y-%m-%d} to {spec.end:%Y-%m-%d}, {len(shown)} rows, answered from `{source}`")
if shown.empty:
    st.info("No cost matches these dates and filters.")
    st.stop()
st.plotly_chart(widgets.stacked_bar(shown, "period", "cost", group_by, currency or "USD"), width="stretch", key="explorer_chart")
st.dataframe(shown, hide_index=True, width="stretch", column_config={
    "cost": st.column_config.NumberColumn(format="%.2f"),
    "period": st.column_config.DateColumn(format="YYYY-MM" if granularity == "month" else "YYYY-MM-DD")})

csv_col, parquet_col, _ = st.columns([1, 1, 4])
csv_col.download_button("Download CSV", data.csv_bytes(shown), file_name="autostack-costs.csv",
                        mime="text/csv", key="download_csv")
parquet_col.download_button("Download Parquet", data.parquet_bytes(shown), file_name="autostack-costs.parquet",
                            mime="application/vnd.apache.parquet", key="download_parquet")
