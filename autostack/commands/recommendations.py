"""`autostack recommendations`: the savings recommendations from the published snapshot, and decisions on them.

    autostack recommendations [--type T] [--provider P] [--min-savings USD] [--status open|done|dismissed|all]
    autostack recommendations done ID [--note TEXT] [--user NAME]
    autostack recommendations dismiss ID [--note TEXT] [--user NAME]

IDs may be shortened to any unique prefix (the table shows 12 characters). Statuses live in the app
store, so a decision shows at once here and survives every recompute. The total counts one
recommendation per resource (the largest), since alternatives on one resource do not add up.
"""

from __future__ import annotations

import getpass

from autostack.settings import Settings

COLUMNS = ["recommendation_id", "type", "provider", "sub_account_id", "resource_id", "region", "current", "proposed",
           "monthly_savings", "confidence", "action", "status"]
SHOWN = ["id", "type", "provider", "resource", "region", "current", "proposed", "savings/month", "confidence", "status"]
ID_CHARS = 12


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "recommendations", help="savings recommendations (idle, rightsizing, schedules, commitments, ...) and their status",
        description="List savings recommendations from the published data, or mark one done or dismissed.")
    parser.add_argument("--type", dest="rec_type", help="only this type (idle_resource, rightsize, commitment, ...)")
    parser.add_argument("--provider", help="only this provider (aws, azure, gcp, oci)")
    parser.add_argument("--min-savings", type=float, default=0.0, help="only recommendations saving at least this USD a month")
    parser.add_argument("--status", default="open", choices=["open", "done", "dismissed", "all"])
    parser.add_argument("--format", default="table", choices=["table", "csv", "json"])
    parser.set_defaults(handler=cmd_list)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    for action, status in (("done", "done"), ("dismiss", "dismissed"), ("reopen", "open")):
        sub = actions.add_parser(action, help=f"mark a recommendation {status}")
        sub.add_argument("recommendation_id", metavar="ID")
        sub.add_argument("--note")
        sub.add_argument("--user")
        sub.set_defaults(handler=cmd_set_status, new_status=status)


def _load(settings: Settings):
    """The published recommendations (a DataFrame) with the app store's current statuses over the snapshot's."""
    from autostack.cli import CliError, connect_snapshot
    from autostack.store.recommendations import get_statuses

    con = connect_snapshot(settings)
    try:
        exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'ml' "
                             "AND table_name = 'recommendations'").fetchall()[0][0]
        if not exists:
            raise CliError("no recommendations are published yet: run `autostack ingest PATH` or `autostack up` first")
        frame = con.execute(f"SELECT {', '.join(COLUMNS)}, CAST(evidence AS VARCHAR) AS evidence FROM ml.recommendations").df()
    finally:
        con.close()
    statuses = get_statuses(settings)
    frame["status"] = [statuses.get(i, s) for i, s in zip(frame["recommendation_id"], frame["status"])]
    frame["monthly_savings"] = frame["monthly_savings"].astype(float)
    return frame


def _resolve(frame, prefix: str) -> str:
    from autostack.cli import CliError

    hits = [i for i in frame["recommendation_id"] if i.startswith(prefix.strip().lower())]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise CliError(f"no recommendation with id {prefix!r}: run `autostack recommendations --status all` to see them")
    raise CliError(f"id {prefix!r} matches {len(hits)} recommendations; give more characters")


def cmd_list(settings: Settings, args) -> int:
    from autostack.cli import format_rows
    from autostack.cli import shorten as _short
    from models_ml.recommendations import achievable_savings

    frame = _load(settings)
    if args.rec_type:
        frame = frame[frame["type"] == args.rec_type]
    if args.provider:
        frame = frame[frame["provider"] == args.provider.lower()]
    frame = frame[frame["monthly_savings"] >= args.min_savings]
    if args.status != "all":
        frame = frame[frame["status"] == args.status]
    frame = frame.sort_values(["monthly_savings", "recommendation_id"], ascending=[False, True])
    if args.format != "table":
        print(format_rows(COLUMNS + ["evidence"], frame[COLUMNS + ["evidence"]].values.tolist(), args.format))
        return 0
    rows = [[r.recommendation_id[:ID_CHARS], r.type, r.provider, _short(r.resource_id, 40), r.region,
             _short(r.current, 44), _short(r.proposed, 40), round(r.monthly_savings, 2), r.confidence, r.status]
            for r in frame.itertuples()]
    print(format_rows(SHOWN, rows, "table") if rows else "no recommendations match")
    counted = ("open",) if args.status in ("open", "all") else (args.status,)
    total = achievable_savings(frame, counted) if not frame.empty else 0.0
    listed = round(float(frame[frame["status"].isin(counted)]["monthly_savings"].sum()), 2)
    resources = frame[frame["status"].isin(counted)]["resource_id"].nunique()
    print(f"\n{len(frame)} recommendation(s). Achievable savings: {total:,.2f} USD/month across {resources} resource(s) "
          f"({'/'.join(counted)}; the best recommendation per resource, alternatives not added: the listed savings "
          f"sum to {listed:,.2f})")
    return 0


def cmd_set_status(settings: Settings, args) -> int:
    from autostack.store.recommendations import set_status

    frame = _load(settings)
    rid = _resolve(frame, args.recommendation_id)
    user = args.user or getpass.getuser()
    set_status(settings, rid, args.new_status, note=args.note, user=user)
    row = frame[frame["recommendation_id"] == rid].iloc[0]
    print(f"{rid}: {row['type']} on {row['resource_id']} marked {args.new_status} by {user}")
    return 0
