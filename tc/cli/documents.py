"""Reading intent files for `tcctl apply`: YAML or JSON, many documents, friendly enums.

Everything here is pure apart from reading the named file, so the many shapes people write
(multi-document YAML, a JSON array, an `items` list, `HTTP` for `PROTOCOL_HTTP`) are tested
without a controller, and a typo is reported with the file and document before any request
is sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, cast

import yaml
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from tc._proto.tc.v1 import intent_pb2
from tc.cli import enums

STDIN = "-"
STDIN_NAME = "<stdin>"

# The stubs type DESCRIPTOR as a union of the pure-Python and upb classes; at run time it
# is whichever backend is loaded, and both have the same interface.
_INTENT = cast(Descriptor, intent_pb2.Intent.DESCRIPTOR)

# Keys a kubectl-style List may carry beside `items`; anything else is likely a mistake.
_LIST_KEYS = frozenset({"items", "kind", "apiVersion", "metadata"})


class _IntentLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings.

    protojson wants RFC 3339 strings for google.protobuf.Timestamp, so the datetime objects
    PyYAML would make of `createTime: 2024-05-01T10:00:00Z` (from `tcctl get -o yaml`) would
    only fail to parse.
    """


_IntentLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class DocumentError(Exception):
    """One document (or whole file) that cannot become an Intent; says where and why.

    `location` is empty while the problem is found inside one document (to_intent); the
    caller that knows the file and document index re-raises it with the location.
    """

    def __init__(self, location: str, problem: str) -> None:
        super().__init__(f"{location}: {problem}" if location else problem)
        self.location = location
        self.problem = problem


