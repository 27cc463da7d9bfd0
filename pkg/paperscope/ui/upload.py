"""The upload control of a lab's ``data`` parameter: the user's own data set in the app.

A file picker (.csv or .npz) and a "Use built-in data" button. An upload is read from the
bytes the browser sent, checked in memory (``core.data``: one message per problem, the limits
stated under the picker), kept in the process-local registry and selected by setting
``params.data`` to its key, which starts a new run as any parameter change does. Nothing is
written to disk. The lead's app shell places :meth:`DataUpload.panel` in the sidebar::

    upload = data_upload(self.params)   # None for a lab without a data parameter
    if upload is not None:
        sidebar.append(upload.panel())
"""

import panel as pn

from ..core import data
from ..core.errors import DataError

ACCEPT = ",".join(data.SUFFIXES)  # ".csv,.npz"


class DataUpload:
    """Upload control bound to one session's lab parameters (which must declare ``data``)."""

    def __init__(self, params):
        self.params = params
        self.file = pn.widgets.FileInput(accept=ACCEPT, multiple=False, sizing_mode="stretch_width")
        self.builtin = pn.widgets.Button(label="Use built-in data", sizing_mode="stretch_width")
        self.message = pn.pane.Alert("", alert_type="info", sizing_mode="stretch_width")
        self.file.param.watch(self._uploaded, "value")
        self.builtin.on_click(lambda event: self.use_builtin())
        # data may change elsewhere too (a preset, a link, the notebook): the message follows
        params.param.watch(lambda event: self._show_current(), "data")
        self._show_current()

    def upload(self, raw: bytes, filename: str) -> bool:
        """Check ``raw`` (the file's bytes) and, if it passes, use it; else show why. Returns
        whether the data is now in use."""
        try:
            dataset = data.load(raw, kind=data.kind_of(filename, raw), name=filename)
        except DataError as exc:
            self.message.alert_type = "danger"
            self.message.object = f"{filename} not used: {exc}"
            return False
        self.params.data = data.register(dataset)  # a new run starts with it
        self._show_current()
        return True

    def use_builtin(self) -> None:
        self.params.data = data.BUILTIN
        self._show_current()

    def _uploaded(self, event) -> None:
        if event.new is None:
            return
        self.upload(event.new, self.file.filename or "upload")
        # the widget need not hold the file any longer (a workshop's sessions each keep one)
        self.file.param.update(value=None)

    def _show_current(self) -> None:
        key = self.params.data
        self.builtin.disabled = key == data.BUILTIN
        self.message.alert_type = "info"
        if key == data.BUILTIN:
            builtin = data.BUILTINS[type(self.params).BUILTIN_DATA]()
            self.message.object = f"Using the built-in data: {builtin.describe()}."
            return
        try:
            dataset = data.lookup(key)
        except DataError as exc:
            self.message.alert_type, self.message.object = "danger", str(exc)
            return
        self.message.object = (f"Using {dataset.name}: {dataset.n} rows, {dataset.d} features, "
                               f"{dataset.k} classes, hash {dataset.key}.")

    def panel(self) -> pn.Column:
        doc = type(self.params).param["data"].doc
        return pn.Column(
            pn.pane.Markdown(f"**Your own data**  \n{doc}.", sizing_mode="stretch_width"),
            self.file, self.builtin, self.message,
            pn.pane.Markdown(f"<small>{data.FORMATS_TEXT}; {data.limits_text()}. Read in memory, "
                             "never stored.</small>", sizing_mode="stretch_width"),
            sizing_mode="stretch_width")


def data_upload(params) -> DataUpload | None:
    """The upload control for ``params``, or ``None`` when the lab learns from no data set."""
    return DataUpload(params) if "data" in type(params).param else None
