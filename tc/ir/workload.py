"""The workload intent: adjustments to the traffic of an existing service, and their rules.

Mirrors tc.v1.WorkloadSpec: a weighted split across subsets, a mirror, header routes for
A/B tests, and endpoints to drain. Whether the target service and its subsets exist is a
question about two intents, answered where both are known (the controller), not here.
"""

from __future__ import annotations

import re
import warnings

from tc.ir.base import EMPTY_WHEN_SET, IRModel, at, duplicate_message
from tc.ir.errors import FieldError
from tc.ir.limits import optional_port_problem
from tc.ir.syntax import (
    address_problem,
    dns1123_label_problem,
    dns1123_subdomain_problem,
    header_name_problem,
    header_value_problem,
)

# Bounds the work of compiling a client's pattern; real header patterns are short.
MAX_REGEX_LENGTH = 1024
EXACTLY_ONE_MATCH = "set exactly one of exact, prefix, regex"


def regex_problem(pattern: str) -> str | None:
    """A pattern Python's re compiles.

    Envoy and Istio compile header patterns with RE2, which also refuses look-around and
    backreferences; those still pass here and fail in the data plane.
    """
    if len(pattern) > MAX_REGEX_LENGTH:
        return f"must be at most {MAX_REGEX_LENGTH} characters"
    try:
        # Ambiguities re only warns about (nested sets) are not worth a log line per request.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            re.compile(pattern)
    except re.error as exc:
        return f"is not a valid regular expression: {exc}"
    except (RecursionError, OverflowError, ValueError):
        return "is not a valid regular expression"
    return None


class TrafficSplit(IRModel):
    """A share of the target's traffic sent to one subset."""

    subset: str
    weight: int
    """0..100; the weights of a workload add up to 100."""

    def check(self, path: str, out: list[FieldError]) -> None:
        problem = dns1123_label_problem(self.subset)
        if problem is not None:
            out.append(FieldError(at(path, "subset"), problem))
        if not 0 <= self.weight <= 100:
            out.append(FieldError(at(path, "weight"), "must be 0..100"))


class Mirror(IRModel):
    """A share of the target's traffic copied to a subset; the copies' answers are dropped."""

    subset: str
    percent: float = 0.0
    """0..100."""

    def check(self, path: str, out: list[FieldError]) -> None:
        problem = dns1123_label_problem(self.subset)
        if problem is not None:
            out.append(FieldError(at(path, "subset"), problem))
        if not 0 <= self.percent <= 100:  # also refuses NaN
            out.append(FieldError(at(path, "percent"), "must be 0..100"))


class HeaderMatch(IRModel):
    """One request header to match; exactly one of exact, prefix, regex is set."""

    name: str
    """Lower case, as HTTP/2 sends it."""
    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None
    """Python re syntax, which the common subset with RE2 (Envoy) is written in."""

    def check(self, path: str, out: list[FieldError]) -> None:
        problem = header_name_problem(self.name)
        if problem is not None:
            out.append(FieldError(at(path, "name"), problem))
        matches = [
            (field, value)
            for field, value in (
                ("exact", self.exact),
                ("prefix", self.prefix),
                ("regex", self.regex),
            )
            if value is not None
        ]
        if len(matches) != 1:
            out.append(FieldError(path, EXACTLY_ONE_MATCH))
            return
        field, value = matches[0]
        if not value:  # the wire cannot tell an empty string from unset
            problem = EMPTY_WHEN_SET
        elif field == "regex":
            problem = regex_problem(value)
        else:
            problem = header_value_problem(value)
        if problem is not None:
            out.append(FieldError(at(path, field), problem))


class HeaderRoute(IRModel):
    """Requests matching every header go to one subset."""

    headers: tuple[HeaderMatch, ...]
    subset: str

    def check(self, path: str, out: list[FieldError]) -> None:
        if not self.headers:
            out.append(FieldError(at(path, "headers"), "at least one header is required"))
        seen: dict[str, int] = {}
        for i, header in enumerate(self.headers):
            where = at(path, f"headers[{i}]")
            before = len(out)
            header.check(where, out)
            first = seen.setdefault(header.name, i)
            if first != i and all(e.path != f"{where}.name" for e in out[before:]):
                out.append(
                    FieldError(f"{where}.name", duplicate_message(header.name, f"headers[{first}]"))
                )
        problem = dns1123_label_problem(self.subset)
        if problem is not None:
            out.append(FieldError(at(path, "subset"), problem))


class EndpointRef(IRModel):
    """One endpoint of the target service."""

    address: str
    port: int | None = None
    """None: every port of the address."""

    def check(self, path: str, out: list[FieldError]) -> None:
        problem = address_problem(self.address)
        if problem is not None:
            out.append(FieldError(at(path, "address"), problem))
        problem = optional_port_problem(self.port)
        if problem is not None:
            out.append(FieldError(at(path, "port"), problem))


class WorkloadSpec(IRModel):
    """Adjustments to the traffic of the service intent named by `target`."""

    target: str
    split: tuple[TrafficSplit, ...] = ()
    """Empty: the service's default routing."""
    mirror: Mirror | None = None
    header_routes: tuple[HeaderRoute, ...] = ()
    drain: tuple[EndpointRef, ...] = ()
    """Endpoints taken out of new traffic while their connections finish."""

    def check(self, path: str, out: list[FieldError]) -> None:
        problem = dns1123_subdomain_problem(self.target)
        if problem is not None:
            out.append(FieldError(at(path, "target"), problem))
        self._check_split(path, out)
        if self.mirror is not None:
            self.mirror.check(at(path, "mirror"), out)
        for i, route in enumerate(self.header_routes):
            route.check(at(path, f"header_routes[{i}]"), out)
        seen: dict[tuple[str, int | None], int] = {}
        for i, ref in enumerate(self.drain):
            where = at(path, f"drain[{i}]")
            before = len(out)
            ref.check(where, out)
            if len(out) > before:
                continue  # only otherwise valid entries can be duplicates worth reporting
            first = seen.setdefault((ref.address, ref.port), i)
            if first != i:
                out.append(FieldError(where, f"already listed as drain[{first}]"))

    def _check_split(self, path: str, out: list[FieldError]) -> None:
        seen: dict[str, int] = {}
        weights_valid = True
        for i, share in enumerate(self.split):
            where = at(path, f"split[{i}]")
            before = len(out)
            share.check(where, out)
            reported = {e.path for e in out[before:]}
            weights_valid = weights_valid and f"{where}.weight" not in reported
            first = seen.setdefault(share.subset, i)
            if first != i and f"{where}.subset" not in reported:
                out.append(
                    FieldError(
                        f"{where}.subset", duplicate_message(share.subset, f"split[{first}]")
                    )
                )
        total = sum(share.weight for share in self.split)
        # Out-of-range weights are already reported; their sum would only repeat them.
        if self.split and weights_valid and total != 100:
            out.append(FieldError(at(path, "split"), f"weights must add up to 100, not {total}"))
