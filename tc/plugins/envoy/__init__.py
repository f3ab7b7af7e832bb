"""The envoy plugin: an xDS v3 control plane that Envoy proxies follow over ADS.

Rendering (render.py and the per-resource modules beside it) is pure, turning intents into
Envoy API messages, so golden files can pin it and every plugin instance given the same
intents serves byte-identical resources; the cache and the gRPC server are separate.
"""
