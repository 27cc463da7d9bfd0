"""``paperscope serve``: the gallery at ``/`` and each lab at ``/<slug>``."""

import panel as pn

from ..core.registry import all_labs, get_lab
from .app import build_app, extension
from .gallery import gallery


def routes(slugs=()) -> dict:
    """URL path -> page factory (a new page per browser session)."""
    labs = [get_lab(s) for s in slugs] if slugs else all_labs()
    pages = {"/": gallery}
    pages.update({f"/{lab.slug}": _page(lab.slug) for lab in labs})
    return pages


def _page(slug: str):
    def page():  # Panel wants a plain function: it calls it once per session
        return build_app(slug)
    return page


def origins_for(address: str, port: int, extra=()) -> list[str]:
    local = [f"localhost:{port}", f"127.0.0.1:{port}"]
    return list(dict.fromkeys([*local, f"{address}:{port}", *extra]))


def serve(slugs=(), *, port: int = 5006, address: str = "localhost", origins=(), show: bool = True,
          start: bool = True, **kwargs):
    """Start the server (blocks when ``start``); returns it."""
    extension()
    return pn.serve(routes(slugs), port=port, address=address,
                    websocket_origin=origins_for(address, port, origins), show=show, start=start,
                    title="paperscope", **kwargs)
