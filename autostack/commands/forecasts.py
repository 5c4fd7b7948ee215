"""`autostack forecast` and `autostack anomalies`: forecasts, month-end projections and anomalies.

Both read the published snapshot. Its ml.* tables are for the data's as-of date (the last
complete day of cost data). With `--as-of D` (a day before that) the command recomputes from the
snapshot's history up to D with the same pure functions the assets use (models_ml), so you can
see what the forecast or the anomaly list said on an earlier day; nothing is written.
Feedback given with `autostack anomalies feedback` is stored in the app store at once and shown
by `autostack anomalies`; the published table picks it up on the next recompute.
"""

from __future__ import annotations

import getpass
from datetime import date, timedelta

from autostack.cli import CliError, connect_snapshot, format_rows, shorten

PROJECTION_COLUMNS = ["scope_type", "scope_value", "cost_view", "month", "as_of_date", "actual_to_date",
                      "projected_total", "lower_80", "upper_80", "model", "backtest_mape"]
FORECAST_COLUMNS = ["forecast_date", "predicted_cost", "lower_80", "upper_80", "lower_95", "upper_95", "model"]
ANOMALY_COLUMNS = ["anomaly_date", "scope_type", "scope_value", "cost_view", "actual_cost", "expected_cost", "impact",
                   "status", "feedback", "top_cause"]
RECENT_ANOMALY_DAYS = 30


def register(subparsers) -> None:
    forecast = subparsers.add_parser(
        "forecast", help="month-end projections and daily forecasts per scope (total, provider, account, service, tag)")
    forecast.add_argument("--scope", default="total", metavar="TYPE[=VALUE]",
                          help="scope type (total, provider, billing_account, sub_account, service, tag:<key>) and "
                               "optionally one value; default total. With a value, the daily forecast is shown too")
    forecast.add_argument("--cost-view", choices=["billed", "effective"], default="billed")
    forecast.add_argument("--as-of", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                          help="recompute from the history up to this day instead of reading the published forecast")
    forecast.add_argument("--days", type=int, default=14, help="days of daily forecast shown for one scope (default 14)")
    forecast.add_argument("--format", choices=["table", "csv", "json"], default="table")
    forecast.set_defaults(handler=cmd_forecast)

    anomalies = subparsers.add_parser("anomalies", help="cost anomalies with their root causes, status and feedback")
    anomalies.add_argument("--as-of", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                           help="recompute from the history up to this day instead of reading the published list")
    anomalies.add_argument("--all", action="store_true",
                           help=f"every anomaly in the history (default: the last {RECENT_ANOMALY_DAYS} days, "
                                "without resolved ones or those marked not an anomaly)")
    anomalies.add_argument("--scope", default=None, metavar="TYPE[=VALUE]", help="only this scope type (and value)")
    anomalies.add_argument("--cost-view", choices=["billed", "effective"], default="billed")
    anomalies.add_argument("--format", choices=["table", "csv", "json"], default="table")
    anomalies.set_defaults(handler=cmd_anomalies)
    action = anomalies.add_subparsers(dest="anomalies_action", metavar="ACTION")
    feedback = action.add_parser("feedback", help="record feedback/status on one anomaly (kept across recomputes)")
    feedback.add_argument("scope_type")
    feedback.add_argument("scope_value")
    feedback.add_argument("anomaly_date", type=date.fromisoformat, metavar="YYYY-MM-DD")
    feedback.add_argument("--cost-view", choices=["billed", "effective"], default="billed", dest="feedback_cost_view")
    feedback.add_argument("--feedback", choices=["yes", "no", "planned"], default=None,
                          help="yes: a real anomaly; no: not one; planned: expected, planned activity")
    feedback.add_argument("--status", choices=["open", "acknowledged", "resolved"], default=None)
    feedback.add_argument("--note", default=None)
    feedback.add_argument("--user", default=None, help="who says so (default: the login name)")
    feedback.set_defaults(handler=cmd_anomaly_feedback)


def parse_scope(text: str | None) -> tuple[str | None, str | None]:
    if not text:
        return None, None
    scope_type, _, value = text.partition("=")
    valid = ("total", "provider", "billing_account", "sub_account", "service")
    if scope_type not in valid and not (scope_type.startswith("tag:") and len(scope_type) > 4):
        raise CliError(f"--scope {text!r}: scope type must be one of {', '.join(valid)} or tag:<key>")
    return scope_type, (value or None)


def _where(scope_type, scope_value, cost_view) -> tuple[str, list]:
    clauses, params = ["cost_view = ?"], [cost_view]
    if scope_type:
        clauses.append("scope_type = ?")
        params.append(scope_type)
    if scope_value:
        clauses.append("scope_value = ?")
        params.append(scope_value)
    return " AND ".join(clauses), params


def _has_table(con, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'ml' AND table_name = ?",
                            [name]).fetchall()[0][0])


def cmd_forecast(settings, args) -> int:
    scope_type, scope_value = parse_scope(args.scope)
    con = connect_snapshot(settings)
    try:
        if args.as_of is None:
            if not _has_table(con, "month_end_projections"):
                raise CliError("the published snapshot has no forecasts yet: run `autostack ingest PATH` first")
            where, params = _where(scope_type, scope_value, args.cost_view)
            projections = con.execute(f"SELECT {', '.join(PROJECTION_COLUMNS)} FROM ml.month_end_projections "
                                      f"WHERE {where} ORDER BY projected_total DESC", params).fetchall()
            daily = []
            if scope_value:
                daily = con.execute(f"SELECT {', '.join(FORECAST_COLUMNS)} FROM ml.forecasts WHERE {where} "
                                    "ORDER BY forecast_date LIMIT ?", [*params, args.days]).fetchall()
        else:
            projections, daily = _recompute_forecast(con, settings, scope_type, scope_value, args)
    finally:
        con.close()
    if not projections:
        raise CliError(f"no forecast for scope {args.scope!r} ({args.cost_view} cost); "
                       "`autostack sql \"SELECT DISTINCT scope_type, scope_value FROM ml.month_end_projections\"` lists them")
    if args.format == "table":  # backtest MAPE is a fraction in the data; a percentage to read
        projections = [(*row[:-1], None if row[-1] is None else f"{row[-1]:.1%}") for row in projections]
    print(format_rows(PROJECTION_COLUMNS, projections, args.format))
    if daily:
        print()
        print(format_rows(FORECAST_COLUMNS, daily, args.format))
    return 0


