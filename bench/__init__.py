"""Speed benchmarks for the serving path (query encoding, vector search, cold start)."""
