"""Contact import: reading client lists, normalizing phones, storing lists and opt-outs.

A pure module: no Flask. Functions that write take a SQLAlchemy Connection and never commit;
the caller owns the transaction, so a failed import leaves nothing behind once rolled back.
"""

from .browse import (
    ListInUseError,
    Page,
    delete_list,
    field_columns,
    list_columns,
    list_rejects,
    search_contacts,
)
from .errors import ImportFileError, InvalidPhoneError
from .phones import detect_phone_column, normalize_phone, normalize_phones
from .pipeline import (
    FilePreview,
    ImportReport,
    OptOutImportReport,
    import_contacts,
    import_opt_outs,
    preview_file,
    read_rows,
)
from .read import DEFAULT_LIMITS, ImportLimits
from .rows import add_opt_outs, rejects_csv

__all__ = [
    "DEFAULT_LIMITS",
    "FilePreview",
    "ImportFileError",
    "ImportLimits",
    "ImportReport",
    "InvalidPhoneError",
    "ListInUseError",
    "OptOutImportReport",
    "Page",
    "add_opt_outs",
    "delete_list",
    "detect_phone_column",
    "field_columns",
    "import_contacts",
    "import_opt_outs",
    "list_columns",
    "list_rejects",
    "normalize_phone",
    "normalize_phones",
    "preview_file",
    "read_rows",
    "rejects_csv",
    "search_contacts",
]
