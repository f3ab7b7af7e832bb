"""traffic-controller: a gRPC control plane from traffic intents to Istio, Envoy xDS and DNS."""

__version__ = "0.1.0"
