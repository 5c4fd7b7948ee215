"""Budgets: each budget's actual and forecast spend against its amount and thresholds (the latest
evaluation in marts.budget_status); create, edit and delete with the CLI's validation (the same
autostack.budgets functions); alert history with failed deliveries; deployment freezes with an
Acknowledge button; alert channels with their secrets masked. The app never evaluates budgets:
budget_job does, after every load and on its hourly schedule."""

from decimal import Decimal, InvalidOperation

import pandas as pd
import streamlit as st

from app import data, widgets
from autostack.budgets import Action, BudgetSpec, Scope, Threshold, ValidationError
from autostack.budgets.model import COST_VIEWS, DIMENSIONS, PERIODS

NEW = "(new budget)"
FIELDS = ("name", "amount", "currency", "period", "cost_view", *DIMENSIONS, "tags", "thresholds", "channels",
          "actions", "owner")

st.title("Budgets")

try:
    status = data.budget_status()
    default_currency = data.main_currency() or "USD"
except data.NoSnapshot:
    widgets.no_snapshot()
    status, default_currency = None, "USD"

budgets = data.budget_definitions()
by_name = {b.name: b for b in budgets}
evaluated = data.budget_status_by_id() if status is not None else {}
freezes = data.budget_freezes()
failed = data.budget_failed_deliveries()

count, at_risk, frozen, undelivered = st.columns(4)
count.metric("Budgets", len(budgets), border=True)
at_risk.metric("At risk", sum(1 for b in budgets if b.id in evaluated and data.budget_at_risk(evaluated[b.id])),
               help="Forecast at period end ≥ 100% of the amount, or a threshold breached", border=True)
frozen.metric("Frozen scopes", len(freezes), help="Deployment freezes waiting for an acknowledgement", border=True)
undelivered.metric("Undelivered alerts", len(failed), border=True)


# --------------------------------------------------------------------------- progress
def _day(value) -> str:
    return "—" if value is None or pd.isna(value) else f"{pd.Timestamp(value):%Y-%m-%d}"


def _threshold_table(budget: BudgetSpec, row: dict) -> pd.DataFrame:
    breached = set(row["breached_thresholds"] if row["breached_thresholds"] is not None else [])
    rows = []
    for threshold in budget.thresholds:
        current = row["pct_forecast"] if threshold.basis == "forecasted" else row["pct_spent"]
        rows.append({"threshold": threshold.describe(), "current %": round(float(current), 1),
                     "of threshold": min(float(current) / float(threshold.percent) * 100, 100.0),
                     "state": "breached" if threshold.describe() in breached else "not reached"})
    return pd.DataFrame(rows, columns=["threshold", "current %", "of threshold", "state"])


st.subheader("Progress")
if status is None and budgets:
    st.caption("marts.budget_status is not in the published snapshot yet: "
               "budgets are evaluated after the next load or on the hourly schedule.")
if not budgets:
    st.info("No budgets yet: create one below (or `autostack budgets add`).", icon=":material/savings:")
for budget in budgets:
    with st.container(border=True, key=f"budget-card-{budget.id}"):
        owner = f" · owner {budget.owner}" if budget.owner else ""
        st.markdown(f"**{budget.name}** — {widgets.money(budget.amount, budget.currency)} {budget.period}, "
                    f"{budget.cost_view} cost, {budget.scope.describe()}{owner}")
        row = evaluated.get(budget.id)
        if row is None:
            st.caption(f"{budget.name}: {data.BUDGET_NOT_EVALUATED}.")
            continue
        currency = row["currency"]
        widgets.budget_progress("Actual", row["spent"], row["pct_spent"], row["amount"], currency)
        widgets.budget_progress("Forecast at period end", row["forecast"], row["pct_forecast"], row["amount"], currency)
        st.dataframe(_threshold_table(budget, row), hide_index=True, width="stretch", key=f"thresholds-{budget.id}",
                     column_config={"of threshold": st.column_config.ProgressColumn(
                         "of threshold", min_value=0, max_value=100, format="%.0f%%")})
        changed = "" if Decimal(str(row["amount"])) == budget.amount and row["currency"] == budget.currency else (
            " The definition changed since: the next evaluation uses the new one.")
        st.caption(f"Period {row['period_start']:%Y-%m-%d} – {row['period_end']:%Y-%m-%d}, {row['days_left']} days left; "
                   f"data through {_day(row['data_through'])}; forecast: {row['forecast_method']}; "
                   f"evaluated {row['evaluated_at']:%Y-%m-%d %H:%M} UTC.{changed}")


