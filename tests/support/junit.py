"""Outcomes of a pytest run made in another process (a network namespace's), read from its junit file."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path


def outcomes(junit: Path) -> dict[str, tuple[str, str]]:
    """test name -> (passed/failed/skipped, details); empty when the run left no readable file."""
    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError):
        return {}
    found: dict[str, tuple[str, str]] = {}
    for case in root.iter("testcase"):
        outcome, details = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, details = "failed", f"{child.get('message', '')}\n{child.text or ''}"
            elif child.tag == "skipped" and outcome == "passed":
                outcome, details = "skipped", child.get("message", "")
        found[case.get("name", "")] = (outcome, details)
    return found
