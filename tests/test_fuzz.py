"""Property-based: random bytes and random YAML never crash the loader."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.loader import validate
from newsletter.model import Issue, Series
from newsletter.source import parse_yaml

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.dates().map(str),
    st.sampled_from(["1", "items", "!!python/object", "*a", "&a", "<<"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "volume",
                    "number",
                    "date",
                    "items",
                    "headline",
                    "summary",
                    "image",
                    "src",
                    "alt",
                    "links",
                    "url",
                    "title",
                    "body",
                    "articles",
                    "x",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


def load(raw: bytes) -> None:
    source = parse_yaml(raw, "fuzz.yaml")
    for model in (Issue, Series):
        validate(source, model)
    for diagnostic in source.diagnostics:
        assert diagnostic.line >= 1 and diagnostic.column >= 1
        assert str(diagnostic).startswith("fuzz.yaml:")


@FAST
@given(st.binary(max_size=300))
def test_random_bytes(raw):
    load(raw)


@FAST
@given(st.text(alphabet=st.sampled_from(list(" -:\n\t[]{}&*!|>'\"#%@`,?abc01.\\")), max_size=120))
def test_random_yaml_punctuation(text):
    load(text.encode("utf-8"))


@FAST
@given(values)
def test_random_structures(value):
    load(yaml.safe_dump(value, allow_unicode=True).encode("utf-8"))


@FAST
@given(values)
def test_random_structures_round_trip(value):
    """Whatever the loader accepts as data equals what PyYAML's safe loader reads."""
    text = yaml.safe_dump(value, allow_unicode=True)
    source = parse_yaml(text.encode("utf-8"), "fuzz.yaml")
    if source.ok:
        assert source.data == yaml.safe_load(text)
