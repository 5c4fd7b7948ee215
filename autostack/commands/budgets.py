"""`autostack budgets`: budgets, alert channels, status, alert history and deployment-freeze acknowledgement.

Validation and storage live in `autostack.budgets` (the app uses the same functions); this module
only parses arguments and prints. Secrets are referenced by name and only ever printed masked.
"""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation

from autostack.settings import Settings

SCOPE_OPTIONS = ("provider", "billing_account", "sub_account", "service", "region")


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    return value


def register(subparsers) -> None:
    budgets = subparsers.add_parser("budgets", help="budgets and alerts: add, list, show, remove, status, ack, channels")
    sub = budgets.add_subparsers(dest="budgets_command", required=True, metavar="ACTION")

    add = sub.add_parser("add", help="add a budget (validated against the published data)")
    add.add_argument("name")
    add.add_argument("--amount", type=_decimal, required=True, help="the limit per period, e.g. 12000")
    add.add_argument("--currency", required=True, help="must be the data's BillingCurrency for the scope, e.g. USD")
    add.add_argument("--period", default="monthly", help="monthly (default), quarterly or annual; calendar-aligned")
    add.add_argument("--cost-view", default="billed", help="billed (default) or effective (amortized)")
    for option in SCOPE_OPTIONS:
        add.add_argument(f"--{option.replace('_', '-')}", default=None, help=f"scope: only this {option.replace('_', ' ')}")
    add.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="scope: only costs with this tag (repeatable)")
    add.add_argument("--threshold", action="append", default=[], metavar="PCT[:actual|forecasted]",
                     help="e.g. 50, 80, 100:forecasted (repeatable; default 100 actual)")
    add.add_argument("--channel", action="append", default=[], help="alert channel name (repeatable)")
    add.add_argument("--action", action="append", default=[],
                     metavar="freeze_deployments|call_webhook=CHANNEL[@PCT[:basis]]",
                     help="what to do when a threshold fires (repeatable)")
    add.add_argument("--owner", default=None)
    add.add_argument("--no-data-check", action="store_true", help="skip checking scope values and currency against the data")
    add.set_defaults(handler=cmd_add)

    lst = sub.add_parser("list", help="list budgets")
    lst.set_defaults(handler=cmd_list)

    show = sub.add_parser("show", help="one budget: its definition, latest status and alert history")
    show.add_argument("name")
    show.set_defaults(handler=cmd_show)

    remove = sub.add_parser("remove", help="remove a budget (its alert history stays)")
    remove.add_argument("name")
    remove.set_defaults(handler=cmd_remove)

    status = sub.add_parser("status", help="every budget's latest evaluation, failed deliveries and active freezes")
    status.set_defaults(handler=cmd_status)

    ack = sub.add_parser("ack", help="acknowledge a deployment freeze, lifting it")
    ack.add_argument("freeze_id", type=int)
    ack.add_argument("--by", required=True, help="who acknowledges (recorded)")
    ack.set_defaults(handler=cmd_ack)

    channel = sub.add_parser("channel", help="alert channels: add, list, remove")
    channel_sub = channel.add_subparsers(dest="channel_command", required=True, metavar="ACTION")
    cadd = channel_sub.add_parser("add", help="add a Slack, signed-webhook or e-mail channel; secrets by name only")
    cadd.add_argument("name")
    cadd.add_argument("--kind", required=True, choices=["slack", "webhook", "email"])
    cadd.add_argument("--url-secret", help="slack/webhook: name of the env var or secrets-file entry holding the URL")
    cadd.add_argument("--signing-secret", help="webhook: name of the secret holding the HMAC-SHA256 signing key")
    cadd.add_argument("--smtp-host")
    cadd.add_argument("--smtp-port", type=int, default=587)
    cadd.add_argument("--security", default="starttls", help="starttls (default) or none (plain, local relays)")
    cadd.add_argument("--sender", help="email: From address")
    cadd.add_argument("--to", action="append", default=[], help="email: recipient (repeatable)")
    cadd.add_argument("--username", help="email: SMTP login")
    cadd.add_argument("--password-secret", help="email: name of the secret holding the SMTP password")
    cadd.set_defaults(handler=cmd_channel_add)
    clist = channel_sub.add_parser("list", help="list channels (secrets masked)")
    clist.set_defaults(handler=cmd_channel_list)
    cremove = channel_sub.add_parser("remove", help="remove a channel no budget uses")
    cremove.add_argument("name")
    cremove.set_defaults(handler=cmd_channel_remove)


