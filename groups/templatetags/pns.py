from datetime import timedelta

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils.html import format_html
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


@register.filter
def phone_in(digits: str, region: str) -> str:
    """Digits as people read them, in the tenant's region ("+852 3575 3351")."""
    return format_in_region(digits, region)


def phone_html(digits: str, tenant, *, can_reveal: bool, full: bool = False) -> str:
    """A stored number as a page shows it: masked, with a Show button for those who may
    reveal it; in full when `full` (a number the user typed, or one they chose to reveal)."""
    shown = format_in_region(digits, tenant.default_region)
    if full:
        return format_html('<span class="phone">{}</span>', shown)
    masked = mask_number(digits, shown)
    if not can_reveal:
        return format_html('<span class="phone masked">{}</span>', masked)
    return format_html(
        '<span class="phone-reveal"><span class="phone masked">{}</span> <button type="submit"'
        ' class="button-link reveal-button" form="reveal-form" name="token" value="{}"'
        ' aria-label="{}">{}</button></span>',
        masked,
        reveal_token(tenant.pk, digits),
        gettext("Show the full number %(number)s") % {"number": masked},
        gettext("Show"),
    )


@register.simple_tag(takes_context=True)
def phone(context, digits: str, tenant, full: bool = False) -> str:
    """`{% phone digits tenant %}`: see phone_html."""
    return phone_html(digits, tenant, can_reveal=can_reveal(context), full=full)


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
                phone_html(
                    match.digits, match.tenant, can_reveal=revealer, full=match.shown_in_full
                ),
                match.kind,
                match.kind_label,
                match.snapshot_age_text,
            )
        )
    # Every part went through format_html.
    return mark_safe("\n".join(rows))  # noqa: S308  # nosec B308 B703
