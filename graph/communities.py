"""Hierarchical communities (Louvain, seeded) and their reports.

Louvain's successive partitions give the levels: 0 is the finest, the last the coarsest. A
community's id hashes its level and members, so an unchanged community keeps its id — and its
cached report — across rebuilds; only communities whose membership changed get a new report.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence

import networkx as nx

from graph.types import Community, Entity, Relation, RelationTable
from ingest.hashing import content_id

MIN_SIZE = 3
MAX_LEVELS = 3
SEED = 42
REPORT_CHARS = 900
REPORT_RELATIONS = 6  # the heaviest internal relations a report quotes

Summarise = Callable[[str, str], str]  # (title, extractive report) -> summary
REPORT_VECTOR_CHARS = 200
# The most relations Louvain groups (see `build_nx`). The demo corpus has about 700, a 5 MB
# text file 40k; 250k edges over 60k nodes take NetworkX 68 MB (measured), Louvain more.
COMMUNITY_EDGES = 250_000


def report_vector_text(c: Community) -> str | None:
    """What global search embeds of a report: the head of the coarser levels' reports only.

    Embedding every level-0 report of a 2k-passage corpus cost more than embedding the
    passages themselves; the head (title and members) is what the question is matched on.
    """
    return c.summary[:REPORT_VECTOR_CHARS] if c.level >= 1 else None


def build_nx(entities: Sequence[Entity], relations: RelationTable) -> nx.Graph:
    """Nodes and edges inserted in sorted order: Louvain's result depends on it.

    Over COMMUNITY_EDGES relations, only the heaviest COMMUNITY_EDGES (ties by id) and the
    entities they join go in: NetworkX holds about 300 bytes an edge and Louvain copies
    the graph at each level, so a graph of millions of co-occurrences would need gigabytes to
    be grouped. Every relation is still stored and searched; only the grouping is bounded.
    The relations are walked once, keeping only the ends and weights of the edges kept."""
    if len(relations) > COMMUNITY_EDGES:
        heaviest = heapq.nsmallest(
            COMMUNITY_EDGES, ((-r.weight, r.id, r.source, r.target) for r in relations)
        )
        edges = sorted((rid, s, t, -w) for w, rid, s, t in heaviest)
        del heaviest
        nodes = sorted({n for _, s, t, _ in edges for n in (s, t)})
    else:
        edges = sorted((r.id, r.source, r.target, r.weight) for r in relations)
        nodes = sorted(e.id for e in entities)
    g = nx.Graph()
    for node in nodes:
        g.add_node(node)
    for _, source, target, weight in edges:
        g.add_edge(source, target, weight=weight)
    return g


def detect_levels(g: nx.Graph, seed: int = SEED) -> list[list[frozenset[str]]]:
    if g.number_of_edges() == 0:
        return []
    levels = [
        [frozenset(c) for c in partition]
        for partition in nx.community.louvain_partitions(g, weight="weight", seed=seed)
    ]
    if len(levels) > MAX_LEVELS:  # keep the finest, a middle one, and the coarsest
        levels = [levels[0], levels[len(levels) // 2], levels[-1]]
    return levels


def extractive_report(
    members: Sequence[Entity], internal: Sequence[Relation], g: nx.Graph
) -> tuple[str, str]:
    ranked = sorted(members, key=lambda e: (-g.degree(e.id, weight="weight"), e.name))
    title = ", ".join(e.name for e in ranked[:3])
    parts = [f"{title}. Members: " + ", ".join(e.name for e in ranked[:12]) + "."]
    for r in sorted(internal, key=_heaviest)[:REPORT_RELATIONS]:
        parts.append(r.description)
    text = " ".join(dict.fromkeys(p for p in parts if p))
    return title, text[:REPORT_CHARS]


def build_communities(
    entities: Sequence[Entity],
    relations: RelationTable,
    cached: Callable[[list[str]], dict[str, str]],
    summarise: Summarise | None = None,
) -> tuple[list[Community], dict[str, tuple[str, str]]]:
    """Communities with reports; returns them and the reports that are new (to cache)."""
    g = build_nx(entities, relations)
    by_id = {e.id: e for e in entities}
    levels = detect_levels(g)
    drafts: list[tuple[str, int, frozenset[str]]] = []
    for level, partition in enumerate(levels):
        for members in partition:
            if len(members) >= MIN_SIZE:
                drafts.append(
                    (content_id("community", str(level), *sorted(members)), level, members)
                )
    known = cached([cid for cid, _, _ in drafts])
    internal = _internal_relations(drafts, relations)
    fresh: dict[str, tuple[str, str]] = {}
    out: list[Community] = []
    for cid, level, members in drafts:
        ents = [by_id[m] for m in members]
        title, report = extractive_report(ents, internal.get(cid, []), g)
        if cid in known:
            report = known[cid]
        elif summarise is not None:
            report = summarise(title, report)
            fresh[cid] = (report, "llm")
        else:
            fresh[cid] = (report, "extractive")
        parent = _parent(members, level, drafts)
        out.append(Community(cid, level, tuple(sorted(members)), title, report, parent))
    return out, fresh


def _heaviest(r: Relation) -> tuple[float, str]:
    return -r.weight, r.id


def _internal_relations(
    drafts: list[tuple[str, int, frozenset[str]]], relations: RelationTable
) -> dict[str, list[Relation]]:
    """Each draft's heaviest REPORT_RELATIONS relations with both ends inside it (all a
    report quotes), in one walk of the relations for every level: a community of a large
    graph has more internal relations than memory should hold."""
    homes = [
        {m: cid for cid, lv, members in drafts if lv == level for m in members}
        for level in sorted({lv for _, lv, _ in drafts})
    ]
    out: dict[str, list[Relation]] = {}
    for r in relations:
        for home in homes:
            cid = home.get(r.source)
            if cid is not None and home.get(r.target) == cid:
                kept = out.setdefault(cid, [])
                kept.append(r)
                if len(kept) > 4 * REPORT_RELATIONS:
                    kept.sort(key=_heaviest)
                    del kept[REPORT_RELATIONS:]
    return out


def _parent(
    members: frozenset[str], level: int, drafts: list[tuple[str, int, frozenset[str]]]
) -> str | None:
    for cid, lv, other in drafts:
        if lv == level + 1 and members <= other:
            return cid
    return None
