"""The app's charts (Vega-Lite specs with their data): they draw exactly the numbers they are given."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest

from app import widgets


def _days(n: int, start: date = date(2026, 10, 1)) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


def test_trend_chart_draws_history_forecast_and_both_bands():
    history = pd.DataFrame({"charge_date": _days(5), "cost": [10.0, 12.5, 11.0, -1.0, 9.0]})
    forecast = pd.DataFrame({"forecast_date": _days(3, date(2026, 10, 6)), "predicted_cost": [9.5, 9.7, 9.9],
                             "lower_80": [9.0, 9.1, 9.2], "upper_80": [10.0, 10.3, 10.6],
                             "lower_95": [8.0, 8.1, 8.2], "upper_95": [11.0, 11.3, 11.6]})
    frame, spec = widgets.trend_chart(history, forecast, currency="EUR")
    actual = frame[frame["series"] == "actual"]
    assert actual["day"].tolist() == [d.isoformat() for d in _days(5)]
    assert actual["cost"].tolist() == history["cost"].tolist()
    predicted = frame[frame["series"] == "forecast"]
    assert predicted["cost"].tolist() == [9.5, 9.7, 9.9] and predicted["upper_95"].tolist() == [11.0, 11.3, 11.6]
    assert spec["encoding"]["color"]["scale"]["domain"] == ["actual", "forecast", "95% interval", "80% interval"]
    areas = [layer for layer in spec["layer"] if layer["mark"]["type"] == "area"]
    assert [(a["encoding"]["y"]["field"], a["encoding"]["y2"]["field"]) for a in areas] == [
        ("lower_95", "upper_95"), ("lower_80", "upper_80")]
    assert any(layer["encoding"]["y"].get("title") == "EUR" for layer in spec["layer"])
    json.dumps(spec)  # what st.vega_lite_chart sends must be plain JSON


def test_trend_chart_without_forecast_has_only_the_actual_line():
    history = pd.DataFrame({"charge_date": pd.to_datetime(_days(3)), "cost": [1.0, 2.0, 3.0]})
    frame, spec = widgets.trend_chart(history, pd.DataFrame())
    assert set(frame["series"]) == {"actual"} and len(frame) == 3
    assert spec["encoding"]["color"]["scale"]["domain"] == ["actual"]
    assert not [layer for layer in spec["layer"] if layer["mark"]["type"] == "area"]


@pytest.mark.parametrize("granularity, unit", [("day", "yearmonthdate"), ("month", "yearmonth")])
def test_stacked_bar_keeps_every_value_largest_group_first_other_last(granularity, unit):
    shown = pd.DataFrame({"period": [date(2026, 10, 1)] * 3 + [date(2026, 10, 2)] * 3,
                          "Tag: team": ["web", "(other)", "data", "web", "(other)", "data"],
                          "cost": [5.0, 100.0, 20.0, 6.0, 90.0, -25.0]})
    frame, spec = widgets.stacked_bar(shown, "period", "cost", "Tag: team", "USD", granularity=granularity)
    assert frame["cost"].sum() == pytest.approx(shown["cost"].sum()) and len(frame) == len(shown)
    assert spec["encoding"]["color"]["scale"]["domain"] == ["data", "web", "(other)"]  # by |cost|: 45 > 11
    assert frame.groupby("group")["rank"].first().to_dict() == {"data": 0, "web": 1, "(other)": 2}
    assert spec["encoding"]["x"]["timeUnit"] == unit and spec["encoding"]["color"]["title"] == "Tag: team"


def test_bars_keep_the_order_given_and_highlight_one_label():
    frame = pd.DataFrame({"model": ["prophet", "seasonal_naive", "linear_trend"], "mape": [3.2, 5.1, 7.4]})
    data, spec = widgets.column_bar(frame, "model", "mape", highlight="prophet", title="MAPE (%)")
    assert data["label"].tolist() == frame["model"].tolist() and spec["encoding"]["x"]["sort"] is None
    assert spec["encoding"]["color"]["condition"] == {"test": 'datum.label === "prophet"', "value": "#00cc96"}
    data, spec = widgets.horizontal_bar(frame, "model", "mape")
    assert data["value"].tolist() == [3.2, 5.1, 7.4] and spec["encoding"]["y"]["sort"] is None
