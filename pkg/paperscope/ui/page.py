"""The page template every paperscope page uses: no web fonts, so it renders offline."""

import panel as pn

ACCENT = "#0072B2"


def page(title: str, main: list, sidebar: list | None = None) -> pn.template.BootstrapTemplate:
    # The Fast templates pull Open Sans from a font CDN: a console error in a room without internet.
    options = {"sidebar": sidebar, "sidebar_width": 340} if sidebar else {}
    # No busy spinner: Panel's busy state is one per server process, so every event of every
    # session turned every page's spinner on and off, a patch to each page: on a workshop
    # server of 30 sessions that was most of the event loop's time (benchmarks/room_load.py),
    # and it spun for participants whenever anyone moved a slider. Each app shows its own run.
    return pn.template.BootstrapTemplate(title=title, main=main, header_background=ACCENT, busy_indicator=None,
                                         **options)
