"""Workers that stop on something unforeseen are said, never fatal.

Every TUI worker runs with ``exit_on_error=False``, so a failure cannot end the app; Textual
then only records it, and tells nobody but the node that started the worker (its
``Worker.StateChanged`` does not bubble). Panels, dialogs and screens take this mixin to hand
such a failure to the app, which says it in a notification.
"""

from __future__ import annotations

from typing import Any

from textual.worker import Worker, WorkerState


class SaysWorkerFailures:
    app: Any

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.app.worker_failed(event.worker)
