"""An alarm's description in the reader's language (seed F5, F35).

The engine stores each alarm's description in English, with the values it was made from and
the template it came from (its type, and the variant in its de-duplication key). A front end
says it again from the translated template with the same values; when that cannot be done (an
alarm from an older version whose template changed, a value the template does not have) the
stored English is shown, never nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mm_engine.alarms import SAID, fill, said_params, template_of, variant_of
from mm_engine.text import Msg
from mm_tui.i18n import _, tr


def description(alarm: Mapping[str, Any]) -> str:
    """What ``alarm`` (a row of ``Session.alarms_list`` or ``alarms_after``) says, in the
    current language. Values that are sentences, and words the catalogs carry (the service's
    "started", "run"...), are translated too."""
    stored = str(alarm.get("message") or "")
    try:
        template = template_of(
            str(alarm.get("type", "")), variant_of(str(alarm.get("dedupe_key") or ""))
        )
        params = alarm.get("params") or {}
        if isinstance(params, str):
            params = json.loads(params)
        if not isinstance(params, Mapping):
            return stored
        values = said_params({SAID: alarm.get("said") or {}, **params})
        if fill(template, values) != stored:
            return stored  # said from another template (an older version's): keep its words
        shown = {
            k: tr(v) if isinstance(v, Msg) else _(v) if isinstance(v, str) and v else v
            for k, v in values.items()
        }
        return fill(_(template), shown)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError):
        return stored  # an unknown type, a damaged translation or damaged stored values
