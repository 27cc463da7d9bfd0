// Helpers injected into the lab page: what the browser has received from the server.
window.paperscope = {
  // Largest x value among all line glyph sources: for the spectra plot this is hidden_size.
  sources() {
    const doc = Bokeh.documents[0];
    return [...doc.all_models].filter(m => m.type === "ColumnDataSource" || (m.constructor && m.constructor.name === "ColumnDataSource"));
  },
  // Remember the sources on the page now; spectrumSize() then looks only at newer ones
  // (replaced plots can linger in the document's model set).
  mark() {
    this.seen = new Set(this.sources().map(s => s.id));
  },
  // Length of the newest singular-value spectrum (its x column is "index"): the hidden size.
  // Plots updated in place keep their sources; rebuilt plots get new ones.
  spectrumSize() {
    const spectra = this.sources().filter(s => s.data.index !== undefined);
    const fresh = spectra.filter(s => !(this.seen && this.seen.has(s.id)));
    return Math.max(0, ...(fresh.length ? fresh : spectra).map(s => s.data.index.length));
  },
  // The first singular values of every spectrum on screen: changes with any new run's data.
  spectrumSignature() {
    const spectra = this.sources().filter(s => s.data.index !== undefined);
    return JSON.stringify(spectra.map(s => Array.from((s.data.singular_value || []).slice(0, 3))));
  },
  maxLength() {
    return Math.max(0, ...this.sources().map(s => s.get_length() || 0));
  },
  // Record the time of every data change that reaches the browser, and of every status line
  // saying a run finished ("Done in ...").
  watch() {
    window.__dataChanges = [];
    window.__runsDone = [];
    Bokeh.documents[0].on_change((event) => {
      const model = event.model || (event.column_source);
      const isSource = model && (model.type === "ColumnDataSource" || (model.constructor && model.constructor.name === "ColumnDataSource"));
      // New data arrives in place (a source's columns) or as a rebuilt plot (a layout's children).
      if (isSource || event.attr === "children") {
        window.__dataChanges.push(performance.now());
      } else if (event.attr === "text" && String(event.value).includes("Done in")) {
        window.__runsDone.push(performance.now());
      }
    });
  },
};
