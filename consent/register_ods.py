"""The Art. 30 register as an OpenDocument spreadsheet (ODS, ISO/IEC 26300), beside CSV
and JSON (:mod:`consent.register`).

The CNIL's model register is a workbook: a front page, then one *fiche* per activity. The
ODS export is that workbook: one sheet per ``feuille`` of :func:`consent.register.register_rows`
(the same rows as the CSV, so the two cannot disagree), with the columns ``rubrique, élément,
champ, valeur``. Every cell is text: a retention such as ``P1Y`` or a SIRET must not be read
as a number or a date by the spreadsheet. Written with odfpy (no I/O but the returned bytes).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime

from odf.opendocument import OpenDocumentSpreadsheet
from odf.table import Table, TableCell, TableColumn, TableRow
from odf.text import P

from consent.catalogue import Controller
from consent.register import COLUMNS, RegisterEntry, register_rows

__all__ = ["MEDIA_TYPE", "register_ods"]

MEDIA_TYPE = "application/vnd.oasis.opendocument.spreadsheet"

#: Characters a sheet name cannot hold in LibreOffice and Excel.
_FORBIDDEN = str.maketrans(dict.fromkeys("[]*?:/\\'", "-"))


def _row(values: Sequence[str]) -> TableRow:
    row = TableRow()
    for value in values:
        cell = TableCell(valuetype="string")
        for line in value.split("\n"):
            cell.addElement(P(text=line))
        row.addElement(cell)
    return row


def register_ods(
    controller: Controller, entries: Sequence[RegisterEntry], *, generated_at: datetime
) -> bytes:
    """The register as ODS bytes: one sheet per page of the CNIL model, front page first."""
    sheets: dict[str, list[tuple[str, str, str, str]]] = {}
    for sheet, *fields in register_rows(controller, entries, generated_at=generated_at):
        section, item, name, value = fields
        sheets.setdefault(sheet, []).append((section, item, name, value))
    document = OpenDocumentSpreadsheet()
    for sheet, rows in sheets.items():
        table = Table(name=sheet.translate(_FORBIDDEN)[:99])
        table.addElement(TableColumn(numbercolumnsrepeated=len(COLUMNS) - 1))
        table.addElement(_row(COLUMNS[1:]))
        for values in rows:
            table.addElement(_row(values))
        document.spreadsheet.addElement(table)
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()
