"""Data sources: every loaded file with its outcome, quarantined files with their errors, the
pipeline's check results, last and next runs, and a button that requests a refresh (a Dagster
sensor runs it; the app never runs pipelines itself)."""

import streamlit as st

from app import data, widgets

st.title("Data sources")
settings = data.settings()
dagster_home = str(settings.dagster_home)

try:
    loads = data.file_loads()
except data.NoSnapshot:
    widgets.no_snapshot()
    loads = None

refresh_col, status_col = st.columns([1, 3])
if refresh_col.button("Request a refresh", type="primary", key="refresh",
                      help="Loads new or changed files from every configured source and rebuilds everything downstream"):
    request_id = data.request_refresh()
    st.toast(f"Refresh request {request_id} queued; the refresh_requests sensor starts the run")
requests = data.refresh_requests(5)
with status_col:
    if requests.empty:
        st.caption("No refresh requested yet.")
    else:
        st.dataframe(requests, hide_index=True, width="stretch")

if loads is not None:
    counts = loads["outcome"].value_counts()
    cells = st.columns(4)
    cells[0].metric("Files", len(loads), border=True)
    cells[1].metric("Loaded", int(counts.get("loaded", 0)), border=True)
    cells[2].metric("Quarantined", int(counts.get("quarantined", 0)), border=True)
    cells[3].metric("Rows loaded", f"{int(loads.loc[loads['outcome'] == 'loaded', 'rows'].sum()):,}", border=True)

    st.subheader("Quarantined files")
    bad = loads[loads["outcome"] == "quarantined"]
    if bad.empty:
        st.success("No file is quarantined.")
    else:
        for row in bad.itertuples():
            st.error(f"**{row.file}**\n\n{row.error}")

st.subheader("Checks")
st.dataframe(data.check_results(dagster_home), hide_index=True, width="stretch")

runs_col, sensors_col = st.columns(2)
with runs_col:
    st.subheader("Last runs")
    st.dataframe(data.recent_runs(dagster_home), hide_index=True, width="stretch")
with sensors_col:
    st.subheader("Next runs")
    st.caption("Sensors start runs when new files arrive or a refresh is requested")
    sensors = data.sensor_schedule(dagster_home)
    if sensors.empty:
        st.info("No sensor has ticked yet: the Dagster daemon (started by `autostack up`) runs them.")
    else:
        st.dataframe(sensors, hide_index=True, width="stretch")

if loads is not None:
    st.subheader("Loaded files")
    st.dataframe(loads.drop(columns=["error"]), hide_index=True, width="stretch",
                 column_config={"billed_total": st.column_config.NumberColumn(format="%.2f")})
