// Helpers injected into the lab page: what the browser has received from the server.
window.paperscope = {
  // Largest x value among all line glyph sources: for the spectra plot this is hidden_size.
  sources() {
    const doc = Bokeh.documents[0];
    return [...doc.all_models].filter(m => m.type === "ColumnDataSource" || (m.constructor && m.constructor.name === "ColumnDataSource"));
  },
  maxLength() {
    return Math.max(0, ...this.sources().map(s => s.get_length() || 0));
  },
  // Record the time of every data change that reaches the browser.
  watch() {
    window.__dataChanges = [];
    Bokeh.documents[0].on_change((event) => {
      const model = event.model || (event.column_source);
      if (model && (model.type === "ColumnDataSource" || (model.constructor && model.constructor.name === "ColumnDataSource"))) {
        window.__dataChanges.push(performance.now());
      }
    });
  },
};
