"""The Serving page's Deployment section when no Docker engine answers: one clear line, and the
rest of the page still renders (the in-process API's hot swap does not need Docker)."""

from __future__ import annotations

from ui_helpers import page


def test_without_an_engine_the_deployment_section_says_so_and_the_page_still_works(
    ui_env, monkeypatch, tmp_path
):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    monkeypatch.setenv("WORKBENCH_API_URL", "http://127.0.0.1:9")  # nothing listens there
    at = page("serving")
    assert not at.exception
    assert [s.value for s in at.subheader][-1] == "Deployment (Docker)"
    note = next(i.value for i in at.info if "No Docker deployment" in i.value)
    assert "no Docker engine reachable" in note and "keeps swapping" in note
    assert not at.error
    assert "Canary and shadow" in [s.value for s in at.subheader]  # the rest is there
