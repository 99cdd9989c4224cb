"""Runs schemathesis against a server's /openapi.json over real HTTP and lists what it found.

Drives schemathesis's engine (the runner behind `schemathesis run`) rather than its pytest plugin:
`schemathesis.pytest.from_fixture` sets `Node._nodeid`, which pytest 9.2 no longer has, and a schema
loaded at import time would need the server before collection. The engine also runs every phase the
CLI runs (examples, coverage, fuzzing), where the pytest plugin runs hypothesis's generation alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
# A failure's message and reproduction, cut to keep an assertion message readable.
MAX_DETAIL_CHARS = 600


@dataclass
class ContractReport:
    problems: list[str] = field(default_factory=list)
    scenarios: int = 0
    operations: set[str] = field(default_factory=set)


def run_contract(
    schema_url: str, *, max_examples: int, headers: dict[str, str] | None = None
) -> ContractReport:
    """Every operation of the document, `max_examples` generated cases per phase, derandomized."""
    config = SchemathesisConfig.from_dict(
        {
            "generation": {"deterministic": True, "max-examples": max_examples, "database": "none"},
            "phases": {"stateful": {"enabled": False}},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "headers": headers or {},
            "workers": 1,
            "request-timeout": 30,
            "suppress-health-check": ["all"],
        }
    )
    schema = schemathesis.openapi.from_url(schema_url, config=config)
    report = ContractReport()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            report.scenarios += 1
            report.operations.add(event.recorder.label)
            if event.status in (Status.FAILURE, Status.ERROR):
                report.problems.extend(_failures(event))
        elif isinstance(event, events.NonFatalError):
            report.problems.append(f"{event.label}: error: {event.info.message}"[:MAX_DETAIL_CHARS])
        elif isinstance(event, events.FatalError):
            report.problems.append(f"fatal: {event.exception!r}"[:MAX_DETAIL_CHARS])
    return report


def _failures(event: events.ScenarioFinished) -> list[str]:
    found = []
    for checks in event.recorder.checks.values():
        for check in checks:
            if check.status == Status.FAILURE and check.failure_info is not None:
                failure = check.failure_info.failure
                detail = f"{failure.title}: {failure.message}\n    {check.failure_info.code_sample}"
                found.append(f"{event.recorder.label} [{event.phase}] {detail}"[:MAX_DETAIL_CHARS])
    return found or [f"{event.recorder.label} [{event.phase}] {event.status.value}"]
