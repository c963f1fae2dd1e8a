"""A validated batch keeps the columns its checks built, for the model (`Batch.data`)."""

from __future__ import annotations

import pytest

from api.errors import Invalid
from api.schemas import PredictRequest
from api.validation import Batch

FIELDS = [("when", "datetime"), ("carrier", "string"), ("distance", "long"), ("temp", "double")]


def _records(n: int) -> list[dict]:
    return [
        {
            "when": f"2013-01-{1 + i % 28:02d}T0{i % 10}:00:00Z",
            "carrier": ["UA", "AA", None][i % 3],
            "distance": 100 + i,
            "temp": None if i % 4 == 0 else 20.5 + i,
        }
        for i in range(n)
    ]


def _columns(records: list[dict]) -> dict[str, list]:
    return {name: [r[name] for r in records] for name, _ in FIELDS}


@pytest.mark.parametrize("n", [3, 50])  # the value-by-value and the per-column checks
def test_records_and_rows_give_the_same_columns_in_field_order(n):
    records = _records(n)
    by_records = Batch.of(PredictRequest(records=records), FIELDS, 1000)
    assert by_records.data == _columns(records)
    assert list(by_records.data) == [name for name, _ in FIELDS]
    order = ["temp", "when", "distance", "carrier"]  # any column order
    rows = [[r[c] for c in order] for r in records]
    by_rows = Batch.of(PredictRequest(columns=order, rows=rows), FIELDS, 1000)
    assert by_rows.data == _columns(records)
    assert by_rows.columns == order and by_rows.rows == rows  # the log still gets the rows


def test_ignored_fields_are_left_out_of_the_columns():
    records = [r | {"extra": i} for i, r in enumerate(_records(20))]
    batch = Batch.of(PredictRequest(records=records), FIELDS, 1000, "ignore")
    assert batch.ignored == ("extra",)
    assert batch.data == _columns(records)
    columns = ["extra", *(name for name, _ in FIELDS)]
    rows = [[r[c] for c in columns] for r in records]
    batch = Batch.of(PredictRequest(columns=columns, rows=rows), FIELDS, 1000, "ignore")
    assert batch.ignored == ("extra",) and "extra" not in batch.data
    assert batch.data == _columns(records)


def test_integral_floats_in_an_integer_field_pass_the_record_by_record_check():
    records = _records(5)
    records[2]["distance"] = 250.0  # JSON 250.0 is an integer: the slow pass accepts it
    batch = Batch.of(PredictRequest(records=records), FIELDS, 1000)
    assert batch.data["distance"][2] == 250.0 and batch.data == _columns(records)


def test_a_bad_value_is_still_refused_naming_its_record_and_field():
    records = _records(50)
    records[31]["temp"] = "warm"
    with pytest.raises(Invalid, match=r"records\[31\]: field 'temp'"):
        Batch.of(PredictRequest(records=records), FIELDS, 1000)
