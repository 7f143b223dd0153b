"""The back office's usage import, run in the background, with its progress kept beside the upload.

The upload is stored first (MEDIA_ROOT/usage/uploads/<token>/) so a worker on
another process can read it; the import itself is one database transaction,
so how far it got cannot be read from the database while it runs: it is
written to a small JSON file (MEDIA_ROOT/usage/progress/<token>.json) that the
page polls. The file is replaced atomically, so a reader never sees half of it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.tasks import task
from django.utils import timezone

from encaisse.core.errors import DomainError
from encaisse.core.origin import origin

from .models import Partner, UsageImport
from .services import import_usage_file

UPLOADS = "usage/uploads"
PROGRESS = "usage/progress"
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


def upload_name(token: str, filename: str) -> str:
    """Where an upload is stored in the default storage; the token keeps two uploads of one name apart."""
    return f"{UPLOADS}/{token}/{Path(filename).name or 'upload'}"


def progress_path(token: str) -> Path:
    if not _TOKEN.match(token):
        raise ValueError("not an upload token")
    return Path(settings.MEDIA_ROOT) / PROGRESS / f"{token}.json"


def read_progress(token: str) -> dict[str, Any] | None:
    try:
        return json.loads(progress_path(token).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def write_progress(token: str, **values: Any) -> dict[str, Any]:
    """Merge values into the upload's progress file, replaced in one rename."""
    path = progress_path(token)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {**(read_progress(token) or {}), **values, "updated_at": timezone.now().isoformat()}
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(state, out)
    os.replace(temporary, path)
    return state


@task
def import_usage_upload(*, token: str, stored_name: str, partner_id: int, period: str, filename: str,
                        user_id: int | None = None) -> dict[str, Any]:
    """Import a stored upload for a partner and month; its progress and outcome go to the progress file."""
    partner = Partner.objects.get(pk=partner_id)
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    write_progress(token, state="running", lines_read=0)

    def on_progress(lines_read: int) -> None:
        write_progress(token, state="running", lines_read=lines_read)

    try:
        with origin("backoffice"), default_storage.open(stored_name, "rb") as stream:
            result = import_usage_file(partner=partner, period=date.fromisoformat(period), file=stream,
                                       filename=filename, by=user, on_progress=on_progress)
    except DomainError as error:
        return write_progress(token, state="failed", error=error.as_dict())
    except Exception:
        # A bug: the page must stop waiting; the worker logs the traceback.
        write_progress(token, state="failed", error={"code": "internal_error", "message": ""})
        raise
    if result.pk is not None and not result.original:
        # The stored upload becomes the original file of the history's download link.
        UsageImport.objects.filter(pk=result.pk, original="").update(original=stored_name)
    else:
        default_storage.delete(stored_name)  # the import kept its own copy (or, unchanged, had one already)
    return write_progress(token, state="done", import_id=result.pk, lines_read=result.lines_read,
                          unchanged=bool((result.report or {}).get("unchanged")))
