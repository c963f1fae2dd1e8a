"""Models page, model card: the reviewed version's card (Markdown shown, Markdown and HTML
downloads); a version without a card says how to write one, and **Write card** writes it."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest
from test_ui_models import models_template, models_ws  # noqa: F401 - pytest fixtures
from ui_helpers import page, texts

from core.registry import card as C
from core.registry import store

pytestmark = pytest.mark.slow
TIMEOUT = 120  # writing a card scores the holdout


def _card_markdown(at) -> list[str]:
    return [t for t in texts(at.markdown) if t.startswith("# Model card:")]


def _downloads(at) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]


def test_the_page_shows_the_reviewed_versions_card_with_downloads(models_ws):  # noqa: F811
    at = page("models")
    assert not at.exception
    assert at.selectbox(key="models_version").value == "2"
    (shown,) = _card_markdown(at)
    assert shown == C.read_card(models_ws, "2", "md").strip()
    assert "## Worst slices" in shown and "naive_bayes" in shown
    assert _downloads(at) == ["Markdown", "HTML"]

    at.selectbox(key="models_version").select("1").run(timeout=TIMEOUT)
    assert not at.exception
    (shown,) = _card_markdown(at)
    assert shown.startswith(f"# Model card: {models_ws.config.model_name} v1")
    assert "initial_champion" in shown


def test_a_version_without_a_card_is_written_from_the_page(models_ws):  # noqa: F811
    client = store.registry_client(models_ws)
    mv = client.get_model_version(models_ws.config.model_name, "2")
    artifacts = Path(urlparse(client.get_run(mv.run_id).info.artifact_uri).path)
    shutil.rmtree(artifacts / C.ARTIFACT_DIR)  # as for a version registered before cards

    at = page("models")
    assert not at.exception
    assert not _card_markdown(at) and not _downloads(at)
    assert any("has no model card yet" in t and "Write card" in t for t in texts(at.info))

    at.button(key="write_card").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert any("Model card of v2 written" in t for t in texts(at.success))
    (shown,) = _card_markdown(at)
    assert shown == C.read_card(models_ws, "2", "md").strip()
    assert _downloads(at) == ["Markdown", "HTML"]
