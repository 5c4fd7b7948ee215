"""Overview: today, month to date, the month-end projection and how accurate it has been, against last
month; the daily trend with the forecast band; top movers; then, one tab at a time, spend per team or
project, open anomalies and recommendations, budgets at risk, recent activity and data freshness."""

from datetime import timedelta

import streamlit as st

from app import data, widgets

st.title("Overview")
cost_view = widgets.cost_view_picker()

head = widgets.page_data(lambda: data.headline(cost_view))

currency, as_of = head.currency, head.as_of
month_start = as_of.replace(day=1)
st.caption(f"{cost_view.capitalize()} cost in {currency}, as of {as_of:%a %d %b %Y} (the last day in the data)")

latest, mtd, projected, last_month = st.columns(4)
previous_day = data.cost_between(as_of - timedelta(days=1), as_of - timedelta(days=1), cost_view, currency)
latest.metric("Latest day", widgets.money(head.latest_day, currency),
              delta=widgets.percent_change(head.latest_day, previous_day), delta_color="inverse",
              help=f"{as_of:%Y-%m-%d}, against the day before", border=True)
mtd.metric("Month to date", widgets.money(head.month_to_date, currency),
           delta=widgets.percent_change(head.month_to_date, head.last_month_same_period), delta_color="inverse",
           help="Against the same days of last month", border=True)
if head.projection:
    p = head.projection
    accuracy = f"; backtested accuracy {100 - 100 * p['backtest_mape']:.1f}% (MAPE {100 * p['backtest_mape']:.1f}%)" \
        if p.get("backtest_mape") is not None else ""
    projected.metric("Projected month end", widgets.money(p["projected_total"], currency),
                     delta=widgets.percent_change(p["projected_total"], head.last_month_total), delta_color="inverse",
                     help="Against last month's total", border=True)
    projected.caption(f"80% interval {widgets.money(p['lower_80'], currency, 0)} – "
                      f"{widgets.money(p['upper_80'], currency, 0)}{accuracy}")
else:
    projected.metric("Projected month end", "—", border=True)
    projected.caption(f"Forecast {data.NOT_COMPUTED}")
last_month.metric("Last month", widgets.money(head.last_month_total, currency),
                  help=f"{(month_start - timedelta(days=1)):%B %Y}, charge days", border=True)

trend_col, movers_col = st.columns([2, 1])
with trend_col:
    st.subheader("Daily cost")
    history = data.daily_totals(as_of - timedelta(days=89), as_of, cost_view, currency)
    forecast = data.forecast("total", "total", cost_view)
    if forecast.empty and data.has_table("ml.forecasts"):
        forecast = data.forecast("total", "", cost_view)
    st.plotly_chart(widgets.trend_chart(history, forecast, currency=currency), width="stretch", key="trend")
    if forecast.empty:
        st.caption(f"Forecast band: {data.NOT_COMPUTED}.")
with movers_col:
    st.subheader("Top movers")
    st.caption("Services: change of the last 7 days' cost against the 7 days before")
    movers = data.top_movers(as_of, cost_view, currency)
    st.dataframe(movers, hide_index=True, width="stretch", column_order=["service", "change"],
                 column_config={
                     "recent": st.column_config.NumberColumn("last 7 days", format="%.0f"),
                     "change": st.column_config.NumberColumn(format="%+.0f")})

# The secondary sections are lazy tabs: only the open one runs and is sent to the browser, so a page view
# draws the headline above and one section, not five tables and a dozen cards.
SECTIONS = ["Spend by team", "Anomalies and recommendations", "Budgets at risk", "Activity and freshness"]


def spend_by_team() -> None:
    keys = data.tag_keys()
    preferred = next((k for k in ("team", "project", "product", "Team") if k in keys), None)
    options = [*keys, "(sub account)"]
    group_key = st.columns(3)[0].selectbox("Group cards by tag", options, key="card_tag",
                                           index=options.index(preferred) if preferred else len(options) - 1)
    spend = data.group_spend(None if group_key == "(sub account)" else group_key, as_of, cost_view, currency)
    st.caption("Last 30 days; the arrow compares with the 30 days before")
    widgets.cost_cards(spend, currency, budget_states=data.budget_states_for_tag(
        None if group_key == "(sub account)" else group_key))


def anomalies_and_recommendations() -> None:
    anomalies_col, recs_col = st.columns(2)
    with anomalies_col:
        st.subheader("Open anomalies")
        found = data.anomalies(cost_view)
        if found is None:
            widgets.not_computed("Anomalies")
        else:
            open_ones = found[found["status"].fillna("open") == "open"]
            st.metric("Open anomalies", len(open_ones), help="Not yet acknowledged or resolved")
            st.caption(f"Impact {widgets.money(open_ones['impact'].sum(), currency)}")
            st.dataframe(open_ones[["anomaly_date", "scope_type", "scope_value", "impact"]].head(5), hide_index=True,
                         width="stretch")
    with recs_col:
        st.subheader("Recommendations")
        recs = data.recommendations()
        if recs is None:
            widgets.not_computed("Recommendations")
        else:
            open_recs = recs[recs["status"].fillna("open") == "open"]
            st.metric("Monthly savings available", widgets.money(open_recs["monthly_savings"].sum(), currency),
                      help=f"{len(open_recs)} open recommendations")
            st.dataframe(open_recs[["type", "resource_id", "monthly_savings"]].head(5), hide_index=True, width="stretch")


def budgets_at_risk() -> None:
    """Forecast at period end >= 100% or a breached threshold (latest marts.budget_status)."""
    at_risk = data.budgets_at_risk()
    if at_risk is None:
        st.caption(f"Budgets: {data.BUDGET_NOT_EVALUATED}." if data.budget_definitions() else
                   "No budgets yet: create them on the Budgets page.")
        return
    st.metric("Budgets at risk", len(at_risk), help="Forecast at period end ≥ 100% of the amount, or a threshold breached")
    if not at_risk.empty:
        st.dataframe(at_risk, hide_index=True, width="stretch", key="budgets_at_risk",
                     column_config={c: st.column_config.NumberColumn(format="%.1f%%") for c in ("pct_spent", "pct_forecast")})


def activity_and_freshness() -> None:
    activity_col, fresh_col = st.columns([2, 1])
    with activity_col:
        st.subheader("Recent activity")
        st.dataframe(data.recent_loads(8), hide_index=True, width="stretch")
    with fresh_col:
        st.subheader("Data freshness")
        fresh = data.freshness()
        st.markdown(
            f"- Published: **{fresh['published_at']:%Y-%m-%d %H:%M} UTC**\n"
            f"- Last file loaded: **{fresh['last_load_at']:%Y-%m-%d %H:%M}**\n"
            f"- Latest charge day: **{fresh['latest_charge_date']:%Y-%m-%d}**"
        )


for tab, section in zip(st.tabs(SECTIONS, key="overview_section", on_change="rerun"),
                        (spend_by_team, anomalies_and_recommendations, budgets_at_risk, activity_and_freshness)):
    if tab.open:
        with tab:
            section()
