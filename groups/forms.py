from django import forms

from groups.selectors import DEFAULT_GROUP_SORT, GROUP_SORTS

PAGE_SIZES = (25, 50, 100, 500)
DEFAULT_PAGE_SIZE = 50


class GroupListForm(forms.Form):
    """The group list's filters. A bad sort or page size falls back to the default."""

    q = forms.CharField(
        label="Filter",
        required=False,
        max_length=200,
        strip=True,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Name, groupId, customerId, remark or number"}
        ),
    )
    sort = forms.ChoiceField(choices=[(key, key) for key in GROUP_SORTS], required=False)
    per_page = forms.TypedChoiceField(
        label="Per page",
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
