"""Syntax rules for the names and addresses an intent carries.

Each rule answers with the problem as a message, or None when the value is fine, so
callers attach the message to their own field path and carry on collecting errors. The
common valid case is one precompiled regular expression; the reason is worked out only
for values that fail it, which keeps validation cheap on the ApplyIntent hot path.

DNS names are lower case without a trailing dot, as in Kubernetes and the Gateway API:
one spelling per name keeps the stored bytes canonical and avoids "example.com" and
"example.com." meaning two different things in different plugins.
"""

from __future__ import annotations

import ipaddress
import re

MAX_NAME = 253
MAX_LABEL = 63

# Kubernetes' DNS-1123 rules, to the letter: intent names end up as object names.
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS1123_LABEL_MESSAGE = (
    "must be a DNS-1123 label: lower-case letters, digits and '-', "
    "starting and ending with a letter or digit"
)
DNS1123_SUBDOMAIN_MESSAGE = (
    "must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', "
    "starting and ending with a letter or digit"
)

_HOST_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_OWNER_LABEL = r"[a-z0-9_](?:[-a-z0-9_]{0,61}[a-z0-9_])?"
_HOST_LABEL_RE = re.compile(_HOST_LABEL)
_OWNER_LABEL_RE = re.compile(_OWNER_LABEL)


def _name_pattern(qualified: bool, wildcard: bool, owner: bool) -> re.Pattern[str]:
    label = _OWNER_LABEL if owner else _HOST_LABEL
    star = r"(?:\*\.)?" if wildcard else ""
    return re.compile(rf"{star}{label}(?:\.{label}){'+' if qualified else '*'}")


# Fast paths only: each accepts a subset of what _domain_reason accepts (the length and
# the all-digit last label are checked beside it), so the reason is worked out for failures.
_NAME_PATTERNS = {
    (q, w, o): _name_pattern(q, w, o)
    for q in (False, True)
    for w in (False, True)
    for o in (False, True)
}

# Kubernetes label syntax (k8s.io/apimachinery validation.IsQualifiedName / IsValidLabelValue).
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
LABEL_CHARS_MESSAGE = (
    "consist of letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
)

_IPV4ISH = re.compile(r"[0-9.]+")
# Exactly the dotted quads ipaddress accepts (no leading zeros), at a tenth of its cost.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_HEADER_NAME = re.compile(r"[-!#$%&'*+.^_`|~0-9a-z]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def dns1123_label_problem(value: str) -> str | None:
    """A DNS-1123 label (port names, subsets, namespaces): at most 63 characters."""
    if len(value) <= MAX_LABEL and _DNS1123_LABEL.fullmatch(value):
        return None
    if not value:
        return "required"
    if len(value) > MAX_LABEL:
        return f"must be at most {MAX_LABEL} characters"
    return DNS1123_LABEL_MESSAGE


def dns1123_subdomain_problem(value: str) -> str | None:
    """A DNS-1123 subdomain (intent and object names): at most 253 characters."""
    if len(value) <= MAX_NAME and _DNS1123_SUBDOMAIN.fullmatch(value):
        return None
    if not value:
        return "required"
    if len(value) > MAX_NAME:
        return f"must be at most {MAX_NAME} characters"
    return DNS1123_SUBDOMAIN_MESSAGE


def domain_problem(
    value: str, *, min_labels: int = 1, wildcard: bool = False, owner: bool = False
) -> str | None:
    """A DNS name made of labels of lower-case letters, digits and '-'.

    `min_labels=2` makes it fully qualified; `wildcard` allows "*" as the whole first
    label (not counted as a label). A host name's last label may not be all digits, so
    an IPv4 address or a mistyped one ("10.0.0.300") is never taken for a name. `owner`
    relaxes both for DNS owner names and record targets, which may hold '_' ("_sip._tcp")
    and end in digits (reverse zones).
    """
    pattern = _NAME_PATTERNS[(min_labels >= 2, wildcard, owner)]
    if (
        len(value) <= MAX_NAME
        and pattern.fullmatch(value)
        and (owner or not value.rpartition(".")[2].isdigit())
    ):
        return None
    return _domain_reason(value, min_labels=min_labels, wildcard=wildcard, owner=owner)