# --------------------------------------------------------------------------- create / edit / delete
def _form_values(spec: BudgetSpec | None) -> dict:
    if spec is None:
        return {"name": "", "amount": "", "currency": default_currency, "period": "monthly", "cost_view": "billed",
                **{d: "" for d in DIMENSIONS}, "tags": "", "thresholds": "50, 80, 100, 100:forecasted",
                "channels": [], "actions": "", "owner": ""}
    return {"name": spec.name, "amount": f"{spec.amount.normalize():f}", "currency": spec.currency,
            "period": spec.period, "cost_view": spec.cost_view,
            **{d: getattr(spec.scope, d) or "" for d in DIMENSIONS},
            "tags": ", ".join(f"{k}={v}" for k, v in spec.scope.tags),
            "thresholds": ", ".join(f"{t.percent.normalize():f}" + (":forecasted" if t.basis == "forecasted" else "")
                                    for t in spec.thresholds),
            "channels": list(spec.channels), "actions": ", ".join(_action_text(a) for a in spec.actions),
            "owner": spec.owner or ""}


def _action_text(action: Action) -> str:
    text = action.kind + (f"={action.channel}" if action.channel else "")
    if action.threshold:
        text += f"@{action.threshold.percent.normalize():f}" + (":forecasted" if action.threshold.basis == "forecasted" else "")
    return text


def _load_form() -> None:
    """Fill the form with the picked budget (or blank for a new one); runs before the widgets exist."""
    values = _form_values(by_name.get(st.session_state.get("budget_edit")))
    for field in FIELDS:
        st.session_state[f"budget_{field}"] = values[field]
    st.session_state.pop("budget_problems", None)


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]


def _spec_from_form() -> BudgetSpec:
    """The budget the form describes, parsed as `autostack budgets add` parses its options."""
    state = st.session_state
    problems = []
    try:
        amount = Decimal(state["budget_amount"].strip())
    except InvalidOperation:
        amount = None
        problems.append(f"amount: expected a number (got {state['budget_amount']!r})")
    tags = {}
    for item in _items(state["budget_tags"]):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            problems.append(f"tag {item!r}: expected KEY=VALUE")
        tags[key.strip()] = value.strip()
    thresholds, actions = [], []
    for text in _items(state["budget_thresholds"]):
        try:
            thresholds.append(Threshold.parse(text))
        except ValidationError as exc:
            problems += exc.problems
    for text in _items(state["budget_actions"]):
        try:
            actions.append(Action.parse(text))
        except ValidationError as exc:
            problems += exc.problems
    if problems:
        raise ValidationError(problems)
    scope = Scope.from_dict({**{d: state[f"budget_{d}"].strip() or None for d in DIMENSIONS}, "tags": tags})
    return BudgetSpec(
        name=state["budget_name"].strip(), amount=amount, currency=state["budget_currency"].strip().upper(),
        period=state["budget_period"], cost_view=state["budget_cost_view"], scope=scope,
        thresholds=tuple(thresholds) or (Threshold(Decimal(100), "actual"),),
        channels=tuple(state["budget_channels"]), actions=tuple(actions), owner=state["budget_owner"].strip() or None)


if st.session_state.pop("budget_reset", False) or "budget_name" not in st.session_state:
    st.session_state["budget_edit"] = st.session_state.pop("budget_next_edit", NEW)
    st.session_state.pop("budget_delete_confirm", None)
    _load_form()

st.subheader("Create or edit")
options = [NEW, *by_name]
if st.session_state.get("budget_edit") not in options:
    st.session_state["budget_edit"] = NEW
editing = st.selectbox("Budget", options, key="budget_edit", on_change=_load_form,
                       help="Pick a budget to edit or delete it, or create a new one")
channel_names = data.budget_channels()["name"].tolist()
with st.form("budget_form"):
    name_col, amount_col, currency_col, period_col, view_col = st.columns([3, 2, 1, 2, 2])
    name_col.text_input("Name", key="budget_name")
    amount_col.text_input("Amount per period", key="budget_amount", help="A positive number, e.g. 12000")
    currency_col.text_input("Currency", key="budget_currency", help="The data's billing currency for the scope")
    period_col.selectbox("Period", PERIODS, key="budget_period", help="Calendar-aligned")
    view_col.selectbox("Cost view", COST_VIEWS, key="budget_cost_view",
                       help="billed: as invoiced; effective: commitments amortized")
    st.caption("Scope: every value given must match (leave all empty for all costs). Values are checked "
               "against the published data.")
    scope_cols = st.columns(len(DIMENSIONS) + 1)
    for cell, dimension in zip(scope_cols, DIMENSIONS):
        cell.text_input(dimension.replace("_", " ").capitalize(), key=f"budget_{dimension}")
    scope_cols[-1].text_input("Tags", key="budget_tags", help="KEY=VALUE, comma-separated, e.g. team=web")
    threshold_col, channel_col, action_col, owner_col = st.columns([3, 2, 3, 2])
    threshold_col.text_input("Thresholds", key="budget_thresholds",
                             help="Percentages, comma-separated; add :forecasted for forecast thresholds, "
                                  "e.g. 50, 80, 100, 100:forecasted")
    channel_col.multiselect("Channels", channel_names, key="budget_channels",
                            help="Alert channels (add them with `autostack budgets channel add`)")
    action_col.text_input("Actions", key="budget_actions",
                          help="freeze_deployments or call_webhook=CHANNEL, optionally @PCT[:forecasted]; comma-separated")
    owner_col.text_input("Owner", key="budget_owner")
    submitted = st.form_submit_button("Save budget" if editing != NEW else "Create budget", type="primary",
                                      key="budget_save")

