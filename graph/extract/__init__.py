"""Extractors turn chunks into entity and relation mentions, behind one protocol."""