def _domain_reason(value: str, *, min_labels: int, wildcard: bool, owner: bool) -> str | None:
    if not value:
        return "required"
    if value.endswith("."):
        return "must not end with '.'"
    if len(value) > MAX_NAME:
        return f"must be at most {MAX_NAME} characters"
    if value != value.lower():
        return "must be lower case"
    labels = value.split(".")
    if wildcard and labels[0] == "*":
        labels = labels[1:]
    label_re = _OWNER_LABEL_RE if owner else _HOST_LABEL_RE
    allowed = (
        "lower-case letters, digits, '-' and '_'" if owner else "lower-case letters, digits and '-'"
    )
    for label in labels:
        if not label:
            return "must not have empty labels"
        if "*" in label:
            return (
                "'*' is only allowed as the whole first label, e.g. *.example.com"
                if wildcard
                else "must not contain '*'"
            )
        if len(label) > MAX_LABEL:
            return f'label "{label}" must be at most {MAX_LABEL} characters'
        if not label_re.fullmatch(label):
            return (
                f'label "{label}" must consist of {allowed}, starting and ending with a letter '
                "or digit"
            )
    if not labels:
        return "a wildcard needs a domain after it, e.g. *.example.com"
    if len(labels) < min_labels:
        return (
            "must be a fully qualified domain name with at least two labels, e.g. api.example.com"
        )
    if not owner and labels[-1].isdigit():
        return "the last label must not be all digits"
    return None


def fqdn_problem(value: str, *, wildcard: bool = False) -> str | None:
    """A fully qualified host name such as api.example.com (hosts, zones, gateway hosts)."""
    return domain_problem(value, min_labels=2, wildcard=wildcard)


def ip_problem(value: str, version: int) -> str | None:
    """An IPv4 (version 4) or IPv6 (version 6) address, without an IPv6 zone index."""
    if version == 4 and _IPV4.fullmatch(value):
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        address = None
    if address is None or address.version != version or "%" in value:
        return f"must be an IPv{version} address"
    return None


def address_problem(value: str) -> str | None:
    """An endpoint address: an IPv4 or IPv6 address or a host name."""
    if _IPV4.fullmatch(value):
        return None
    if not value:
        return "required"
    if ":" in value or _IPV4ISH.fullmatch(value):
        try:
            ipaddress.ip_address(value)
        except ValueError:
            pass
        else:
            # A zone index ("fe80::1%eth0") only means something on one machine.
            if "%" not in value:
                return None
    elif domain_problem(value) is None:
        return None
    return "must be an IPv4 or IPv6 address or a lower-case host name"


def label_key_problem(key: str) -> str | None:
    """A Kubernetes label key: an optional DNS-1123 subdomain prefix and '/', then a name."""
    if len(key) <= MAX_LABEL and _QUALIFIED_NAME.fullmatch(key):
        return None
    if not key:
        return "key must not be empty"
    prefix, slash, name = key.rpartition("/")
    if slash:
        if "/" in prefix:
            return "key must contain at most one '/'"
        if not prefix:
            return "key prefix before '/' must not be empty"
        problem = dns1123_subdomain_problem(prefix)
        if problem is not None:
            return f"key prefix {problem}"
    if not name:
        return "key name must not be empty"
    if len(name) > MAX_LABEL:
        return f"key name must be at most {MAX_LABEL} characters"
    if not _QUALIFIED_NAME.fullmatch(name):
        return f"key name must {LABEL_CHARS_MESSAGE}"
    return None


def label_value_problem(value: str) -> str | None:
    """A Kubernetes label value: empty, or up to 63 characters of the label alphabet."""
    if not value or (len(value) <= MAX_LABEL and _QUALIFIED_NAME.fullmatch(value)):
        return None
    if len(value) > MAX_LABEL:
        return f"must be at most {MAX_LABEL} characters"
    return f"must {LABEL_CHARS_MESSAGE}"


def header_name_problem(name: str) -> str | None:
    """An HTTP header name: RFC 9110 token characters, lower case as HTTP/2 sends them."""
    if _HEADER_NAME.fullmatch(name):
        return None
    if not name:
        return "required"
    if _HEADER_NAME.fullmatch(name.lower()):
        return "must be lower case"
    return "must be an HTTP header name: letters, digits and !#$%&'*+-.^_`|~"


def header_value_problem(value: str) -> str | None:
    """Header values cannot hold line breaks or other control characters (tab is fine)."""
    if _CONTROL.search(value):
        return "must not contain control characters"
    return None
