"""Phone numbers: what we store for search and display, and how people see them.

NXCloud sends numbers as digits with their country calling code (`85235753351`). A refresh
stores a million of them in seconds, so `number_facts()` must not run phonenumbers' full
parser on each: the region comes from the country calling code through a cached table, and
the parser is asked only where a calling code is shared by several regions (+1, +7, +44 …),
once per distinct leading-digits prefix.
"""

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneNumberFormat

# Digits after the calling code that decide the region where a code is shared: NANP area
# codes are three digits, +7 and +44 decide within the first few.
SHARED_CODE_PREFIX_DIGITS = 4


# (e164, region): "+85235753351", "HK"; both "" when the digits cannot be a number. A plain
# tuple: a million of them are made per refresh, and a NamedTuple costs three times as much.
NumberFacts = tuple[str, str]
NOT_A_NUMBER: NumberFacts = ("", "")


def reversed_digits(digits: str) -> str:
    """Indexed for "ends with" search: a suffix of the number is a prefix of this."""
    return digits[::-1]


# Calling codes by their digits: "1", "44", "852" …
_CODES = {str(code): code for code in COUNTRY_CODE_TO_REGION_CODE}


def calling_code_of(digits: str) -> int | None:
    """The country calling code a digit string starts with (1 to 3 digits, never ambiguous)."""
    return _CODES.get(digits[:1]) or _CODES.get(digits[:2]) or _CODES.get(digits[:3])


def number_facts(digits: str) -> NumberFacts:
    """E.164 form and region of digits that start with a country calling code."""
    if not (7 <= len(digits) <= 15 and digits.isdigit()) or digits[0] == "0":
        return NOT_A_NUMBER
    # The region follows from the calling code and the first few digits after it, so it is
    # looked up once per seven-digit prefix; a refresh then costs a dict lookup a number.
    prefix = digits[:7]
    region = _region_by_prefix.get(prefix)
    if region is None:
        region = _region_of(digits)
        if region is None:
            return NOT_A_NUMBER
        if len(_region_by_prefix) < PREFIX_CACHE_SIZE:
            _region_by_prefix[prefix] = region
    return ("+" + digits, region)


PREFIX_CACHE_SIZE = 500_000
_region_by_prefix: dict[str, str] = {}


def regions_of(all_digits: list[str]) -> list[str | None]:
    """`number_facts(d)[1]` for many numbers at once (None where d is not a number): the
    refresh's hot loop, with the per-call overhead taken out."""
    cached = _region_by_prefix.get
    regions: list[str | None] = []
    append = regions.append
    for digits in all_digits:
        region = cached(digits[:7])
        if region is None or not (7 <= len(digits) <= 15 and digits.isdigit()):
            e164, region = number_facts(digits)
            append(region if e164 else None)
        else:
            append(region)
    return regions


def _region_of(digits: str) -> str | None:
    code = calling_code_of(digits)
    if code is None:
        return None
    regions = COUNTRY_CODE_TO_REGION_CODE[code]
    if len(regions) == 1:
        region = regions[0]
    else:
        start = len(str(code))
        prefix = digits[start : start + SHARED_CODE_PREFIX_DIGITS]
        region = _shared_code_region(code, prefix, digits)
    return "" if region == "001" else region


# (calling code, first national digits) → region, learnt from real numbers as they come.
_shared_code_regions: dict[tuple[int, str], str] = {}


def _shared_code_region(code: int, national_prefix: str, digits: str) -> str:
    key = (code, national_prefix)
    region = _shared_code_regions.get(key)
    if region is None:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse("+" + digits))
        except phonenumbers.NumberParseException:
            region = None
        if region is None:
            # Not a valid number: the code's main region, without teaching the table.
            return phonenumbers.region_code_for_country_code(code)
        if len(_shared_code_regions) < 100_000:
            _shared_code_regions[key] = region
    return region


def format_for_people(digits: str) -> str:
    """`85235753351` → `+852 3575 3351`; digits that are not a number come back as they are."""
    try:
        number = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return digits
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


def region_name(region: str) -> str:
    """A region code with its calling code for display: `HK (+852)`."""
    if not region:
        return "Unknown"
    code = phonenumbers.country_code_for_region(region)
    return f"{region} (+{code})" if code else region
