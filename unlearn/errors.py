"""One type for the errors a user can fix. Its message says what happened and what to do; handlers in
ui/ and the command line show it as it is. Anything else reaching a handler is a bug: it is shown as
an unexpected error with the traceback in the server's log (ui/common.py `guarded`), never hidden by
a broad `except KeyError`/`except TypeError`.

UserError is a ValueError, so code written against ValueError keeps working; DataError (data files),
ModelLoadError (models), AccessDenied (the server's policy) and PairError (imported checkpoints)
derive from it.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input, a missing choice or a refused request, with a message that says what to change."""
