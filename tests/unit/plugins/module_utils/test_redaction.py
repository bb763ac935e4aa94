"""Masking of secrets in responses."""

from __future__ import annotations

from busdk_database.redaction import MASK, Redactor


def test_known_secret_masked_everywhere() -> None:
    redactor = Redactor()
    redactor.add("s3cr3t/+pw")
    scrubbed = redactor.scrub(
        {"a": ["x s3cr3t/+pw y", {"b": "s3cr3t%2F%2Bpw"}], "n": 1, "t": True}
    )
    assert scrubbed == {"a": [f"x {MASK} y", {"b": MASK}], "n": 1, "t": True}


def test_url_and_keyword_passwords_masked() -> None:
    redactor = Redactor()
    text = redactor.text("postgresql://admin:hunter22@db:5432/x and password=abc123 x")
    assert "hunter22" not in text
    assert "abc123" not in text
    assert "postgresql://admin:" in text


def test_short_values_not_registered() -> None:
    redactor = Redactor()
    redactor.add("ab")
    assert redactor.text("abc") == "abc"


def test_identity_fields_kept() -> None:
    redactor = Redactor()
    redactor.add("postgres")
    scrubbed = redactor.scrub(
        {"provider": "postgres", "diagnostics": ["password for postgres rejected"]}
    )
    assert scrubbed["provider"] == "postgres"
    assert scrubbed["diagnostics"] == [f"password for {MASK} rejected"]


def test_url_with_collapsed_slashes_masked() -> None:
    text = Redactor().text("file /w/postgresql:/postgres:PW1234@127.0.0.1/db not found")
    assert "PW1234" not in text
