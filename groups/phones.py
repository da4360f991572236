"""Phone numbers: what we store for search and display, and how people see them.

NXCloud sends numbers as digits with their country calling code (`85235753351`). A refresh
stores a million of them in seconds, so `number_facts()` must not run phonenumbers' full
parser on each: the region comes from the country calling code through a cached table, and
the parser is asked only where a calling code is shared by several regions (+1, +7, +44 …),
once per distinct leading-digits prefix.
"""

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

import phonenumbers
from django.utils.translation import gettext
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneNumberFormat

# Digits after the calling code that decide the region where a code is shared: NANP area
# codes are three digits, +7 and +44 decide within the first few.
SHARED_CODE_PREFIX_DIGITS = 4


# (e164, region): "+85235753351", "HK"; both "" when the digits cannot be a number. A plain
# tuple: a million of them are made per refresh, and a NamedTuple costs three times as much.
NumberFacts = tuple[str, str]
NOT_A_NUMBER: NumberFacts = ("", "")


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


@lru_cache(maxsize=16_384)
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
        return gettext("Unknown")
    code = phonenumbers.country_code_for_region(region)
    return f"{region} (+{code})" if code else region


# --- reading what a person typed ------------------------------------------------------------

MAX_ENTRIES = 1_000
MIN_SUFFIX_DIGITS = 4
MIN_CONTAINS_DIGITS = 3
MAX_DIGITS = 17  # 15 for E.164, and room for a 00 prefix

_ENTRY_SEPARATORS = re.compile(r"[\r\n,;\t]+")
# What a phone number may be written with: digits, spaces, + - ( ) . / and no-break spaces.
_NUMBER_CHARACTERS = re.compile(r"[\d\s+\-().\/\u00a0\u2010-\u2015]+")
_NON_DIGITS = re.compile(r"\D+")


def split_entries(text: str) -> list[str]:
    """A pasted list as its entries: newlines, commas, semicolons and tabs separate them;
    spaces inside an entry (`852 3575 3351`) are part of it."""
    return [entry.strip() for entry in _ENTRY_SEPARATORS.split(text) if entry.strip()]


@dataclass(frozen=True)
class NumberQuery:
    """One entry of a search, understood the way a person means it."""

    text: str  # as typed
    digits: str = ""  # every digit typed, without an international 00 or +
    international: bool = False  # typed with + or 00: the country code is in `digits`
    problem: str = ""  # why it is not understood; "" when it is

    @property
    def understood(self) -> bool:
        return not self.problem

    @property
    def suffix(self) -> str:
        """What "ends with" looks for: national trunk zeros dropped (`07911…` → `7911…`)."""
        return "" if self.international else self.digits.lstrip("0")

    def full_numbers(self, region: str = "") -> list[str]:
        """Digits of the full international numbers this entry can mean: as typed (with its
        country code), and read as a national number of `region` when one is given."""
        numbers = []
        if self.international or _could_be_international(self.digits):
            numbers.append(self.digits)
        national = self.national_number_in(region) if region else None
        if national and national not in numbers:
            numbers.append(national)
        return numbers

    def national_number_in(self, region: str) -> str | None:
        """The entry read as a national number of `region`, as international digits."""
        if self.international or not self.understood:
            return None
        return national_to_international(self.text, region)

    @cached_property
    def read_as(self) -> str:
        """How the entry was read, for people."""
        if self.problem:
            return self.text
        if self.international:
            return format_for_people(self.digits)
        return self.digits


def read_number(text: str, *, anywhere: bool = False) -> NumberQuery:
    """`+852 3575 3351`, `+852-3575-3351`, `00852 35753351`, `(852) 3575 3351`,
    `85235753351`, `3575 3351` and `3351` all become something we can look up."""
    text = " ".join(text.split())
    if not _NUMBER_CHARACTERS.fullmatch(text):
        return NumberQuery(
            text, problem=gettext("has letters or other characters a number does not")
        )
    if "+" in text[1:]:
        return NumberQuery(text, problem=gettext("has a + that is not at the start"))
    digits = _NON_DIGITS.sub("", text)
    international = text.startswith("+")
    if not international and digits.startswith("00") and len(digits) > 4:
        digits, international = digits[2:], True
    if len(digits) > MAX_DIGITS:
        return NumberQuery(text, digits, problem=gettext("has more digits than any phone number"))
    if international and len(digits) < 7:
        return NumberQuery(
            text, digits, problem=gettext("is too short for a number with country code")
        )
    shortest = MIN_CONTAINS_DIGITS if anywhere else MIN_SUFFIX_DIGITS
    if len(digits.lstrip("0")) < shortest:
        if anywhere:
            problem = gettext("has fewer than %(count)s digits") % {"count": MIN_SUFFIX_DIGITS}
        else:
            problem = gettext("has fewer than %(count)s digits (3 with “match anywhere”)") % {
                "count": MIN_SUFFIX_DIGITS
            }
        return NumberQuery(text, digits, problem=problem)
    return NumberQuery(text, digits, international)


