"""CSV and .xlsx downloads: streamed, RFC 4180, and safe to open in a spreadsheet.

Free-text cells that a spreadsheet would run as a formula (a leading `=`, `+`, `-`, `@`, tab
or carriage return) get a leading apostrophe, as OWASP advises. Phone columns are written
exactly, as long as they look like phone numbers; anything else in them is treated as text.
"""

import csv
import io
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.http import FileResponse, StreamingHttpResponse
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
TEXT, PHONE, EXACT = "text", "phone", "exact"
CHUNK_CHARS = 64 * 1024  # what one streamed chunk holds: tens of KB, not one row
EXCEL_MAX_ROWS = 1_048_576
# Masked numbers (`85235••••51`) are phone-like too: nothing in them can be a formula.
_PHONE_LIKE = re.compile(r"\+?[0-9•][0-9•,]*")
UTF8_BOM = "\ufeff"

FinishCallback = Callable[[int, bool], None]


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = TEXT  # TEXT: neutralised; PHONE: exact when phone-like; EXACT: as it is


def spreadsheet_safe(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading apostrophe; numbers and
    other values pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return "" if value is None else value


def phone_safe(value: Any) -> Any:
    """Digits (with a leading + or commas between numbers) exactly; anything else as text."""
    if not value or (isinstance(value, str) and _PHONE_LIKE.fullmatch(value)):
        return "" if value is None else value
    return spreadsheet_safe(value)


def _exact(value: Any) -> Any:
    return "" if value is None else value


_CLEANERS = {TEXT: spreadsheet_safe, PHONE: phone_safe, EXACT: _exact}


def clean_row(columns: Sequence[Column], row: Sequence[Any]) -> list[Any]:
    return [_CLEANERS[c.kind](value) for c, value in zip(columns, row, strict=True)]


def cleaned_blocks(
    columns: Sequence[Column], rows: Iterable[Sequence[Any]]
) -> Iterator[list[list[Any]]]:
    """Rows made safe for a spreadsheet, one row a block."""
    for row in rows:
        yield [clean_row(columns, row)]


def csv_chunks(
    columns: Sequence[Column],
    blocks: Iterable[Sequence[Sequence[Any]]],
    *,
    bom: bool = False,
    on_finish: FinishCallback | None = None,
) -> Iterator[bytes]:
    """The CSV file in chunks of about CHUNK_CHARS, from blocks of ready-cleaned rows (the
    numbers export makes one block a group, so a million rows are written in C).
    `on_finish(rows, complete)` runs when the download ends, whole or not."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # RFC 4180: quotes where needed, CRLF line ends
    if bom:
        buffer.write(UTF8_BOM)
    writer.writerow([c.header for c in columns])
    count = 0
    complete = False
    try:
        for block in blocks:
            writer.writerows(block)
            count += len(block)
            if buffer.tell() >= CHUNK_CHARS:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        complete = True
        yield buffer.getvalue().encode()
    finally:
        if on_finish is not None:
            on_finish(count, complete)


def csv_response(
    filename: str,
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    *,
    bom: bool = False,
    on_finish: FinishCallback | None = None,
) -> StreamingHttpResponse:
    chunks = csv_chunks(columns, cleaned_blocks(columns, rows), bom=bom, on_finish=on_finish)
    return streaming_csv_response(filename, chunks)


def streaming_csv_response(filename: str, chunks: Iterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def xlsx_response(
    filename: str,
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    *,
    on_finish: FinishCallback | None = None,
) -> FileResponse:
    """An .xlsx file built in openpyxl's write-only mode on disk, then sent. Text cells are
    text (never formulas); phone columns are text, so Excel keeps `85235753351` and `+852…`
    as they are. At most Excel's row limit, with a last row saying the file was cut."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Export")
    sheet.append([c.header for c in columns])
    count = 0
    complete = True
    for row in rows:
        if count == EXCEL_MAX_ROWS - 2:
            complete = False
            sheet.append(
                [f"Cut at Excel's limit of {EXCEL_MAX_ROWS:,} rows: download the CSV for all."]
            )
            break
        sheet.append([_xlsx_cell(sheet, c, value) for c, value in zip(columns, row, strict=True)])
        count += 1
    # FileResponse closes (and so deletes) the file once it is sent.
    file = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115
    workbook.save(file)
    file.seek(0)
    if on_finish is not None:
        on_finish(count, complete)
    return FileResponse(
        file,
        as_attachment=True,
        filename=filename,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def _xlsx_cell(sheet, column: Column, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # a string, even when it starts with "="
        return cell
    return value
