"""The lineage graph's text and the Lineage page's parts, on a small hand-made graph."""

from __future__ import annotations

from app.views import lineage as view
from core.lineage import KINDS, Lineage, Node, text_lines


def _graph() -> Lineage:
    g = Lineage("churn", "3")
    g.add(Node(g.root, "model_version", "churn v3 @champion", link={"url": "http://m/#/models"}))
    g.add(
        Node("predictions:2026-01-02", "predictions", "2026-01-02 count=4", {"day": "2026-01-02",
             "variants": {"champion": 3, "shadow": 1}}, {"page": "serving", "query": {}}),
        source=g.root, relation="answered",
    )  # fmt: skip
    g.add(
        Node("predictions:2026-01-01", "predictions", "2026-01-01 count=2",
             {"day": "2026-01-01", "variants": {"champion": 2}}),
        source=g.root, relation="answered",
    )  # fmt: skip
    g.add(
        Node("run:abc", "run", "abc lgbm", link={"url": "http://m/#/experiments/1/runs/abc"}),
        target=g.root,
        relation="produced",
    )
    for i in range(10):
        g.add(
            Node(f"batch:{i}", "batch", f"day{i}.csv id={i}",
                 link={"page": "data", "query": {"tab": "Validation", "batch": str(i)}}),
            target="run:abc", relation="built",
        )  # fmt: skip
    return g


def test_text_is_one_line_per_node_kind_first_in_kind_order_then_notes():
    g = _graph()
    g.notes.append("run x is gone")

    lines = text_lines(g)

    kinds = [line.split()[0] for line in lines]
    assert kinds == ["model_version", "run", *["batch"] * 10, "predictions", "predictions", "note"]
    assert lines[1].split(maxsplit=1)[1] == "abc lgbm"
    assert sorted(kinds[:-1], key=KINDS.index) == kinds[:-1]


def test_to_dict_has_every_node_once_and_edges_between_them():
    g = _graph()
    g.add(Node("run:abc", "run", "again"), target=g.root, relation="produced")  # not twice

    data = g.to_dict()

    assert len(data["nodes"]) == 14 and data["root"] == "model_version:churn/3"
    ids = {n["id"] for n in data["nodes"]}
    assert all({e["source"], e["target"]} <= ids for e in data["edges"])


def test_links_go_to_mlflow_or_to_a_page_file_with_its_query():
    g = _graph()
    run, batch = g.of_kind("run")[0], g.of_kind("batch")[3]
    plain = Node("x", "incident", "no link")

    assert view.link_of(run) == ("url", "http://m/#/experiments/1/runs/abc", {})
    assert view.link_of(batch) == (
        "page",
        view.PAGES / "data.py",
        {"tab": "Validation", "batch": "3"},
    )
    assert view.link_of(plain)[1] == view.PAGES / "overview.py"
    assert (view.PAGES / "data.py").is_file()
    assert [view.link_label(n) for n in (run, batch)] == [
        "MLflow",
        "Data page",
    ]


def test_sections_cover_every_kind_in_order():
    titles = [t for t, _, _ in view.sections(_graph())]

    assert [k for k, _, _ in view.SECTIONS] == list(KINDS)
    assert titles[0] == "Model version" and len(titles) == len(KINDS)


def test_predictions_frame_is_days_by_variant():
    frame = view.predictions_frame(_graph())

    assert list(frame.index) == ["2026-01-01", "2026-01-02"]
    assert frame.to_dict() == {
        "champion": {"2026-01-01": 2, "2026-01-02": 3},
        "shadow": {"2026-01-01": 0, "2026-01-02": 1},
    }
    assert view.predictions_frame(Lineage("m", "1")).empty


def test_dot_folds_long_kinds_and_keeps_edges():
    text = view.dot(_graph(), max_per_kind=8)

    assert text.startswith("digraph lineage {") and text.endswith("}")
    assert '"+2 more raw batches"' in text
    assert text.count('-> n1 [label="built"') == 9  # 8 shown batches + the folded rest
    assert 'more_batch -> n1 [label="built"' in text
    assert 'n0 [label="churn v3"]' in text


def test_a_champion_window_orders_audit_events_by_log_position_within_a_second():
    from core.lineage import Window

    second = "2026-01-01T10:00:00+00:00"
    window = Window("2026-01-01T10:00:00.400000+00:00", "2026-01-01T10:00:00.900000+00:00", 5, 9)
    by_time = Window("2026-01-01T10:00:00.400000+00:00")  # a legacy record: no log position

    assert window.before(4, second) and not window.before(6, second)
    assert window.inside(6, second) and not window.inside(9, second)  # the next promotion's
    assert by_time.before(0, second) and not by_time.inside(0, second)
    assert by_time.inside(0, "2026-01-01T10:00:01+00:00")
    assert window.holds("2026-01-01T10:00:00.500000+00:00") and not window.holds(second)
