"""The istio plugin: Istio networking and security objects from service and workload intents.

render.py is the pure half (IR in, plain dicts out, every broken rule collected as a
FieldError); the plugin process and its sinks (a Kubernetes API server, a GitOps
directory) are the I/O half and live beside it. Keeping them apart is what lets golden
files pin the output and a future dry-run `Plan` reuse the renderer unchanged.
"""
