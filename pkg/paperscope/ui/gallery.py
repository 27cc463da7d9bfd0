"""The gallery index: every registered lab with its paper, claim and a link to its app."""

import panel as pn

from ..core.registry import all_labs
from .page import page


def lab_card(lab, prefix: str = "") -> pn.viewable.Viewable:
    info = lab.info
    text = (f"### [{info.title}]({prefix}{info.slug})\n\n{info.paper} · "
            f"[arXiv:{info.arxiv}](https://arxiv.org/abs/{info.arxiv})\n\n*Claim:* {info.claim}\n\n"
            f"`paperscope run {info.slug} --quick --export fig.pdf`")
    return pn.pane.Markdown(text, css_classes=["lab-card"], sizing_mode="stretch_width",
                            styles={"border": "1px solid #ddd", "border-radius": "6px", "padding": "0 12px"})


def gallery(prefix: str = ""):
    """The index page served at ``/``."""
    intro = pn.pane.Markdown(
        "Recent ML papers as live labs: move a paper's hyperparameters and watch its central claim "
        "recomputed as you go. Each lab also runs headless (`paperscope run`) and exports a "
        "publication figure with a provenance sidecar.", sizing_mode="stretch_width")
    cards = [lab_card(lab, prefix) for lab in all_labs()]
    return page("paperscope gallery", [intro, *cards])
