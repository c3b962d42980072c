"""The knowledge graph: extraction, entity resolution, communities, persistence, graph search.

Built from the chunks `ingest` stores; everything it keeps is keyed by content hashes and
linked back to the chunks it came from.
"""
