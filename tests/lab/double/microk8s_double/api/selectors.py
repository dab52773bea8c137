# SPDX-License-Identifier: GPL-3.0-or-later
"""Label selectors (`app=hello,tier in (web,api),!canary`) and field selectors (`spec.nodeName=node1,
status.phase!=Failed`) as list and watch requests carry them, and LabelSelector objects of specs."""

from __future__ import annotations

import re

REQUIREMENT = re.compile(r"^\s*(!?)\s*([^\s=!,()]+)\s*(?:(==|=|!=)\s*(\S*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


class SelectorError(ValueError):
    pass


def split_terms(text: str) -> list[str]:
    """Comma-separated terms, commas inside `in (...)` lists kept."""
    terms, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    return [t for t in [*terms, current] if t.strip()]


def label_matcher(text: str | None):
    """A predicate on a labels dict; SelectorError for a malformed selector."""
    checks = []
    for term in split_terms(text or ""):
        found = REQUIREMENT.match(term)
        if not found:
            raise SelectorError(f"unable to parse requirement: {term}")
        negated, key, operator, value, set_operator, values = found.groups()
        if operator:
            checks.append((key, "!=" if operator == "!=" else "=", {value}))
        elif set_operator:
            checks.append((key, set_operator, {v.strip() for v in values.split(",")}))
        else:
            checks.append((key, "!exists" if negated else "exists", set()))
    return lambda labels: all(requirement(labels or {}, *check) for check in checks)


def requirement(labels: dict, key: str, operator: str, values: set) -> bool:
    if operator == "=":
        return labels.get(key) in values
    if operator == "!=":
        return labels.get(key) not in values
    if operator == "in":
        return key in labels and labels[key] in values
    if operator == "notin":
        return labels.get(key) not in values
    return (key in labels) == (operator == "exists")


def field_value(obj: dict, path: str) -> str:
    value: object = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def field_matcher(text: str | None):
    """A predicate on an object for `a.b=c`, `a.b==c`, `a.b!=c` terms."""
    checks = []
    for term in split_terms(text or ""):
        found = re.match(r"^\s*([\w.-]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not found:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        checks.append((found.group(1), found.group(2) == "!=", found.group(3)))
    return lambda obj: all((field_value(obj, path) == value) != negated for path, negated, value in checks)


def matches(selector: dict | None, labels: dict | None) -> bool:
    """A LabelSelector object (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist) against labels; an
    empty selector matches everything, as in the API (controllers never see one: validation refuses it)."""
    selector, labels = selector or {}, labels or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    operators = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    return all(
        requirement(labels, e["key"], operators[e["operator"]], set(e.get("values") or []))
        for e in selector.get("matchExpressions") or []
    )


def to_text(selector: dict | None) -> str:
    """A LabelSelector object as selector text (a Scale's status.selector, a list request's labelSelector)."""
    selector = selector or {}
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], ",".join(expression.get("values") or [])
        texts = {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key}
        terms.append(texts.get(operator, f"!{key}"))
    return ",".join(terms)
