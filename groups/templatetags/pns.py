from datetime import timedelta

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext

from groups.phones import format_in_region
from groups.privacy import can_see_full_numbers, mask_number, reveal_token

register = template.Library()


@register.filter
def pluralize_minutes(value: timedelta) -> str:
    minutes = max(1, round(value.total_seconds() / 60))
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


@register.filter
def duration_ms(value: int | None) -> str:
    """1234 → "1.2 s"; 87 → "87 ms"; None → "—"."""
    if value is None:
        return "—"
    if value < 1000:
        return gettext("%(ms)s ms") % {"ms": value}
    if value < 60_000:
        return gettext("%(s)s s") % {"s": f"{value / 1000:.1f}"}
    return gettext("%(min)s min %(s)s s") % {"min": value // 60_000, "s": value % 60_000 // 1000}


class PhoneHtml:
    """Stored numbers as a page shows them: masked, with a Show button (and its token) for
    those who may reveal them; in full when asked (a number the user typed, or one they chose
    to reveal). Plain string building, not format_html: a group page holds up to 10,000."""

    def __init__(self, tenant, *, can_reveal: bool):
        self.tenant_id = tenant.pk
        self.region = tenant.default_region
        self.can_reveal = can_reveal
        self.show = escape(gettext("Show"))
        self.label = gettext("Show the full number %(number)s")

    def __call__(self, digits: str, *, full: bool = False) -> str:
        shown = format_in_region(digits, self.region)
        if full:
            return f'<span class="phone">{escape(shown)}</span>'
        masked = escape(mask_number(digits, shown))
        if not self.can_reveal:
            return f'<span class="phone masked">{masked}</span>'
        token = reveal_token(self.tenant_id, digits)  # base64: nothing to escape
        label = escape(self.label) % {"number": masked}
        return (
            f'<span class="phone-reveal"><span class="phone masked">{masked}</span> <button'
            f' class="reveal" form="reveal-form" name="token" value="{token}"'
            f' aria-label="{label}">{self.show}</button></span>'
        )


@register.simple_tag(takes_context=True)
def phone(context, digits: str, tenant, full: bool = False) -> str:
    """`{% phone digits tenant %}`: see PhoneHtml."""
    return mark_safe(PhoneHtml(tenant, can_reveal=can_reveal(context))(digits, full=full))  # noqa: S308  # nosec B308 B703


@register.simple_tag(takes_context=True)
def number_rows(context, numbers, tenant, full: bool = False, start: int = 1) -> str:
    """The group page's table rows, numbered from `start`; built here rather than with
    template tags, which took a second for a 10,000-number group."""
    phone_html = PhoneHtml(tenant, can_reveal=can_reveal(context))
    rows = []
    for position, number in enumerate(numbers, start=start):
        if full:
            cells = (
                f'<td class="phone">{escape(number.formatted)}</td>'
                f'<td class="mono">{escape(number.digits)}</td>'
            )
        else:
            cells = f"<td>{phone_html(number.digits)}</td>"
        region = escape(number.region) or "—"
        rows.append(f'<tr><td class="num muted">{position}</td>{cells}<td>{region}</td></tr>')
    # Every value went through escape().
    return mark_safe("\n".join(rows))  # noqa: S308  # nosec B308 B703


def can_reveal(context) -> bool:
    request = context.get("request")
    return request is not None and can_see_full_numbers(request.user)


@register.filter
def percent_of(done: int | None, total: int | None) -> int:
    if not total:
        return 0
    return min(100, round(100 * (done or 0) / total))


@register.simple_tag(takes_context=True)
def search_entry_rows(context, entry) -> str:
    """The result rows of one searched entry.

    Built here rather than with template tags: a pasted list renders thousands of rows, and
    Django's template engine spent most of a 1,000-number search doing it.
    """
    rows = []
    revealer = can_reveal(context)
    phone_html = {}  # per tenant: matches of one entry may sit in several
    count = len(entry.matches)
    also_elsewhere = format_html(
        ' <span class="flag" title="{}">{}</span>',
        gettext("This number is in more than one group or tenant"),
        gettext("also elsewhere"),
    )
    for index, match in enumerate(entry.matches):
        head = ""
        if index == 0:
            read_as = ""
            if entry.query.read_as != entry.query.text:
                read_as = format_html(
                    '<div class="muted small">{}</div>',
                    gettext("read as %(number)s") % {"number": entry.query.read_as},
                )
            matches = ngettext("%(count)s match", "%(count)s matches", entry.total) % {
                "count": intcomma(entry.total)
            }
            if entry.more:
                matches = gettext(
                    "%(matches)s; the first %(shown)s shown — type more digits to narrow it down"
                ) % {"matches": matches, "shown": count}
            head = format_html(
                '<th scope="rowgroup" rowspan="{}" class="entry-cell"><span class="mono">{}'
                '</span>{}<div class="muted small">{}</div></th>',
                count,
                entry.query.text,
                read_as,
                matches,
            )
        flag = also_elsewhere if match.elsewhere else ""
        tenant = match.tenant
        if tenant.pk not in phone_html:
            phone_html[tenant.pk] = PhoneHtml(tenant, can_reveal=revealer)
        number = phone_html[tenant.pk](match.digits, full=match.shown_in_full)
        rows.append(
            format_html(
                '<tr>{}<td>{}</td><td><a href="{}">{}</a>{}</td><td class="mono small">{}</td>'
                "<td>{}</td>"
                '<td><span class="kind kind-{}">{}</span></td><td class="small muted">{}</td></tr>',
                head,
                match.tenant.name,
                match.url,
                match.group.name or match.group.group_id,
                flag,
                match.group.group_id,
                # PhoneHtml built it with escape().
                mark_safe(number),  # noqa: S308  # nosec B308 B703
                match.kind,
                match.kind_label,
                match.snapshot_age_text,
            )
        )
    # Every part went through format_html or escape().
    return mark_safe("\n".join(rows))  # noqa: S308  # nosec B308 B703
