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

    def degree(self, entity_id: str) -> int:
        return int(self.g.degree(entity_id))

    def search(self, query: str, limit: int) -> list[Entity]:
        """Entities by name or alias: the same key, then a key that starts with the query's,
        then one that contains it, then a description that does; ties by degree. An empty
        query gives the most connected entities."""
        ents = list(self.entities.values())
        if not query.strip():
            return sorted(ents, key=lambda e: (-self.degree(e.id), e.name))[:limit]
        key = name_key(query)
        scored: list[tuple[int, int, str, Entity]] = []
        for e in ents:
            keys = [name_key(n) for n in (e.name, *e.aliases)]
            if key in keys:
                rank = 0
            elif any(k.startswith(key) for k in keys):
                rank = 1
            elif any(key in k for k in keys):
                rank = 2
            elif key in name_key(e.description):
                rank = 3
            else:
                continue
            scored.append((rank, -self.degree(e.id), e.name, e))
        scored.sort(key=lambda t: t[:3])
        return [t[3] for t in scored[:limit]]

    def neighbourhood(
        self, seeds: list[str], depth: int, limit: int
    ) -> tuple[list[Entity], list[Relation]]:
        """The seeds and their neighbours out to `depth` hops (strongest relations first, at
        most `limit` entities), with every relation among them, in id order."""
        keep = [s for s in dict.fromkeys(seeds) if s in self.entities][:limit]
        seen, frontier = set(keep), list(keep)
        for _ in range(depth):
            nxt: list[str] = []
            for node in frontier:
                nbrs = sorted(
                    self.g[node].items(), key=lambda kv: (-kv[1].get("weight", 1.0), kv[0])
                )
                for nbr, _ in nbrs:
                    if nbr not in seen and len(seen) < limit:
                        seen.add(nbr)
                        keep.append(nbr)
                        nxt.append(nbr)
            frontier = nxt
        rel_ids = sorted(data["id"] for _, _, data in self.g.subgraph(keep).edges(data=True))
        return [self.entities[n] for n in keep], [self.relations[r] for r in rel_ids]

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
