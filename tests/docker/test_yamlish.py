"""The YAML-subset reader used to check docker/compose.yaml."""

import pytest

from tests.docker.yamlish import YamlishError, loads


def test_mappings_sequences_scalars_and_comments():
    text = """
# a comment
name: demo
services:
  web:
    command: ["daphne", "-p", "8000"]   # flow sequence
    ports:
      - "8000:80"
      - 'it''s'
    retries: 3
    debug: false
    empty:
volumes:
  data:
"""
    assert loads(text) == {
        "name": "demo",
        "services": {
            "web": {
                "command": ["daphne", "-p", "8000"],
                "ports": ["8000:80", "it's"],
                "retries": 3,
                "debug": False,
                "empty": None,
            }
        },
        "volumes": {"data": None},
    }


@pytest.mark.parametrize(
    "text",
    [
        "a: &anchor 1",
        "a: |\n  text",
        "a:\n  - b: 1",
        "a: 1\na: 2",
        "a: 1\n    b: 2",
        "a: [not json]",
    ],
)
def test_outside_the_subset_is_refused(text):
    with pytest.raises(YamlishError):
        loads(text)
