"""Contract helpers for warehouse destinations: read ``mp_master_event`` back."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from driftline.pipelines.destinations import open_destination

from .conftest import make_events
from .contract import DestinationContract, Harness, Record


class WarehouseContract(DestinationContract):
    def expected_place(self, seconds: int) -> str:
        return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y/%m/%d")

    def table(self, wh: Any, name: str) -> str:
        return f'"{wh.schema}"."{name}"' if wh.schema else f'"{name}"'

    def exported(self, url: str, project_id: int) -> list[Record]:
        wh = open_destination(url)
        try:
            rows = wh.query(  # type: ignore[union-attr]
                f"SELECT insert_id, event_name, event_date, time, properties FROM {self.table(wh, 'mp_master_event')}"
            )
        except Exception as exc:
            if "does not exist" in str(exc) or "not found" in str(exc).lower():
                return []
            raise
        finally:
            wh.close()
        out = []
        for insert_id, name, day, time, props in rows:
            if isinstance(day, str):
                day = dt.date.fromisoformat(day[:10])
            if isinstance(time, str):
                time = dt.datetime.fromisoformat(time)
            seconds = (
                int(time.replace(tzinfo=dt.UTC).timestamp())
                if time.tzinfo is None
                else int(time.timestamp())
            )
            props = json.loads(props) if isinstance(props, str) else props
            out.append(Record(insert_id, name, day.strftime("%Y/%m/%d"), seconds, props))
        return out

    def columns(self, url: str) -> set[str]:
        wh = open_destination(url)
        try:
            rows = wh.query(  # type: ignore[union-attr]
                "SELECT column_name FROM information_schema.columns WHERE lower(table_name) = 'mp_master_event'"
                f" AND lower(table_schema) = lower('{wh.schema}')"
            )
        finally:
            wh.close()
        return {str(r[0]).lower() for r in rows}

    def test_columns_widen_and_conflicts_get_their_own(
        self, harness: Harness, destination_url: str, day: dt.datetime
    ) -> None:
        self.add(harness, destination_url)
        harness.write(make_events(50, day, dt.timedelta(hours=2), seed=1))
        harness.engine().run(harness.project, "p")
        before = self.columns(destination_url)
        assert {"plan", "price", "items", "mp_browser"} <= before
        widened = "to_json({'time': epoch_ms(t) // 1000, 'coupon': 'X', 'items': 'several'})"
        harness.write(make_events(20, day, dt.timedelta(hours=2), seed=4, extra_properties=widened))
        harness.engine().run(harness.project, "p")
        after = self.columns(destination_url)
        assert before < after
        assert {"coupon", "items_string"} <= after
