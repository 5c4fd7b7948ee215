"""Slack incoming webhooks: Block Kit blocks plus a top-level `text` fallback for notifications.

Format: https://api.slack.com/messaging/webhooks and https://api.slack.com/reference/block-kit —
a `header` block, a `section` with `fields` (mrkdwn), a `context` line. Slack answers 200 "ok".
"""

from __future__ import annotations

from autostack.notify.http import post_json
from autostack.notify.message import AlertMessage, money, percent


def slack_payload(alert: AlertMessage) -> dict:
    fields = [
        ("Budget", money(alert.amount, alert.currency)),
        ("Spent so far", money(alert.spent, alert.currency)),
        ("Forecast at period end", money(alert.forecast, alert.currency)),
        ("Threshold", f"{alert.threshold_percent}% {alert.threshold_basis}"),
        ("Period", f"{alert.period_start.isoformat()} .. {alert.period_end.isoformat()} ({alert.days_left} days left)"),
        ("Scope", alert.scope),
    ]
    context = [f"{alert.cost_view} cost", f"now at {percent(alert.percent)}"]
    if alert.forecast_method:
        context.append(f"forecast: {alert.forecast_method}")
    if alert.data_through:
        context.append(f"costs through {alert.data_through.isoformat()}")
    if alert.actions:
        context.append(f"actions: {', '.join(alert.actions)}")
    return {
        "text": alert.text(),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150], "emoji": False}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
        ],
    }


def send_slack(url: str, alert: AlertMessage, timeout: float = 10.0) -> None:
    post_json(url, slack_payload(alert), timeout=timeout)