def _errors(fn):
    """ValidationError / NotFound / bad values become CLI errors: a message, exit 1, no traceback."""

    def wrapped(settings: Settings, args) -> int:
        from autostack.budgets import NotFound, ValidationError
        from autostack.cli import CliError

        try:
            return fn(settings, args)
        except ValidationError as exc:
            raise CliError("invalid:\n  " + "\n  ".join(exc.problems)) from None
        except (NotFound, LookupError, ValueError) as exc:
            raise CliError(str(exc)) from None

    return wrapped


@_errors
def cmd_add(settings: Settings, args) -> int:
    from autostack.budgets import Action, BudgetSpec, Scope, Threshold, ValidationError, add_budget

    tags = {}
    for item in args.tag:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationError([f"tag {item!r}: expected KEY=VALUE"])
        tags[key] = value
    scope = Scope.from_dict({**{o: getattr(args, o) for o in SCOPE_OPTIONS}, "tags": tags})
    spec = BudgetSpec(
        name=args.name, amount=args.amount, currency=(args.currency or "").upper(), period=args.period,
        cost_view=args.cost_view, scope=scope,
        thresholds=tuple(Threshold.parse(t) for t in args.threshold) or (Threshold(Decimal(100), "actual"),),
        channels=tuple(args.channel), actions=tuple(Action.parse(a) for a in args.action), owner=args.owner,
    )
    budget = add_budget(settings, spec, check_data=not args.no_data_check)
    print(f"added budget {budget.name!r} (id {budget.id}): {budget.amount} {budget.currency} {budget.period}, "
          f"{budget.scope.describe()}")
    if not settings.serving_path.exists() and not args.no_data_check:
        print("note: nothing is published yet, so scope values and currency were not checked against the data")
    return 0


def _budget_rows(budgets) -> tuple[list[str], list[list]]:
    columns = ["id", "name", "scope", "period", "amount", "currency", "view", "thresholds", "channels", "actions", "owner"]
    rows = [[b.id, b.name, b.scope.describe(), b.period, b.amount, b.currency, b.cost_view,
             ", ".join(t.describe() for t in b.thresholds), ", ".join(b.channels) or "-",
             ", ".join(a.describe() for a in b.actions) or "-", b.owner or "-"] for b in budgets]
    return columns, rows


@_errors
def cmd_list(settings: Settings, args) -> int:
    from autostack.budgets import list_budgets
    from autostack.cli import format_rows

    budgets = list_budgets(settings)
    if not budgets:
        print("no budgets; add one with `autostack budgets add NAME --amount N --currency USD`")
        return 0
    print(format_rows(*_budget_rows(budgets), "table"))
    return 0


def _status_rows(settings: Settings, name: str | None = None):
    from autostack.budgets import latest_status

    return latest_status(settings, name)


@_errors
def cmd_show(settings: Settings, args) -> int:
    from autostack.budgets import alert_history, get_budget

    budget = get_budget(settings, args.name)
    columns, rows = _budget_rows([budget])
    for column, value in zip(columns, rows[0]):
        print(f"{column:>11}: {value}")
    status = _status_rows(settings, budget.name)
    print("\nLatest evaluation (published snapshot)")
    if status and status[1]:
        row = dict(zip(*[status[0], status[1][0]]))
        for key, value in row.items():
            print(f"  {key}: {value}")
    else:
        print("  not evaluated yet (budget_job runs hourly and after each load)")
    print("\nAlert history")
    history = alert_history(settings, budget.name, limit=20)
    if not history:
        print("  none")
    for event in history:
        print(f"  {event['fired_at']:%Y-%m-%d %H:%M}  {event['threshold']}: {event['message']}")
        for d in event["deliveries"]:
            error = f" — {d['last_error']}" if d["last_error"] else ""
            print(f"      {d['purpose']} → {d['channel']}: {d['status']} ({d['attempts']} attempt(s)){error}")
    return 0


