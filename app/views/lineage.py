"""The Lineage page's parts: sections of hops, where each hop links, the prediction chart, a graph.

Plain functions over `core.lineage.Lineage` (no Streamlit), unit-tested on small graphs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.lineage import Lineage, Node

PAGES = Path(__file__).resolve().parents[2] / "pages"
"""The page scripts (as `app/main.py` registers them: `st.page_link` needs the same paths)."""
SECTIONS = (
    ("model_version", "Model version", "the registry entry (MLflow)"),
    ("run", "Training run", "params and metrics in MLflow"),
    ("data_version", "Data version", "git commit of the workspace repo"),
    ("data_file", "Data files", "DVC-tracked, by md5"),
    ("batch", "Raw batches", "what the data version was built from"),
    ("report", "Validation reports", "per batch and stage"),
    ("promotion", "Promotions", "the audit log"),
    ("serving", "API instances", "starts, rollouts and reloads in the audit log"),
    ("predictions", "Predictions per day", "the prediction log"),
    ("incident", "Incidents", "naming the version or opened while it was champion"),
)
"""Node kind, section title, where the hop is read from (in the order the page shows them)."""
PAGE_TITLES = {
    "data": "Data",
    "models": "Models",
    "serving": "Serving",
    "drift": "Drift",
    "overview": "Overview",
}


def sections(lineage: Lineage) -> list[tuple[str, str, list[Node]]]:
    """(title, source caption, nodes) per kind, in `SECTIONS` order, empty kinds included."""
    return [(title, note, lineage.of_kind(kind)) for kind, title, note in SECTIONS]


def link_of(node: Node) -> tuple[str, str | Path, dict]:
    """How a node links: `("url", url, {})` or `("page", page file, query params)`.

    A node without a link goes to the Overview page.
    """
    link = node.link or {}
    if link.get("url"):
        return "url", link["url"], {}
    page = link.get("page") or "overview"
    return "page", PAGES / f"{page}.py", dict(link.get("query") or {})


def link_label(node: Node) -> str:
    """The text of a node's link: the page it opens, or MLflow."""
    kind, target, _ = link_of(node)
    if kind == "url":
        return "MLflow"
    return f"{PAGE_TITLES.get(Path(target).stem, Path(target).stem)} page"


def predictions_frame(lineage: Lineage) -> pd.DataFrame:
    """Day × variant prediction counts (one row per day, a column per variant)."""
    rows = [
        {"day": n.attrs["day"], "variant": variant, "count": count}
        for n in lineage.of_kind("predictions")
        for variant, count in n.attrs.get("variants", {}).items()
    ]
    if not rows:
        return pd.DataFrame(columns=["day"]).set_index("day")
    frame = pd.DataFrame(rows).pivot_table(
        index="day", columns="variant", values="count", aggfunc="sum", fill_value=0
    )
    frame.columns.name = None
    return frame.astype(int)


def dot(lineage: Lineage, max_per_kind: int = 8) -> str:
    """The graph in Graphviz DOT, left to right; more than `max_per_kind` of a kind are folded."""
    shown: dict[str, str] = {}
    lines = ["digraph lineage {", "  rankdir=LR;", "  node [shape=box, fontsize=10];"]
    for kind, title, _ in SECTIONS:
        nodes = lineage.of_kind(kind)
        for node in nodes[:max_per_kind]:
            name = f"n{len(shown)}"
            shown[node.id] = name
            root = kind == "model_version"
            text = f"{lineage.model} v{lineage.version}" if root else _short(node)
            lines.append(f'  {name} [label="{_escape(text)}"];')
        if len(nodes) > max_per_kind:
            name = f"more_{kind}"
            lines.append(f'  {name} [label="+{len(nodes) - max_per_kind} more {title.lower()}"];')
            for node in nodes[max_per_kind:]:
                shown[node.id] = name
    edges = {
        (shown[e.source], shown[e.target], e.relation)
        for e in lineage.edges
        if e.source in shown and e.target in shown
    }
    for source, target, relation in sorted(edges):
        lines.append(f'  {source} -> {target} [label="{_escape(relation)}", fontsize=8];')
    return "\n".join([*lines, "}"])


def _short(node: Node) -> str:
    """A node's name in the graph: its kind and the first words of its label."""
    words = node.label.split()
    return f"{node.kind}\\n{' '.join(words[:2])[:40]}"


def _escape(text: str) -> str:
    return text.replace('"', '\\"')
