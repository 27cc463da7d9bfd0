// Helpers injected into a JupyterLab page: what the notebook's live app (the Bokeh document
// whose root carries the class "paperscope-live-app") has received from the kernel.
window.paperscopeNb = {
  liveDoc() {
    const docs = (window.Bokeh && Bokeh.documents) || [];
    return docs.find(d => d.roots().some(r => (r.css_classes || []).includes("paperscope-live-app")));
  },
  // What the live app's plots show: every source's columns (length and first values). Changes
  // when new data arrives, whether a plot was updated in place or drawn afresh.
  signature() {
    const doc = this.liveDoc();
    if (!doc) return "";
    const sources = [...doc.all_models].filter(m => m.type === "ColumnDataSource");
    return JSON.stringify(sources.map(s => Object.keys(s.data).sort().map(k => {
      const column = s.data[k];
      return [k, column.length, Array.from(column.slice ? column.slice(0, 3) : [])];
    })));
  },
  // Sources of the live app that hold more than a placeholder's single point.
  filled() {
    const doc = this.liveDoc();
    if (!doc) return 0;
    return [...doc.all_models].filter(m => m.type === "ColumnDataSource" && (m.get_length() || 0) > 1).length;
  },
};