if submitted:
    try:
        saved = data.save_budget(_spec_from_form(), None if editing == NEW else editing)
    except ValidationError as exc:
        st.session_state["budget_problems"] = exc.problems
    except LookupError as exc:  # the budget was removed meanwhile (CLI or another session)
        st.session_state["budget_problems"] = [str(exc)]
    else:
        st.session_state.pop("budget_problems", None)
        st.session_state["budget_reset"] = True
        st.session_state["budget_next_edit"] = saved.name
        st.toast(f"Saved budget {saved.name!r}; it is evaluated after the next load or on the hourly schedule")
        st.rerun()
if st.session_state.get("budget_problems"):
    st.error("Not saved:\n" + "\n".join(f"- {p}" for p in st.session_state["budget_problems"]),
             icon=":material/error:")

if editing != NEW:
    confirm_col, delete_col, _ = st.columns([2, 1, 3])
    confirm = confirm_col.checkbox(f"Yes, delete {editing!r}", key="budget_delete_confirm",
                                   help="Its alert history is kept")
    if delete_col.button("Delete budget", key="budget_delete", disabled=not confirm):
        try:
            data.delete_budget(editing)
        except LookupError as exc:
            st.error(str(exc))
        else:
            st.session_state["budget_reset"] = True
            st.toast(f"Deleted budget {editing!r} (its alert history is kept)")
            st.rerun()


# --------------------------------------------------------------------------- freezes
st.subheader("Frozen scopes")
if not freezes:
    st.caption("No deployment freezes.")
for freeze in freezes:
    with st.container(border=True, key=f"freeze-{freeze['id']}"):
        scope = Scope.from_dict(freeze["scope"]).describe()
        st.markdown(f"**Freeze #{freeze['id']}** on {scope} since {freeze['frozen_at']:%Y-%m-%d %H:%M} UTC "
                    f"(budget {freeze['budget']}): {freeze['reason']}")
        by_col, button_col, _ = st.columns([2, 1, 3])
        by = by_col.text_input("Acknowledged by", key=f"freeze_by_{freeze['id']}", placeholder="your name")
        if button_col.button("Acknowledge", key=f"freeze_ack_{freeze['id']}"):
            try:
                if not by.strip():
                    raise ValueError("acknowledge: say who acknowledges (fill in “Acknowledged by”)")
                data.acknowledge_budget_freeze(freeze["id"], by)
            except (ValueError, LookupError) as exc:
                st.error(str(exc))
            else:
                st.toast(f"Freeze #{freeze['id']} acknowledged: deployments to {scope} may go ahead")
                st.rerun()
lifted = [f for f in data.budget_freezes(include_acknowledged=True) if f["acknowledged_at"] is not None]
if lifted:
    with st.expander(f"Acknowledged freezes ({len(lifted)})"):
        st.dataframe(pd.DataFrame([{"id": f["id"], "budget": f["budget"], "frozen_at": f["frozen_at"],
                                    "acknowledged_by": f["acknowledged_by"], "acknowledged_at": f["acknowledged_at"]}
                                   for f in lifted]), hide_index=True, width="stretch")


# --------------------------------------------------------------------------- alerts and channels
st.subheader("Alert history")
if not failed.empty:
    st.warning(f"{len(failed)} alert deliveries have not reached their channel; budget_job retries them.",
               icon=":material/sms_failed:")
    st.dataframe(failed, hide_index=True, width="stretch", key="failed_deliveries")
history = data.budget_alert_history()
if history.empty:
    st.caption("No alerts have fired yet.")
else:
    st.dataframe(history, hide_index=True, width="stretch", key="alert_history",
                 column_config={"percent": st.column_config.NumberColumn(format="%.1f%%")})

st.subheader("Channels")
channels = data.budget_channels()
if channels.empty:
    st.caption("No alert channels; add one with `autostack budgets channel add NAME --kind slack --url-secret ENV_NAME`.")
else:
    st.caption("Secrets are stored by name only; values are shown masked.")
    st.dataframe(channels, hide_index=True, width="stretch", key="channels")
