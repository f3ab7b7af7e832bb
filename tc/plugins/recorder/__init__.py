"""The recorder plugin: holds every intent it is given and, optionally, journals each change.

It is the smallest real plugin: it exercises the whole controller contract (Describe, batched
Apply, Remove, Sync with pruning, GetState) without owning infrastructure, which makes it the
plugin the end-to-end tests and benchmarks run against, and an audit log for operators.
"""
