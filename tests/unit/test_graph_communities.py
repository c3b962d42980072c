"""Communities: the reports' relations, and the bound on what Louvain groups."""

from __future__ import annotations

import pytest

from graph import communities
from graph.communities import build_communities, build_nx
from graph.types import Entity, Relation


def _entity(name: str) -> Entity:
    return Entity(f"e-{name}", name, "concept", f"about {name}", (), ("c1",))


def _rel(a: str, b: str, weight: float) -> Relation:
    return Relation(f"r-{a}-{b}", f"e-{a}", f"e-{b}", f"{a} with {b}", (), weight, ("c1",))


# two triangles joined by one light edge: two communities of three
ENTITIES = [_entity(n) for n in "abcxyz"]
RELATIONS = [_rel("a", "b", 3), _rel("b", "c", 3), _rel("a", "c", 3),
             _rel("x", "y", 2), _rel("y", "z", 2), _rel("x", "z", 2), _rel("c", "x", 0.5)]  # fmt: skip


def test_each_report_is_built_from_its_own_relations() -> None:
    found, fresh = build_communities(ENTITIES, RELATIONS, lambda ids: {})
    level0 = sorted((c for c in found if c.level == 0), key=lambda c: c.entity_ids)
    assert [c.entity_ids for c in level0] == [("e-a", "e-b", "e-c"), ("e-x", "e-y", "e-z")]
    abc, xyz = level0
    assert "a with b" in abc.summary and "x with y" not in abc.summary
    assert "x with y" in xyz.summary and "c with x" not in xyz.summary  # crosses: in neither
    assert set(fresh) == {c.id for c in found}


def test_over_the_bound_louvain_groups_the_heaviest_relations_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(communities, "COMMUNITY_EDGES", 3)
    g = build_nx(ENTITIES, RELATIONS)
    assert sorted(g.edges) == [("e-a", "e-b"), ("e-a", "e-c"), ("e-b", "e-c")]
    assert sorted(g.nodes) == ["e-a", "e-b", "e-c"]  # entities of no kept edge stay out
    found, _ = build_communities(ENTITIES, RELATIONS, lambda ids: {})
    assert [c.entity_ids for c in found if c.level == 0] == [("e-a", "e-b", "e-c")]
    monkeypatch.setattr(communities, "COMMUNITY_EDGES", 250_000)
    assert build_nx(ENTITIES, RELATIONS).number_of_edges() == len(RELATIONS)
