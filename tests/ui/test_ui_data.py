"""Data page: validation results, quarantine, versions, profiles, comparison, pipeline runs."""

from __future__ import annotations

import pandas as pd
from ui_helpers import BAD_FILE, BAD_REASON, page, texts

from core.data.versioning import list_versions
from core.workspace import Workspace
from core.workspace.demo import drip


def open_tab(at, tab: str):
    at.session_state["tab"] = tab
    return at.run()


def test_validation_tab_lists_rule_results_per_stage_with_status(ui_env):
    at = page("data")

    assert not at.exception
    results = pd.concat([df.value for df in at.dataframe if "rule" in df.value.columns])
    assert {"required_columns", "missing_rate", "range", "allowed_values"} <= set(results["rule"])
    assert {"pass", "fail"} <= set(results["status"])
    failed = results[results["status"] == "fail"]
    assert set(failed["batch"]) == {BAD_FILE}
    assert "carrier" in set(failed["column"])
    stages = texts(at.subheader)
    assert any(s.startswith("raw:") and "1 fail" in s for s in stages)
    assert any(s.startswith("features:") for s in stages)


def test_failing_rule_has_an_expander_with_its_offending_rows(ui_env):
    at = page("data")

    labels = [e.label for e in at.expander]
    failing = [lbl for lbl in labels if lbl.startswith("FAIL") and BAD_FILE in lbl]
    assert failing and "missing_rate" in failing[0]
    expander = next(e for e in at.expander if e.label == failing[0])
    rows = expander.dataframe[0].value
    assert "carrier" in rows.columns and len(rows) == 5  # `failing_rows: 5` in the demo config


def test_batch_table_shows_the_quarantined_batch_of_the_latest_run(ui_env):
    at = page("data")

    batches = at.dataframe[0].value
    bad = batches[batches["batch"] == BAD_FILE].iloc[0]
    assert bad["status"] == "quarantined"
    assert BAD_REASON in bad["reason"]
    assert any("**partial**" in t for t in texts(at.markdown))


def test_html_report_of_the_failing_batch_is_offered_for_download(ui_env):
    at = page("data")

    report = at.selectbox[0]
    assert BAD_FILE in report.value and "(fail)" in report.value
    assert any(b.label == "Download HTML report" for b in at.get("download_button"))


def test_quarantine_tab_names_the_bad_file_and_its_reason(ui_env):
    at = open_tab(page("data"), "Quarantine")

    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["file"]) == [BAD_FILE]
    assert BAD_REASON in table["reason"].iloc[0]
    assert table["stage"].iloc[0] == "raw"


def test_versions_tab_lists_every_data_version_newest_first(ui_env):
    at = open_tab(page("data"), "Versions")

    ids = [v.id for v in list_versions(Workspace.open(ui_env))]
    assert list(at.dataframe[0].value["version"]) == ids


def test_profile_tab_summarises_columns_and_plots_the_chosen_one(ui_env):
    at = open_tab(page("data"), "Profile")

    assert not at.exception
    summary = at.dataframe[0].value
    assert summary.loc["carrier", "kind"] == "categorical"
    assert summary.loc["distance", "kind"] == "numeric"
    assert len(at.get("plotly_chart")) == 1
    at.selectbox(key="profile_column").set_value("carrier").run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1


def test_compare_tab_shows_row_delta_between_two_versions(ui_env):
    at = open_tab(page("data"), "Compare")

    assert not at.exception
    older, newer = list_versions(Workspace.open(ui_env))[::-1]
    shown = {m.label: (m.value, m.delta) for m in at.metric}
    assert shown["Rows A"][0] == f"{older.rows:,}"
    assert shown["Rows B"] == (f"{newer.rows:,}", f"{newer.rows - older.rows:+,}")
    numeric = at.dataframe[0].value
    assert {"mean_a", "mean_b", "mean_delta"} <= set(numeric.columns)
    assert "distance" in numeric.index


def test_uploaded_file_is_validated_against_the_chosen_stage(ui_env):
    at = open_tab(page("data"), "Validate a file")
    bad = next((ui_env / "quarantine").glob(f"*/{BAD_FILE}")).read_bytes()

    at.file_uploader[0].set_value((BAD_FILE, bad, "text/csv")).run()

    assert not at.exception
    assert "raw validation failed" in at.error[0].value
    assert "missing_rate" in set(at.dataframe[0].value["rule"])


def test_unreadable_upload_shows_the_reader_message(ui_env):
    at = open_tab(page("data"), "Validate a file")

    at.file_uploader[0].set_value(("junk.csv", b"\x00\x01\x02", "text/csv")).run()

    assert not at.exception
    assert at.error[0].value == "junk.csv: binary content (NUL bytes), not a CSV text file"


def test_run_pipeline_with_nothing_new_says_so(ui_ws_copy):
    at = page("data")

    next(b for b in at.button if b.label == "Run pipeline").click().run(timeout=60)

    assert not at.exception
    assert "no new data: nothing to ingest" in texts(at.info)
    assert any("Showing the last run that had batches" in t for t in texts(at.info))
    assert any(df.value.columns[1] == "rule" for df in at.dataframe)


def test_run_pipeline_on_a_new_file_reports_the_new_version(ui_ws_copy):
    drip(ui_ws_copy, 1)
    at = page("data")

    next(b for b in at.button if b.label == "Run pipeline").click().run(timeout=120)

    assert not at.exception
    latest = list_versions(Workspace.open(ui_ws_copy))[0]
    assert texts(at.success) == [f"1 batch(es) accepted as data version {latest.id}"]
    assert latest.id in at.caption[0].value  # the header re-read the versions


def test_data_page_rerenders_from_cache_within_the_default_timeout(ui_env):
    at = page("data")

    at.run(timeout=3)  # AppTest's default: a cached rerender must not rebuild anything

    assert not at.exception
