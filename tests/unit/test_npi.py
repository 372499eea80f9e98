"""NPI check digit: Luhn over the issuer prefix 80840 followed by the 10 NPI digits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.npi import is_valid_npi, npi_check_digit


def _reference_luhn(npi: str) -> bool:
    """Textbook Luhn over the 15-digit string, written independently of the fast version."""
    digits = [int(c) for c in "80840" + npi]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


@pytest.mark.parametrize(
    "npi",
    [
        "1234567893",  # the CMS worked example
        "1245319599",
        "1003000126",
        "1487023560",  # used by the golden cases
        "2000000002",  # an organisation-style NPI starting with 2
    ],
)
def test_known_valid_npis(npi: str) -> None:
    assert is_valid_npi(npi)


@pytest.mark.parametrize(
    "npi",
    [
        "1234567890",  # research §6 #38
        "1234567894",
        "",
        "123456789",
        "12345678933",
        "123456789a",
        " 1234567893",
        "1234567893 ",
        "12345-6789",
        "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0663",  # Arabic-Indic digits
        None,
    ],
)
def test_invalid_npis(npi: str | None) -> None:
    assert not is_valid_npi(npi)


def test_check_digit_of_the_cms_example() -> None:
    assert npi_check_digit("123456789") == "3"


@pytest.mark.parametrize("first9", ["12345678", "1234567890", "12345678x", "", "\u0661" * 9])
def test_check_digit_needs_nine_ascii_digits(first9: str) -> None:
    with pytest.raises(ValueError, match="nine"):
        npi_check_digit(first9)


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_check_digit_makes_a_valid_npi_and_no_other_digit_does(first9: str) -> None:
    check = npi_check_digit(first9)
    assert is_valid_npi(first9 + check)
    for other in "0123456789":
        if other != check:
            assert not is_valid_npi(first9 + other)


@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
def test_matches_the_textbook_luhn(npi: str) -> None:
    assert is_valid_npi(npi) == _reference_luhn(npi)
