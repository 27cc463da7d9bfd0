// Helpers injected into a JupyterLab page: what the notebook's live app (the Bokeh document
// whose root carries the class "paperscope-live-app") has received from the kernel.
window.paperscopeNb = {
  liveDoc() {
    const docs = (window.Bokeh && Bokeh.documents) || [];
    return docs.find(d => d.roots().some(r => (r.css_classes || []).includes("paperscope-live-app")));
  },
  // Start counting data changes of the live app's column sources (once it is on the page).
  watch() {
    const doc = this.liveDoc();
    if (!doc) return false;
    if (!window.__nbChanges) {
      window.__nbChanges = [];
      doc.on_change((event) => {
        const model = event.model || event.column_source;
        if (model && model.type === "ColumnDataSource") window.__nbChanges.push(performance.now());
      });
    }
    return true;
  },
  changes() {
    return (window.__nbChanges || []).length;
  },
  // Sources of the live app that hold more than a placeholder's single point.
  filled() {
    const doc = this.liveDoc();
    if (!doc) return 0;
    return [...doc.all_models].filter(m => m.type === "ColumnDataSource" && (m.get_length() || 0) > 1).length;
  },
};