def national_to_international(text: str, region: str) -> str | None:
    """A national number of `region` as international digits (`3575 3351`, HK →
    `85235753351`; `07911 123456`, GB → `447911123456`), or None when it cannot be one of
    that region's numbers, or already carries the region's country code.

    No full parse: a pasted list reads every entry in every tenant region, and the lookup
    itself decides whether such a number exists.
    """
    digits = _NON_DIGITS.sub("", text)
    calling_code, national_prefix, lengths = _region_dialling(region)
    if not calling_code:
        return None
    code = str(calling_code)
    if digits.startswith(code) and len(digits) - len(code) in lengths:
        return None  # `85235753351`: international already
    if national_prefix and digits.startswith(national_prefix):
        digits = digits[len(national_prefix) :]
    if len(digits) not in lengths:
        return None
    return f"{calling_code}{digits}"


@lru_cache(maxsize=512)
def _region_dialling(region: str) -> tuple[int, str, frozenset[int]]:
    """A region's calling code, national trunk prefix and national number lengths:
    (852, "", {5, 6, 7, 8, 9, 11}), (44, "0", {7, 9, 10})."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return 0, "", frozenset()
    lengths = frozenset(metadata.general_desc.possible_length or ())
    return metadata.country_code, metadata.national_prefix or "", lengths


def _could_be_international(digits: str) -> bool:
    """Digits typed without + that may start with a country code (`85235753351`)."""
    return 8 <= len(digits) <= 15 and digits[0] != "0" and calling_code_of(digits) is not None


@lru_cache(maxsize=16_384)
def format_in_region(digits: str, region: str) -> str:
    """How people of `region` write a number: nationally when it is theirs, else
    internationally (`+852 3575 3351`)."""
    try:
        number = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return digits
    if region and phonenumbers.region_code_for_number(number) == region:
        return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


SUPPORTED_REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


# --- numbers to send to NXCloud -----------------------------------------------------------------


@dataclass(frozen=True)
class NumberList:
    """A pasted list of numbers for a group, checked: what NXCloud gets, and what is wrong."""

    numbers: list[str]  # digits with the country code, each once, in the order given
    problems: list[tuple[str, str]]  # (entry as typed, what is wrong with it)
    duplicates: int  # entries left out because they repeat an earlier one


def numbers_for_nxcloud(text: str) -> NumberList:
    """Read a list of full international numbers (`+852 3575 3351`, `0085235753351` or
    `85235753351`): the country code is required; each number must be valid for its
    country (phonenumbers); repeats are dropped."""
    numbers: list[str] = []
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    duplicates = 0
    for entry in split_entries(text):
        if not _NUMBER_CHARACTERS.fullmatch(entry):
            problems.append((entry, gettext("has characters a phone number cannot have")))
            continue
        digits = _NON_DIGITS.sub("", entry)
        if digits.startswith("00"):
            digits = digits[2:]
        if entry.lstrip().startswith("0") and not entry.lstrip().startswith("00"):
            problems.append(
                (entry, gettext("starts with a trunk 0: write it with its country code"))
            )
            continue
        try:
            parsed = phonenumbers.parse("+" + digits)
        except phonenumbers.NumberParseException:
            problems.append((entry, gettext("has no country code we know")))
            continue
        if not phonenumbers.is_valid_number(parsed):
            problems.append(
                (entry, gettext("is not a valid +%(code)s number") % {"code": parsed.country_code})
            )
            continue
        if digits in seen:
            duplicates += 1
            continue
        seen.add(digits)
        numbers.append(digits)
    return NumberList(numbers, problems, duplicates)
