"""KnowledgeGraph: the resolved graph loaded into NetworkX for lookups, stats and export."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import networkx as nx

from graph.names import name_key
from graph.ports import GraphStore
from graph.types import Community, Entity, Relation


class KnowledgeGraph:
    def __init__(
        self, entities: list[Entity], relations: list[Relation], communities: list[Community]
    ):
        self.entities = {e.id: e for e in entities}
        self.relations = {r.id: r for r in relations}
        self.communities = communities
        self.g = nx.Graph()
        for e in entities:
            self.g.add_node(e.id, name=e.name, type=e.type)
        for r in relations:
            self.g.add_edge(r.source, r.target, id=r.id, weight=r.weight)
        self._by_key: dict[str, str] = {}
        for e in sorted(entities, key=lambda e: e.id):
            for n in (e.name, *e.aliases):
                self._by_key.setdefault(name_key(n), e.id)

    @classmethod
    def load(cls, store: GraphStore) -> KnowledgeGraph:
        with store.reading():  # entities, relations and communities of one generation
            return cls(store.entities(), store.relations(), store.communities())

    def find(self, name: str) -> Entity | None:
        """By id, name or alias (normalised: case, width, 繁/简 and hyphens ignored)."""
        if name in self.entities:
            return self.entities[name]
        eid = self._by_key.get(name_key(name))
        return self.entities[eid] if eid else None

    def relations_of(self, entity_id: str) -> list[tuple[Relation, Entity]]:
        out = []
        for nbr in self.g.neighbors(entity_id):
            rel = self.relations[self.g.edges[entity_id, nbr]["id"]]
            out.append((rel, self.entities[nbr]))
        return sorted(out, key=lambda x: (-x[0].weight, x[1].name))

    def stats(self) -> dict[str, int]:
        return {
            "entities": self.g.number_of_nodes(),
            "relations": self.g.number_of_edges(),
            "communities": len(self.communities),
            "community_levels": len({c.level for c in self.communities}),
        }

    def export(self, path: Path, fmt: str) -> None:
        if fmt == "graphml":
            g = nx.Graph()
            for e in self.entities.values():
                g.add_node(e.id, name=e.name, type=e.type, description=e.description,
                           aliases="|".join(e.aliases), chunks="|".join(e.chunk_ids))  # fmt: skip
            for r in self.relations.values():
                g.add_edge(r.source, r.target, description=r.description, weight=r.weight,
                           keywords="|".join(r.keywords), chunks="|".join(r.chunk_ids))  # fmt: skip
            nx.write_graphml(g, path)
        elif fmt == "json":
            data: dict[str, Any] = {
                "entities": [asdict(e) for e in self.entities.values()],
                "relations": [asdict(r) for r in self.relations.values()],
                "communities": [asdict(c) for c in self.communities],
            }
            path.write_text(json.dumps(data, ensure_ascii=False, indent=1), "utf-8")
        else:
            raise ValueError(f"unknown export format {fmt!r} (graphml or json)")
