// Helpers injected into a JupyterLab page: what the notebook's live app (the Bokeh document
// whose root carries the class "paperscope-live-app") has received from the kernel.
window.paperscopeNb = {
  liveDoc() {
    const docs = (window.Bokeh && Bokeh.documents) || [];
    return docs.find(d => d.roots().some(r => (r.css_classes || []).includes("paperscope-live-app")));
  },
  // What the live app's plots show: every source's columns, each as its length and the sum of
  // its finite numbers. Changes when new data arrives, whether a plot was updated in place or
  // drawn afresh.
  signature() {
    const doc = this.liveDoc();
    if (!doc) return "";
    const total = (v) => (v && typeof v !== "string" && v.length !== undefined)
      ? Array.from(v).reduce((a, x) => a + total(x), 0) : (Number.isFinite(v) ? v : 0);
    const sources = [...doc.all_models].filter(m => m.type === "ColumnDataSource");
    return JSON.stringify(sources.map(s => Object.keys(s.data).sort().map(k => [k, s.data[k].length, total(s.data[k])])));
  },
  // Sources of the live app that hold more than a placeholder's single point.
  filled() {
    const doc = this.liveDoc();
    if (!doc) return 0;
    return [...doc.all_models].filter(m => m.type === "ColumnDataSource" && (m.get_length() || 0) > 1).length;
  },
};
