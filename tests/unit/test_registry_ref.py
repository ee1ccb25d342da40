"""parse_reference: what plat accepts as an image reference, and what it says about the rest."""

from __future__ import annotations

import pytest

from platd.runtime.registry import ImageRef, parse_reference
from platd.spec.errors import ImageError

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5000/hello:v1", ImageRef("127.0.0.1:5000", "hello", "v1")),
        ("127.0.0.1:5000/hello", ImageRef("127.0.0.1:5000", "hello", "latest")),
        ("localhost/hello:v2", ImageRef("localhost", "hello", "v2")),
        ("localhost:5000/team/app/web:1.2.3", ImageRef("localhost:5000", "team/app/web", "1.2.3")),
        ("registry.example.com/a/b", ImageRef("registry.example.com", "a/b", "latest")),
        (f"127.0.0.1:5000/hello@{DIGEST}", ImageRef("127.0.0.1:5000", "hello", None, DIGEST)),
        (f"127.0.0.1:5000/hello:v1@{DIGEST}", ImageRef("127.0.0.1:5000", "hello", "v1", DIGEST)),
        ("[::1]:5000/hello:v1", ImageRef("[::1]:5000", "hello", "v1")),
        ("reg.io/my-app_x.y/web__z:V_1.0-rc", ImageRef("reg.io", "my-app_x.y/web__z", "V_1.0-rc")),
        ("  127.0.0.1:5000/hello:v1\n", ImageRef("127.0.0.1:5000", "hello", "v1")),
    ],
)
def test_parses(text: str, expected: ImageRef) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize("text", ["hello:v1", "hello", "library/hello:v1", "team/app"])
def test_reference_without_registry_explains_what_plat_needs(text: str) -> None:
    with pytest.raises(ImageError) as caught:
        parse_reference(text)
    assert "names no registry" in caught.value.message
    assert any("127.0.0.1:5000/hello:v1" in line for line in caught.value.hint)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("127.0.0.1:5000/Hello:v1", "not a valid repository"),
        ("127.0.0.1:5000/hello:", "not a valid tag"),
        ("127.0.0.1:5000/hello:-v1", "not a valid tag"),
        ("127.0.0.1:5000/hello@sha256:abc", "not a valid digest"),
        ("127.0.0.1:5000/he llo", "whitespace"),
        ("127.0.0.1:5000/", "not a valid repository"),
        ("bad_host.io:x/hello", "not a valid registry"),
    ],
)
def test_rejects(text: str, fragment: str) -> None:
    with pytest.raises(ImageError, match=fragment):
        parse_reference(text)


def test_properties() -> None:
    ref = parse_reference("127.0.0.1:5000/team/hello:v1")
    assert ref.name == "127.0.0.1:5000/team/hello"
    assert ref.reference == "v1"
    assert ref.base_url == "http://127.0.0.1:5000/v2/team/hello"
    assert ref.pinned(DIGEST) == f"127.0.0.1:5000/team/hello@{DIGEST}"
    assert str(ref) == "127.0.0.1:5000/team/hello:v1"
    pinned = parse_reference(f"127.0.0.1:5000/hello:v1@{DIGEST}")
    assert pinned.reference == DIGEST
    assert str(pinned) == f"127.0.0.1:5000/hello:v1@{DIGEST}"


@pytest.mark.parametrize(
    ("text", "loopback"),
    [
        ("127.0.0.1:5000/a", True),
        ("127.8.9.10/a", True),
        ("localhost:5000/a", True),
        ("[::1]:5000/a", True),
        ("10.0.0.1:5000/a", False),
        ("[2001:db8::1]:5000/a", False),
        ("registry.example.com/a", False),
    ],
)
def test_loopback_registries_use_http(text: str, loopback: bool) -> None:
    ref = parse_reference(text)
    assert ref.is_loopback is loopback
    assert ref.base_url.startswith("http://" if loopback else "https://")
