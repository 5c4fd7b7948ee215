"""E-mail over SMTP: STARTTLS (default for relays on the internet) or plain for a local relay."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from autostack.notify.http import DeliveryError
from autostack.notify.message import AlertMessage


def email_message(alert: AlertMessage, sender: str, recipients: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[AutoStack] {alert.title}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["X-AutoStack-Event"] = alert.event_key
    message.set_content(alert.text() + "\n")
    return message


def send_email(options: dict, password: str | None, alert: AlertMessage, timeout: float = 10.0) -> None:
    host, port = options["host"], int(options.get("port", 587))
    security = options.get("security", "starttls")
    message = email_message(alert, options["sender"], list(options["recipients"]))
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            smtp.ehlo()
            if security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if options.get("username"):
                smtp.login(options["username"], password or "")
            smtp.send_message(message)
    except smtplib.SMTPException as exc:
        raise DeliveryError(f"SMTP {host}:{port}: {exc.__class__.__name__}: {exc}") from None
    except OSError as exc:
        raise DeliveryError(f"SMTP {host}:{port}: cannot connect ({exc})") from None
