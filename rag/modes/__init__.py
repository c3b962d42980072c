"""Answering modes: what goes into the prompt for plain RAG, Graph RAG and KAG."""
