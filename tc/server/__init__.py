"""The controller: gRPC servicers, store, reconciler, supervisor, wired in tc.server.app."""