class DocumentErrors(Exception):
    """Every problem found in the input, so the user fixes them all in one go."""

    def __init__(self, errors: Sequence[DocumentError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = list(errors)


@dataclass(frozen=True)
class Document:
    """One intent read from a file, with where it came from for messages."""

    location: str
    intent: intent_pb2.Intent


def load_documents(paths: Sequence[str], stdin: TextIO) -> list[Document]:
    """Every intent in `paths` (`-` is stdin), in order; raises DocumentErrors on any problem."""
    documents: list[Document] = []
    errors: list[DocumentError] = []
    for path in paths:
        try:
            name, text = read_source(path, stdin)
        except DocumentError as error:
            errors.append(error)
            continue
        file_documents, file_errors = parse_text(text, name, syntax=syntax_of(path))
        documents.extend(file_documents)
        errors.extend(file_errors)
    if errors:
        raise DocumentErrors(errors)
    return documents


def syntax_of(path: str) -> str | None:
    """`json` or `yaml` by file extension; None (stdin, other names) means look at the text."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    return None


def read_source(path: str, stdin: TextIO) -> tuple[str, str]:
    """(name for messages, text) of a file or of stdin."""
    if path == STDIN:
        try:
            return STDIN_NAME, stdin.read()
        except (OSError, UnicodeDecodeError) as error:
            raise DocumentError(STDIN_NAME, f"cannot read: {error}") from None
    try:
        # utf-8-sig: editors on Windows save a byte order mark that YAML and JSON reject.
        return path, Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise DocumentError(path, f"cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise DocumentError(path, f"not UTF-8 text: {error.reason}") from None


def parse_text(
    text: str, source: str, *, syntax: str | None = None
) -> tuple[list[Document], list[DocumentError]]:
    """The intents in one file's text, and the problems of the documents that are not.

    `syntax` is `json`, `yaml`, or None to take text starting with `{` or `[` for JSON.
    """
    documents: list[Document] = []
    errors: list[DocumentError] = []
    try:
        raw = list(_raw_documents(text, source, syntax=syntax))
    except DocumentError as error:
        return [], [error]
    for location, value in raw:
        for item_location, item in _expand(location, value):
            if isinstance(item, _Invalid):
                errors.append(DocumentError(item_location, item.problem))
                continue
            try:
                documents.append(Document(item_location, to_intent(item)))
            except DocumentError as error:
                errors.append(DocumentError(item_location, error.problem))
    return documents, errors


def to_intent(value: object) -> intent_pb2.Intent:
    """An Intent from one protojson document, after expanding short enum names."""
    if not isinstance(value, Mapping):
        raise DocumentError("", f"expected an intent (a mapping), got {_type_name(value)}")
    normalized = normalize_enums(value, _INTENT)
    intent = intent_pb2.Intent()
    try:
        json_format.ParseDict(normalized, intent)
    except json_format.ParseError as error:
        raise DocumentError("", _parse_error_text(error)) from None
    except (TypeError, ValueError, AttributeError) as error:
        # ParseDict wraps most bad values, but not every shape YAML can produce.
        raise DocumentError("", f"invalid intent: {error}") from None
    return intent


def normalize_enums(
    data: Mapping[Any, Any], descriptor: Descriptor, path: str = ""
) -> dict[Any, Any]:
    """A copy of `data` with every enum value in the full proto form ParseDict accepts.

    Walks the message descriptor, so every enum field of every message is covered. Keys
    that are not fields are left for ParseDict to report with its list of valid fields.
    """
    fields: dict[str, FieldDescriptor] = {}
    for each in descriptor.fields:
        fields[each.name] = each
        fields[each.json_name] = each
    normalized: dict[Any, Any] = {}
    for key, value in data.items():
        field = fields.get(key) if isinstance(key, str) else None
        field_path = f"{path}.{key}" if path else str(key)
        normalized[key] = value if field is None else _normalize_field(field, value, field_path)
    return normalized


def _normalize_field(field: FieldDescriptor, value: Any, path: str) -> Any:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        if not isinstance(value, Mapping):
            return value
        value_field = message.fields_by_name["value"]
        return {k: _normalize_value(value_field, v, f"{path}[{k!r}]") for k, v in value.items()}
    if field.is_repeated:
        if not isinstance(value, list):
            return value
        return [_normalize_value(field, v, f"{path}[{i}]") for i, v in enumerate(value)]
    return _normalize_value(field, value, path)


def _normalize_value(field: FieldDescriptor, value: Any, path: str) -> Any:
    enum = field.enum_type
    if enum is not None and isinstance(value, str) and not _is_well_known(enum.full_name):
        name = enums.full_name(enum, value)
        if name is None:
            allowed = ", ".join(enums.short_names(enum))
            raise DocumentError(
                "", f"invalid {field.name} {value!r} at {path}: expected one of {allowed}"
            )
        return name
    message = field.message_type
    if message is not None and not _is_well_known(message.full_name):
        if isinstance(value, Mapping):
            return normalize_enums(value, message, path)
        # ParseDict would iterate a string's characters as field names: a baffling error.
        if value is not None:
            raise DocumentError("", f"{path}: expected a mapping, got {_type_name(value)}")
    return value


def _is_well_known(full_name: str) -> bool:
    # Well-known types have their own JSON forms (Struct is free-form, Duration a string).
    return full_name.startswith("google.protobuf.")


def _raw_documents(text: str, source: str, *, syntax: str | None) -> Iterator[tuple[str, Any]]:
    """(location, value) of each top-level document, before `items` and arrays are expanded."""
    json_error: DocumentError | None = None
    if syntax == "json" or (syntax is None and text.lstrip().startswith(("{", "["))):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            json_error = DocumentError(
                source, f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
            )
            if syntax == "json":
                raise json_error from None
        else:
            if isinstance(value, list):
                for index, item in enumerate(value, start=1):
                    yield f"{source} document {index}", item
            else:
                yield f"{source} document 1", value
            return
    # YAML flow style also starts with a brace, so text that is not JSON gets a second chance.
    index = 0
    try:
        for index, value in enumerate(yaml.load_all(text, Loader=_IntentLoader), start=1):
            if value is None:
                continue  # an empty document, e.g. after a trailing `---`
            yield f"{source} document {index}", value
    except yaml.YAMLError as error:
        if json_error is not None:
            raise json_error from None
        raise DocumentError(f"{source} document {index + 1}", _yaml_error_text(error)) from None


def _expand(location: str, value: Any) -> Iterator[tuple[str, Any]]:
    """A top-level document's intents: itself, or the entries of a list or `items` list."""
    items: Any = None
    if isinstance(value, list):
        items = value
    elif isinstance(value, Mapping) and "items" in value:
        extra = sorted(str(key) for key in value if key not in _LIST_KEYS)
        if extra:
            yield location, _Invalid(f"a list with `items` has unexpected keys: {', '.join(extra)}")
            return
        items = value["items"]
        if items is None:
            return
        if not isinstance(items, list):
            yield location, _Invalid(f"`items` must be a list, got {_type_name(items)}")
            return
    if items is None:
        yield location, value
        return
    for index, item in enumerate(items, start=1):
        yield f"{location} item {index}", item


class _Invalid:
    """A document already known to be wrong, carried to where errors are collected."""

    def __init__(self, problem: str) -> None:
        self.problem = problem


def _yaml_error_text(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        problem = error.problem or "syntax error"
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return f"invalid YAML: {error}"


_NESTED_FIELD = re.compile(r"Failed to parse (\w+) field: ")


def _parse_error_text(error: json_format.ParseError) -> str:
    # ParseError nests "Failed to parse X field:" per level and appends the list of valid
    # fields on a second line; one line with the field path reads better.
    text = str(error).splitlines()[0].strip() if str(error) else "invalid intent"
    fields: list[str] = []
    while match := _NESTED_FIELD.match(text):
        fields.append(match.group(1))
        text = text[match.end() :]
    text = text.rstrip(".")
    if fields and " at " not in text:
        text = f"{'.'.join(fields)}: {text}"
    return text


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__
