"""NPI check digit (CMS NPI standard: Luhn over the card-issuer prefix 80840 + the NPI).

An NPI is 10 ASCII digits whose last digit is a Luhn check digit computed as if the number were
prefixed with "80840" (the health-industry issuer identifier). The prefix always contributes 24
to the Luhn sum, so the prefix never has to be materialised.

`is_valid_npi` sits on the rule engine's hot path (twice per claim at least), so it is written
as table look-ups over the raw bytes instead of a generic Luhn loop.
"""

from __future__ import annotations

__all__ = ["is_valid_npi", "npi_check_digit"]

# Luhn contribution of the constant prefix "80840" when followed by a 10-digit NPI.
_PREFIX_SUM = 24

# Indexed by the byte value of an ASCII digit: the digit itself, and the digit after the Luhn
# "double and subtract 9" step. Non-digit bytes never reach these tables (checked before).
_PLAIN = tuple(range(-48, 208))
_DOUBLED = tuple(((b - 48) * 2 - 9 if (b - 48) * 2 > 9 else (b - 48) * 2) for b in range(256))


def _is_ascii_digits(text: str) -> bool:
    # str.isdigit alone also accepts Arabic-Indic digits and superscripts, which are not NPIs.
    return text.isascii() and text.isdigit()


def npi_check_digit(first9: str) -> str:
    """Return the check digit that makes `first9` + digit a valid NPI.

    Raises ValueError when `first9` is not exactly nine ASCII digits.
    """
    if len(first9) != 9 or not _is_ascii_digits(first9):
        raise ValueError("an NPI check digit needs exactly nine leading digits")
    b = first9.encode("ascii")
    # With the check digit appended, the 1st, 3rd, 5th, 7th and 9th digits are the doubled ones.
    total = (
        _PREFIX_SUM
        + _DOUBLED[b[0]]
        + _PLAIN[b[1]]
        + _DOUBLED[b[2]]
        + _PLAIN[b[3]]
        + _DOUBLED[b[4]]
        + _PLAIN[b[5]]
        + _DOUBLED[b[6]]
        + _PLAIN[b[7]]
        + _DOUBLED[b[8]]
    )
    return str((10 - total % 10) % 10)


def is_valid_npi(npi: str | None) -> bool:
    """True when `npi` is 10 ASCII digits with a correct check digit.

    No trimming is done: surrounding spaces make the identifier invalid as submitted.
    """
    if npi is None or len(npi) != 10 or not _is_ascii_digits(npi):
        return False
    b = npi.encode("ascii")
    total = (
        _PREFIX_SUM
        + _DOUBLED[b[0]]
        + _PLAIN[b[1]]
        + _DOUBLED[b[2]]
        + _PLAIN[b[3]]
        + _DOUBLED[b[4]]
        + _PLAIN[b[5]]
        + _DOUBLED[b[6]]
        + _PLAIN[b[7]]
        + _DOUBLED[b[8]]
        + _PLAIN[b[9]]
    )
    return total % 10 == 0
