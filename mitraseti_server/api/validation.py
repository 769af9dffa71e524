"""Request bodies: parsed as JSON and checked against the schemas of /openapi.json.

``parse_body(raw, schema_name)`` returns the body as a dict, or raises ParameterError
naming the first offending parameter: a missing or empty required string ("Missing
file_key"), an unknown field, a wrong type, a number or text out of its bounds. Integral
floats such as ``159.0`` count as integers (JSON does not tell them apart) and are
returned as ``int``. JSON nested deeper than ``MAX_DEPTH`` is refused before it is parsed.
"""
from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from mitraseti.errors import ParameterError
from mitraseti_server.api.schemas import SCHEMAS

MAX_DEPTH = 32                   # nesting of JSON arrays/objects in a request body
TYPE_WORDS = {"string": "a string", "integer": "an integer", "number": "a number",
              "boolean": "true or false", "array": "a list", "object": "a JSON object",
              "null": "null"}


def _validator(name: str) -> Draft202012Validator:
    root = {"$ref": f"#/components/schemas/{name}", "components": {"schemas": SCHEMAS}}
    return Draft202012Validator(root)


VALIDATORS = {name: _validator(name) for name, schema in SCHEMAS.items()
              if name.endswith("Request")}


def json_depth_exceeds(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """True when brackets outside strings nest deeper than ``limit`` (no parsing)."""
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:          # backslash
                escaped = True
            elif byte == 0x22:          # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):      # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def load_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object ({} when empty); ParameterError "Invalid JSON body"."""
    if not raw or not raw.strip():
        return {}
    if json_depth_exceeds(raw):
        raise ParameterError("Invalid JSON body", parameter=None,
                             expected=f"JSON nested at most {MAX_DEPTH} levels")
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ParameterError("Invalid JSON body") from None
    if not isinstance(value, dict):
        raise ParameterError("Invalid JSON body", expected="a JSON object")
    return value


def parse_body(raw: bytes, schema_name: str) -> dict[str, Any]:
    """The body, checked against ``components/schemas/<schema_name>``."""
    body = load_json_object(raw)
    errors = list(VALIDATORS[schema_name].iter_errors(body))
    if errors:
        raise _parameter_error(min(errors, key=_rank), body)
    return _integral_floats_to_int(body, SCHEMAS[schema_name])


def _rank(error: ValidationError) -> tuple:
    """Which error to report first: missing, then unknown fields, then by path."""
    order = {"required": 0, "additionalProperties": 1}.get(error.validator, 2)
    return order, [str(p) for p in error.absolute_path]


def _parameter_error(error: ValidationError, body: dict) -> ParameterError:
    path = list(error.absolute_path)
    schema, value = error.schema, error.validator_value
    if error.validator == "required":
        name = next(p for p in value if p not in error.instance)
        return ParameterError(f"Missing {name}", parameter=name)
    if error.validator == "additionalProperties":
        known = set(schema.get("properties", {}))
        name = sorted(k for k in error.instance if k not in known)[0]
        return ParameterError(f"Unknown field: {name}", parameter=name,
                              expected=f"one of {sorted(known)}")
    name = str(path[0]) if path else None
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    if error.validator == "minLength" and value == 1 and len(path) == 1:
        return ParameterError(f"Missing {name}", parameter=name)
    expected = _expected(error.validator, value, schema)
    message = schema.get("x-error") or f"{where or 'body'} must be {expected}"
    return ParameterError(message, parameter=name, expected=expected)


def _expected(keyword: str, value: Any, schema: dict) -> str:
    """What the schema keyword asks for, in words."""
    if keyword == "type":
        types = value if isinstance(value, list) else [value]
        return " or ".join(TYPE_WORDS.get(t, t) for t in types)
    words = {"minimum": f">= {value}", "exclusiveMinimum": f"> {value}",
             "maximum": f"<= {value}", "exclusiveMaximum": f"< {value}",
             "minLength": f"at least {value} characters long",
             "maxLength": f"at most {value} characters long",
             "minItems": f"a list of at least {value} entries",
             "maxItems": f"a list of at most {value} entries",
             "uniqueItems": "a list without repeated entries",
             "enum": f"one of {value}", "const": repr(value),
             "pattern": f"a string matching {value}"}
    return words.get(keyword, f"valid ({keyword} {value!r})")


def _integral_floats_to_int(value: Any, schema: dict) -> Any:
    """``159.0`` -> ``159`` wherever ``schema`` (refs followed) asks for an integer."""
    if "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
    if schema.get("type") == "integer" and isinstance(value, float):
        return int(value)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: _integral_floats_to_int(v, props.get(k, {})) for k, v in value.items()}
    if isinstance(value, list):
        items = schema.get("items", {})
        return [_integral_floats_to_int(v, items) for v in value]
    return value