@_errors
def cmd_remove(settings: Settings, args) -> int:
    from autostack.budgets import remove_budget

    remove_budget(settings, args.name)
    print(f"removed budget {args.name!r} (its alert history is kept)")
    return 0


@_errors
def cmd_status(settings: Settings, args) -> int:
    from autostack.budgets import failed_deliveries, list_freezes
    from autostack.cli import format_rows

    status = _status_rows(settings)
    print("Budgets (latest evaluation, published snapshot)")
    if status is None:
        print("  not evaluated yet: budget_job runs hourly and after each successful load")
    elif not status[1]:
        print("  no budgets")
    else:
        print(format_rows(status[0], status[1], "table"))
    failed = failed_deliveries(settings)
    print("\nUndelivered alerts")
    if not failed:
        print("  none")
    for d in failed:
        print(f"  {d['status'].upper():<9} {d['budget']} {d['threshold']} → {d['channel']} ({d['purpose']}), "
              f"{d['attempts']} attempt(s): {d['last_error'] or 'not sent yet'}")
    freezes = list_freezes(settings)
    print("\nDeployment freezes (until acknowledged: `autostack budgets ack ID --by NAME`)")
    if not freezes:
        print("  none")
    for f in freezes:
        print(f"  #{f['id']} since {f['frozen_at']:%Y-%m-%d %H:%M}: {f['reason']}")
    return 0


@_errors
def cmd_ack(settings: Settings, args) -> int:
    from autostack.budgets import acknowledge_freeze

    freeze = acknowledge_freeze(settings, args.freeze_id, args.by)
    print(f"freeze #{freeze['id']} acknowledged by {freeze['acknowledged_by']}; deployments to "
          f"{freeze['scope'] or 'all costs'} are no longer frozen by it")
    return 0


@_errors
def cmd_channel_add(settings: Settings, args) -> int:
    from autostack.budgets import ChannelSpec, add_channel

    refs = {"url": args.url_secret, "signing_key": args.signing_secret, "password": args.password_secret}
    options = {}
    if args.kind == "email":
        options = {"host": args.smtp_host, "port": args.smtp_port, "security": args.security, "sender": args.sender,
                   "recipients": list(args.to)}
        if args.username:
            options["username"] = args.username
    channel = add_channel(settings, ChannelSpec(name=args.name, kind=args.kind, options=options,
                                                secret_refs={k: v for k, v in refs.items() if v}))
    print(f"added {channel.kind} channel {channel.name!r}")
    return 0


@_errors
def cmd_channel_list(settings: Settings, args) -> int:
    from autostack.budgets import describe_channel, list_channels
    from autostack.notify import SecretStore

    channels = list_channels(settings)
    if not channels:
        print("no channels; add one with `autostack budgets channel add NAME --kind slack --url-secret ENV_NAME`")
    secrets = SecretStore.from_settings(settings)
    for channel in channels:
        shown = describe_channel(channel, secrets)
        options = ", ".join(f"{k}={v}" for k, v in shown["options"].items()) or "-"
        secrets_text = ", ".join(f"{k}: {v}" for k, v in shown["secrets"].items()) or "-"
        print(f"{shown['name']} ({shown['kind']})  options: {options}  secrets: {secrets_text}")
    return 0


@_errors
def cmd_channel_remove(settings: Settings, args) -> int:
    from autostack.budgets import remove_channel

    remove_channel(settings, args.name)
    print(f"removed channel {args.name!r}")
    return 0
