from pathlib import Path

import pytest

from desktop.core.errors import InvalidSpec
from desktop.core.models import NetworkMode, NotebookSpec
from desktop.core.validation import name_problem, parse_memory, validate_cpus, validate_name


@pytest.mark.parametrize("name", ["demo", "vision-2", "a", "x" * 40, "0abc"])
def test_good_names(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "required"),
        (" demo", "spaces"),
        ("demo ", "spaces"),
        ("x" * 300, "at most 40"),
        ("Demo", "lowercase"),
        ("dé-mo", "lowercase"),
        ("../x", "lowercase"),
        ("-demo", "lowercase"),
        ("de mo", "lowercase"),
        ("a_b", "lowercase"),
    ],
)
def test_bad_names_say_why(name: str, reason: str) -> None:
    problem = name_problem(name)
    assert problem is not None and reason in problem
    with pytest.raises(InvalidSpec, match="invalid name"):
        validate_name(name)


@pytest.mark.parametrize(("text", "value"), [("8g", 8 * 1024**3), ("512m", 512 * 1024**2), ("1.5GiB", 1536 * 1024**2)])
def test_memory_units(text: str, value: int) -> None:
    assert parse_memory(text) == value


@pytest.mark.parametrize("text", ["", "lots", "-1g", "0", "10m", "8x"])
def test_bad_memory(text: str) -> None:
    with pytest.raises(InvalidSpec):
        parse_memory(text)


@pytest.mark.parametrize("value", [0, -1, -0.5])
def test_bad_cpus(value: float) -> None:
    with pytest.raises(InvalidSpec, match="more than 0"):
        validate_cpus(value)


def test_spec_round_trips_through_json() -> None:
    spec = NotebookSpec(
        "demo",
        "img:1",
        gpus=("0", "2"),
        cpus=2.5,
        memory_bytes=2**30,
        work_dir=Path("/tmp/w"),
        profile="plain",
        network_mode=NetworkMode.HOST,
    )
    assert NotebookSpec.from_json(spec.to_json()) == spec
