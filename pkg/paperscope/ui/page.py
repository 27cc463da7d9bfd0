"""The page template every paperscope page uses: no web fonts, so it renders offline."""

import panel as pn

ACCENT = "#0072B2"


def page(title: str, main: list, sidebar: list | None = None) -> pn.template.BootstrapTemplate:
    # The Fast templates pull Open Sans from a font CDN: a console error in a room without internet.
    options = {"sidebar": sidebar, "sidebar_width": 340} if sidebar else {}
    return pn.template.BootstrapTemplate(title=title, main=main, header_background=ACCENT, **options)