def _recompute_forecast(con, settings, scope_type, scope_value, args):
    from orchestration.defs.ml import compute_forecasts

    def wanted(key) -> bool:
        return ((scope_type is None or key[0] == scope_type) and (scope_value is None or key[1] == scope_value)
                and key[2] == args.cost_view)

    try:
        tables = compute_forecasts(con, settings.forecast_tag_keys, as_of=args.as_of, workers=1, keep=wanted)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    projections = tables["month_end_projections"].sort_values("projected_total", ascending=False)
    rows = [tuple(r) for r in projections[PROJECTION_COLUMNS].itertuples(index=False)]
    daily = []
    if scope_value:
        forecasts = tables["forecasts"].sort_values("forecast_date").head(args.days)
        daily = [tuple(r) for r in forecasts[FORECAST_COLUMNS].itertuples(index=False)]
    return rows, daily


def cmd_anomalies(settings, args) -> int:
    from autostack.store.anomalies import get_all

    scope_type, scope_value = parse_scope(args.scope)
    con = connect_snapshot(settings)
    try:
        if args.as_of is None:
            if not _has_table(con, "anomalies"):
                raise CliError("the published snapshot has no anomalies table yet: run `autostack ingest PATH` first")
            cursor = con.execute("SELECT * FROM ml.anomalies")
            names = [d[0] for d in cursor.description]
            records = [dict(zip(names, row)) for row in cursor.fetchall()]
            as_of = con.execute("SELECT max(as_of_date) FROM ml.month_end_projections").fetchall()[0][0] \
                if _has_table(con, "month_end_projections") else None
        else:
            records, as_of = _recompute_anomalies(con, settings, args.as_of), args.as_of
    finally:
        con.close()
    stored = {(f["scope_type"], f["scope_value"], f["cost_view"], f["anomaly_date"]): f for f in get_all(settings)}
    rows = []
    for r in records:
        key = (r["scope_type"], r["scope_value"], r["cost_view"], r["anomaly_date"])
        if key in stored:
            r["status"], r["feedback"] = stored[key]["status"], stored[key]["feedback"]
        if r["cost_view"] != args.cost_view or (scope_type and r["scope_type"] != scope_type) \
                or (scope_value and r["scope_value"] != scope_value):
            continue
        if not args.all:
            recent = as_of is None or r["anomaly_date"] > as_of - timedelta(days=RECENT_ANOMALY_DAYS)
            if not recent or r["status"] == "resolved" or r["feedback"] == "no":
                continue
        rows.append((r["anomaly_date"], r["scope_type"], r["scope_value"], r["cost_view"], r["actual_cost"],
                     r["expected_cost"], r["impact"], r["status"], r["feedback"], _top_cause(r["root_causes"])))
    rows.sort(key=lambda row: (row[0], -float(row[6])), reverse=True)
    if not rows:
        span = "in the history" if args.all else f"in the {RECENT_ANOMALY_DAYS} days up to {as_of}"
        print(f"no anomalies {span} ({args.cost_view} cost); --all shows every one")
        return 0
    if args.format == "table":  # no feedback yet reads as '-', not as SQL's NULL (csv/json keep the null)
        # An Azure MCA billing profile's id is 165 characters: the table keeps its end (csv/json: whole).
        rows = [(*row[:2], shorten(row[2], SCOPE_VALUE_WIDTH), *row[3:8], "-" if row[8] is None else row[8], row[9])
                for row in rows]
    print(format_rows(ANOMALY_COLUMNS, rows, args.format))
    return 0


SCOPE_VALUE_WIDTH = 56


def _top_cause(root_causes) -> str | None:
    import json

    causes = json.loads(root_causes) if isinstance(root_causes, str) else (root_causes or [])
    if not causes:
        return None
    top = causes[0]
    return f"{top['dimension']} {shorten(top['value'], 48)} +{top['delta']:.2f}"


def _recompute_anomalies(con, settings, as_of: date) -> list[dict]:
    from models_ml.anomalies import AnomalyConfig
    from orchestration.defs.ml import compute_anomalies

    config = AnomalyConfig.from_settings(settings)
    try:
        frame = compute_anomalies(con, settings.forecast_tag_keys, config, [], as_of=as_of)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    return frame.to_dict("records")


def cmd_anomaly_feedback(settings, args) -> int:
    from autostack.store.anomalies import set_feedback

    if args.feedback is None and args.status is None and args.note is None:
        raise CliError("give at least one of --feedback, --status, --note")
    try:
        row = set_feedback(settings, args.scope_type, args.scope_value, args.feedback_cost_view, args.anomaly_date,
                           feedback=args.feedback, status=args.status, note=args.note,
                           user=args.user or getpass.getuser())
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    print(f"anomaly {row['scope_type']}={row['scope_value']} ({row['cost_view']}) on {row['anomaly_date']}: "
          f"status {row['status']}, feedback {row['feedback'] or '-'}")
    return 0
