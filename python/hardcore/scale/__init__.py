"""Compiling large models: independent per-layer work on several processes or a cluster (`parallel`)."""
