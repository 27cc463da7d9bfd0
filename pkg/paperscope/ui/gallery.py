"""The gallery index at ``/``: a searchable grid of cards, one per registered lab.

Everything comes from each lab's ``PAPER`` declaration, read without importing the lab, plus
its cached thumbnail (see :mod:`.thumbnails`); building the page runs no computation. Search
and tag filtering run in the browser (no round trip, no CDN): one small handler on the grid.
"""

from html import escape

import panel as pn

from ..core.registry import all_labs
from .page import ACCENT, page
from .thumbnails import data_uri

CSS = f"""
:host {{ width: 100%; }}
.controls {{ display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 4px 0 16px; }}
.controls input {{ flex: 1 1 260px; max-width: 420px; padding: 6px 10px; font-size: 15px;
                  border: 1px solid #bbb; border-radius: 6px; }}
.count {{ color: #666; font-size: 13px; margin-left: 4px; }}
.grid {{ display: grid; gap: 16px; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); }}
.card {{ display: flex; flex-direction: column; border: 1px solid #ddd; border-radius: 8px;
        overflow: hidden; background: #fff; }}
.card[hidden] {{ display: none; }}
.thumb {{ display: block; height: 210px; padding: 6px; box-sizing: border-box; background: #f4f6f8;
          border-bottom: 1px solid #eee; text-decoration: none; }}
.thumb img {{ display: block; width: 100%; height: 100%; object-fit: contain; }}
.placeholder {{ height: 100%; display: flex; align-items: center; justify-content: center;
               text-align: center; color: #888; font-size: 13px; padding: 0 16px; }}
.body {{ padding: 10px 14px 12px; display: flex; flex-direction: column; gap: 6px; flex: 1; }}
.body h3 {{ margin: 0; font-size: 17px; line-height: 1.3; }}
.body h3 a {{ color: {ACCENT}; text-decoration: none; }}
.cite {{ margin: 0; font-size: 13px; color: #444; }}
.claim {{ margin: 0; font-size: 14px; flex: 1; }}
.tags {{ display: flex; flex-wrap: wrap; gap: 4px; }}
button.tag {{ border: 1px solid #cde; background: #eef5fb; color: #245; border-radius: 12px;
             padding: 1px 9px; font-size: 12px; cursor: pointer; }}
button.tag.active {{ background: {ACCENT}; border-color: {ACCENT}; color: #fff; }}
code {{ font-size: 12px; color: #555; }}
"""

# Search words must all occur in a card's text; a pressed tag keeps only cards with that tag
# (pressing it again releases it). Runs on every input and click inside the gallery.
FILTER_JS = """
const root = this.getRootNode(), hit = event.target.closest && event.target.closest('[data-tag]');
if (event.type === 'click' && !hit) return;
if (hit) {
  const on = !hit.classList.contains('active');
  root.querySelectorAll('[data-tag]')
    .forEach(b => b.classList.toggle('active', on && b.dataset.tag === hit.dataset.tag));
}
const pressed = root.querySelector('[data-tag].active'), tag = pressed ? pressed.dataset.tag : '';
const words = root.querySelector('input.search').value.toLowerCase().split(/\\s+/).filter(Boolean);
const cards = root.querySelectorAll('.card');
let shown = 0;
cards.forEach(card => {
  const ok = (!tag || card.dataset.tags.split('|').includes(tag)) && words.every(w => card.dataset.search.includes(w));
  card.hidden = !ok; shown += ok;
});
root.querySelector('.count').textContent = shown + ' of ' + cards.length + ' labs';
"""

INTRO = ("Recent ML papers as live labs: move a paper's hyperparameters and watch its central claim "
         "recomputed as you go. Each lab also runs headless (`paperscope run`) and exports a "
         "publication figure with a provenance sidecar.")


def _tag_buttons(tags) -> str:
    return "".join(f'<button class="tag" data-tag="{escape(t)}">{escape(t)}</button>' for t in tags)


def lab_card(lab, prefix: str = "") -> str:
    """One card's HTML: thumbnail, title (a link to the app), citation, claim, tags."""
    paper = lab.paper
    href = escape(f"{prefix}{paper.slug}")
    image = data_uri(lab)
    thumb = (f'<img src="{image}" alt="{escape(paper.title)}: figure at quick size">' if image else
             '<div class="placeholder"><span>figure not rendered yet:<br>'
             f'<code>paperscope thumbnails {escape(paper.slug)}</code></span></div>')
    arxiv = f' · <a href="{escape(paper.arxiv_url)}">arXiv:{escape(paper.arxiv)}</a>' if paper.arxiv else ""
    search = " ".join([paper.title, paper.paper_title, paper.authors, paper.venue, paper.claim, paper.slug,
                       *paper.topics]).lower()
    return (f'<article class="card" data-search="{escape(search)}" data-tags="{escape("|".join(paper.topics))}">'
            f'<a class="thumb" href="{href}" tabindex="-1">{thumb}</a><div class="body">'
            f'<h3><a href="{href}">{escape(paper.title)}</a></h3>'
            f'<p class="cite">{escape(paper.citation)}{arxiv}</p>'
            f'<p class="claim">{escape(paper.claim)}</p>'
            f'<div class="tags">{_tag_buttons(paper.topics)}</div>'
            f'<code>paperscope run {escape(paper.slug)} --quick --export fig.pdf</code></div></article>')


def gallery_html(labs, prefix: str = "") -> str:
    """The search box, the tag filter and the grid of cards, as one HTML fragment."""
    tags = sorted({t for lab in labs for t in lab.paper.topics}, key=str.lower)
    handler = escape(FILTER_JS, quote=True)
    return (f'<div class="paperscope-gallery" oninput="{handler}" onclick="{handler}">'
            '<div class="controls"><input class="search" type="search" '
            'placeholder="Search title, authors, claim, tag" aria-label="search labs">'
            f'{_tag_buttons(tags)}<span class="count">{len(labs)} labs</span></div>'
            f'<div class="grid">{"".join(lab_card(lab, prefix) for lab in labs)}</div></div>')


def gallery(prefix: str = ""):
    """The index page served at ``/``."""
    intro = pn.pane.Markdown(INTRO, sizing_mode="stretch_width")
    grid = pn.pane.HTML(gallery_html(all_labs(), prefix), sizing_mode="stretch_width", stylesheets=[CSS])
    return page("paperscope gallery", [intro, grid])
