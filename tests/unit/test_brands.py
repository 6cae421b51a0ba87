from __future__ import annotations

import pytest

from pipeline.core.brands import Brand, BrandMatcher, load_brands
from pipeline.errors import BrandsFileError

GOOD = """
brands:
  - id: acme
    name: Acme Air
    keywords: [acme air]
    handles: ["@acmeair"]
    hashtags: ["#acmefail"]
    exclusions: [acme anvil]
    slack_channel: "#acme"
  - id: globex
    handles: ["@globex"]
"""


@pytest.mark.parametrize("text, expected", [
    ("Stuck on ACME AIR flight 12 again", ["acme"]),   # keyword, any case, whole words
    ("thanks @AcmeAir!", ["acme"]),                     # handle
    ("never again #AcmeFail", ["acme"]),                # hashtag
    ("acme air sells an acme anvil", []),               # exclusion wins
    ("acmeair is a word, not a handle", []),            # handles need the @
    ("@globex and @acmeair both", ["acme", "globex"]),  # file order
    ("nothing here", []),
])
def test_matching(tmp_path, text, expected):
    path = tmp_path / "brands.yaml"
    path.write_text(GOOD)
    assert BrandMatcher(load_brands(path)).match(text) == expected


@pytest.mark.parametrize("content, problem", [
    ("brands: [", "not valid YAML"),
    ("- id: acme", "expected a mapping with a list under 'brands'"),
    ("brands:\n  - id: Acme Air\n    handles: ['@a']", "'id' must be lowercase"),
    ("brands:\n  - id: acme\n", "needs at least one keyword, handle or hashtag"),
    ("brands:\n  - id: acme\n    handles: [acme]", "handle 'acme' must start with '@'"),
    ("brands:\n  - id: acme\n    hashtags: [acme]", "hashtag 'acme' must start with '#'"),
    ("brands:\n  - id: a\n    handles: ['@a']\n  - id: a\n    handles: ['@b']", "brand 'a': duplicate id"),
    ("brands:\n  - id: a\n    handles: ['@a']\n    colour: red", "unknown keys ['colour']"),
    ("brands:\n  - id: a\n    keywords: [1, 2]", "'keywords' must be a list of non-empty strings"),
])
def test_broken_file_names_the_file_and_the_problem(tmp_path, content, problem):
    path = tmp_path / "brands.yaml"
    path.write_text(content)
    with pytest.raises(BrandsFileError) as err:
        load_brands(path)
    assert str(path) in str(err.value)
    assert problem in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(BrandsFileError, match="file not found"):
        load_brands(tmp_path / "nope.yaml")


def test_matcher_with_multiword_keyword_at_text_end():
    m = BrandMatcher([Brand("acme", "Acme", keywords=("acme air",))])
    assert m.match("I flew acme air") == ["acme"]
    assert m.match("acme") == []
