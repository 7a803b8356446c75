"""Reading subscriber lists: encodings, delimiters, header aliases, line numbers."""

from __future__ import annotations

import pytest

from newsletter.errors import SendError
from newsletter.send.subscribers import check_address, field_name, read_rows, recipient


def rows_of(tmp_path, text: str, encoding: str = "utf-8"):
    path = tmp_path / "list.csv"
    path.write_bytes(text.encode(encoding))
    return list(read_rows(path))


def test_mailchimp_export_with_bom_and_semicolons(tmp_path):
    text = "\ufeffEmail Address;First Name;Last Name;MEMBER_RATING\nAna@Example.org;Ana;Ito;5\n"
    (row,) = rows_of(tmp_path, text)
    assert row.address == "Ana@Example.org"
    assert row.values == {"first_name": "Ana", "last_name": "Ito", "member_rating": "5"}
    assert row.line == 2


@pytest.mark.parametrize("header", ["email", "E-Mail", "EMAIL", "Email Address", " e-mail "])
def test_address_column_aliases(tmp_path, header):
    (row,) = rows_of(tmp_path, f"{header},name\nbo@example.org,Bo\n")
    assert row.address == "bo@example.org"


def test_commas_inside_quotes_and_multiline_fields_keep_line_numbers(tmp_path):
    text = 'name,email\n"Ito, Ana",ana@example.org\n"two\nlines",two@example.org\nC,c@example.org\n'
    rows = rows_of(tmp_path, text)
    assert [(r.line, r.address) for r in rows] == [
        (2, "ana@example.org"),
        (3, "two@example.org"),
        (5, "c@example.org"),
    ]
    assert rows[0].values["name"] == "Ito, Ana"


def test_blank_lines_are_skipped_but_counted(tmp_path):
    rows = rows_of(tmp_path, "email\n\na@example.org\n,\nb@example.org\n")
    assert [(r.line, r.address) for r in rows] == [(3, "a@example.org"), (5, "b@example.org")]


def test_no_address_column_is_a_located_error(tmp_path):
    with pytest.raises(SendError) as info:
        rows_of(tmp_path, "name,phone\nAna,1\n")
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.line == 1 and "no address column" in diagnostic.message
    assert "name, phone" in diagnostic.message


def test_not_utf8_is_a_clear_error(tmp_path):
    with pytest.raises(SendError, match="not UTF-8"):
        rows_of(tmp_path, "email,name\nb@example.org,Bj\xf6rn\n", encoding="latin-1")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(SendError, match="cannot read the subscriber list"):
        list(read_rows(tmp_path / "absent.csv"))


def test_rows_are_streamed_not_loaded_whole(tmp_path):
    import tracemalloc

    path = tmp_path / "list.csv"
    path.write_text(
        "email,name\n" + "".join(f"u{i}@example.org,User {i}\n" for i in range(100_000))
    )
    tracemalloc.start()
    count = sum(1 for _ in read_rows(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 100_000
    assert peak < 1_000_000, f"{peak} bytes for a {path.stat().st_size}-byte list"


def test_check_address_uses_no_dns_and_normalises():
    assert check_address("Ana@EXAMPLE.org") == ("Ana@example.org", "")
    assert check_address("user@nonexistent-domain-for-tests.invalid")[0] is None  # special TLD
    email, why = check_address("not an address")
    assert email is None and why


def test_recipient_fills_names_from_each_other(tmp_path):
    (row,) = rows_of(tmp_path, "email,name\na@example.org,Ana Ito\n")
    person = recipient(row, "a@example.org")
    assert person.values["first_name"] == "Ana" and person.name == "Ana Ito"
    (row,) = rows_of(tmp_path, "email,First Name,Last Name\na@example.org,Ana,Ito\n")
    assert recipient(row, "a@example.org").name == "Ana Ito"


def test_field_names_become_tokens():
    assert field_name("First Name") == "first_name"
    assert field_name("Company (legal)") == "company_legal"
    assert field_name("2nd city") == "f_2nd_city"


def _edge_addresses() -> list[str]:
    """Return addresses near every edge of the plain-ASCII fast path, valid and not."""
    locals_ = [
        "a", "Ana.Ito", "a+tag", "a_b-c%d", "x" * 64, "x" * 65, ".a", "a.", "a..b", "a b",
        "Postmaster", "ABUSE", "noreply", '"quoted"', "ünï", "a/b", "a'b", "a!b", "a=b", "",
    ]  # fmt: skip
    domains = [
        "example.org", "Example.ORG", "a-b.example.org", "-a.example.org", "a-.example.org",
        "localhost", "x.local", "x.test", "example.invalid", "x.onion", "1.2.3.4", "x.123",
        "xn--bcher-kva.example", "a--b.example.org", ("l" * 63) + ".org", ("l" * 64) + ".org",
        ".".join(["abcdefghi"] * 25) + ".org", "example.org.", "ex_ample.org", "[127.0.0.1]",
        "bücher.example", "", "x", "x.y",
    ]  # fmt: skip
    return [f"{lp}@{d}" for lp in locals_ for d in domains] + ["no-at-sign", "a@b@example.org"]


@pytest.mark.parametrize("address", _edge_addresses())
def test_fast_address_check_agrees_with_email_validator(address):
    """The cached fast path gives email-validator's verdict and normalisation, every time."""
    from email_validator import EmailNotValidError, validate_email

    try:
        expected = (validate_email(address, check_deliverability=False).normalized, "")
    except EmailNotValidError as exc:
        expected = (None, str(exc))
    assert check_address(address) == expected
    assert check_address(address) == expected  # again, from the cache


UNCLOSED = (
    "email,name\n"
    'ana@example.org,"Ana\n'  # the quote is never closed
    "bo@example.org,Bo\n"
    'cy@example.org,"Cy"\n'
    "di@example.org,Di\n"
)


def test_an_unclosed_quote_swallows_no_later_row(tmp_path):
    rows = rows_of(tmp_path, UNCLOSED)
    assert [(r.line, r.address, r.problem) for r in rows[1:]] == [
        (3, "bo@example.org", ""),
        (4, "cy@example.org", ""),
        (5, "di@example.org", ""),
    ]
    broken = rows[0]
    assert (broken.line, broken.address) == (2, "ana@example.org")
    assert "quote opened on line 2 is never closed" in broken.problem
    assert broken.values == {}  # nothing of the other rows reaches its recipient
    assert [r.values["name"] for r in rows[1:]] == ["Bo", "Cy", "Di"]


def test_an_unclosed_quote_at_the_end_of_the_file(tmp_path):
    rows = rows_of(tmp_path, 'email,name\nbo@example.org,Bo\ncy@example.org,"Cy\nand more\n')
    assert [(r.line, bool(r.problem)) for r in rows] == [(2, False), (3, True)]
    assert "runs to the end of the file" in rows[1].problem


def test_more_fields_than_the_header_is_a_problem_but_trailing_empties_are_not(tmp_path):
    rows = rows_of(tmp_path, "email,name\na@example.org,Ito, Ana\nb@example.org,Bo,,\n")
    assert "3 fields, the header has 2" in rows[0].problem
    assert rows[1].problem == "" and rows[1].values == {"name": "Bo"}


def test_a_quoted_multiline_field_is_not_a_problem(tmp_path):
    rows = rows_of(tmp_path, 'email,note\na@example.org,"two\nlines"\nb@example.org,x\n')
    assert [(r.line, r.problem) for r in rows] == [(2, ""), (4, "")]
