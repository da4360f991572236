from django import forms
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from groups.nxcloud import OperateType
from groups.phones import MAX_ENTRIES, numbers_for_nxcloud, split_entries
from groups.selectors import DEFAULT_GROUP_SORT, GROUP_SORTS

PAGE_SIZES = (25, 50, 100, 500)
DEFAULT_PAGE_SIZE = 50


class GroupListForm(forms.Form):
    """The group list's filters. A bad sort or page size falls back to the default."""

    q = forms.CharField(
        label=_("Filter"),
        required=False,
        max_length=200,
        strip=True,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": _("Name, groupId, customerId, remark or number"),
            }
        ),
    )
    sort = forms.ChoiceField(choices=[(key, key) for key in GROUP_SORTS], required=False)
    per_page = forms.TypedChoiceField(
        label=_("Per page"),
        choices=[(size, size) for size in PAGE_SIZES],
        coerce=int,
        required=False,
        empty_value=DEFAULT_PAGE_SIZE,
    )

    def values(self) -> tuple[str, str, int]:
        """(filter text, sort, page size), valid or default each."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return (
            data.get("q") or "",
            data.get("sort") or DEFAULT_GROUP_SORT,
            data.get("per_page") or DEFAULT_PAGE_SIZE,
        )


class SearchForm(forms.Form):
    """One number or a pasted list of up to MAX_ENTRIES."""

    q = forms.CharField(
        label=_("Phone numbers"),
        max_length=60_000,
        strip=True,
        error_messages={
            "required": _("Type a number, or paste a list of numbers."),
            "max_length": _("That is more text than 1,000 numbers take. Nothing was searched."),
        },
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "placeholder": _("+852 3575 3351, 3575 3351, 3351 … or paste a list, one a line"),
                "spellcheck": "false",
                "autocomplete": "off",
            }
        ),
    )
    anywhere = forms.BooleanField(
        label=_("Match anywhere in the number (3 digits or more)"), required=False
    )

    def clean_q(self) -> str:
        text = self.cleaned_data["q"]
        entries = split_entries(text)
        if not entries:
            raise forms.ValidationError(gettext("Type a number, or paste a list of numbers."))
        if len(entries) > MAX_ENTRIES:
            raise forms.ValidationError(
                gettext(
                    "At most %(limit)s numbers at a time — this list has %(count)s. "
                    "Nothing was searched; split the list and search each part."
                )
                % {"limit": f"{MAX_ENTRIES:,}", "count": f"{len(entries):,}"}
            )
        return text


MAX_GROUP_NUMBERS = 10_000


class NumbersField(forms.CharField):
    """A pasted list of full international numbers, checked with phonenumbers: the value is
    the digits, each once; every bad entry is named in the error."""

    widget = forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "autocomplete": "off",
                                   "placeholder": "+852 3575 3351\n+65 9123 4567\n…"})  # fmt: skip

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 300_000)
        kwargs.setdefault(
            "help_text", _("One a line (or separated by commas), each with its country code.")
        )
        super().__init__(**kwargs)

    def clean(self, value):
        text = super().clean(value)
        if not text:
            return []
        checked = numbers_for_nxcloud(text)
        if checked.problems:
            shown = checked.problems[:20]
            errors = [
                gettext("“%(entry)s” %(problem)s.") % {"entry": entry, "problem": why}
                for entry, why in shown
            ]
            if len(checked.problems) > len(shown):
                more = len(checked.problems) - len(shown)
                errors.append(
                    ngettext("… and %(count)s more.", "… and %(count)s more.", more)
                    % {"count": more}
                )
            raise forms.ValidationError(errors)
        if len(checked.numbers) > MAX_GROUP_NUMBERS:
            raise forms.ValidationError(
                gettext("That is %(count)s numbers; at most %(limit)s at once.")
                % {"count": f"{len(checked.numbers):,}", "limit": f"{MAX_GROUP_NUMBERS:,}"}
            )
        return checked.numbers


class GroupCreateForm(forms.Form):
    name = forms.CharField(label=_("Group name"), max_length=100, required=False)
    remark = forms.CharField(
        label=_("Remark"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    numbers = NumbersField(label=_("Numbers"))


class GroupNumbersForm(forms.Form):
    OPERATIONS = {
        "add": OperateType.ADD,
        "remove": OperateType.DELETE,
        "replace": OperateType.REPLACE,
    }
    operation = forms.ChoiceField(
        label=_("Change"),
        choices=[
            ("add", _("Add these numbers")),
            ("remove", _("Remove these numbers")),
            ("replace", _("Replace all numbers with these")),
        ],
        widget=forms.RadioSelect,
    )
    numbers = NumbersField(label=_("Numbers"))

    @property
    def operate_type(self) -> OperateType:
        return self.OPERATIONS[self.cleaned_data["operation"]]
