/* Sales & Marketing, Connected: explorables, predict-then-reveal and self-checks.
 * Works in the static site with no server. Answers stay in this browser (localStorage),
 * keyed by page and component, and survive a reload; "Reset" clears them. */
(function () {
  "use strict";
  document.documentElement.classList.add("smi-js");
  var PAGE = location.pathname.replace(/index\.html$/, "");
  function storeKey(key) { return "smi:" + PAGE + ":" + key; }
  function load(key) { try { return JSON.parse(localStorage.getItem(storeKey(key))); } catch (e) { return null; } }
  function save(key, value) { try { localStorage.setItem(storeKey(key), JSON.stringify(value)); } catch (e) { /* private mode */ } }
  function forget(key) { try { localStorage.removeItem(storeKey(key)); } catch (e) { /* ignore */ } }

  /* Find the dataset that carries the rows the numbers table shows (one per output, or
   * live.table.rows rows keyed by live.table.key), with every column the table shows, so the
   * table follows the controls. */
  function liveDataset(view, n, fields) {
    var names = Object.keys(view.getState({ data: function () { return true; }, signals: function () { return false; } }).data || {});
    for (var i = 0; i < names.length; i++) {
      var rows;
      try { rows = view.data(names[i]); } catch (e) { continue; }
      if (rows && rows.length === n && !("datum" in rows[0]) &&
          fields.every(function (c) { return c in rows[0]; })) { return names[i]; }
    }
    return null;
  }

  /* A range slider's readout shows the value to the slider's step (a preset's computed SMI
   * connection would otherwise show 17 digits). */
  function roundReadouts(vis) {
    vis.parentNode.querySelectorAll(".vega-bind input[type=range]").forEach(function (input) {
      var span = input.nextElementSibling;  // Vega's readout: the span right after the slider
      if (!span || span.tagName !== "SPAN") { return; }
      var step = String(input.step || "1"), d = step.indexOf(".") < 0 ? 0 : step.length - step.indexOf(".") - 1;
      if (span && span.textContent !== "" && !isNaN(Number(span.textContent))) {
        var text = Number(span.textContent).toFixed(d);
        if (span.textContent !== text) { span.textContent = text; }
      }
    });
  }

  /* Phones. A chart whose box is narrower than NARROW px is embedded with its long titles
   * wrapped into lines and its long category labels into two lines (bands made taller to hold
   * them). smi_charts/book.py draws the phone's fallback the same way (narrow_spec, _narrow_svg):
   * keep them in step. Once drawn, and on every resize, the plot narrows by whatever still overflows the box
   * (never below MIN_PLOT px, never wider than designed): nothing is cut and the page never
   * scrolls sideways. */
  var NARROW = 600, MIN_PLOT = 100;
  // in a box under TINY px (a phone narrower than ~360 px) the values drawn beside the bars leave
  // the plot no room: they are left out of the chart (its numbers table, just below, has them)
  var TINY = 320;
  // two lines, split at the last space before the middle (+4), else at the first space
  var BEFORE = "lastindexof(slice(datum.label, 0, ceil(length(datum.label) / 2) + 4), ' ')";
  var SPLIT_AT = "(" + BEFORE + " > 0 ? " + BEFORE + " : indexof(datum.label, ' '))";
  var WRAP_LABEL = "length(datum.label) > 16 && " + SPLIT_AT + " > 0 ? [slice(datum.label, 0, " + SPLIT_AT +
    "), slice(datum.label, " + SPLIT_AT + " + 1)] : datum.label";
  function wrapText(text, chars) {
    if (typeof text !== "string" || text.length <= chars) { return text; }
    var lines = [""];
    text.split(" ").forEach(function (word) {
      var last = lines[lines.length - 1];
      if (last && (last + " " + word).length > chars) { lines.push(word); } else { lines[lines.length - 1] = last ? last + " " + word : word; }
    });
    return lines;
  }
  function wrapLines(text, chars) {  // a string or a list of lines (one paragraph), rewrapped
    return wrapText(Array.isArray(text) ? text.join(" ") : text, chars);
  }
  function narrowSpec(spec, box) {
    var t = spec.title;  // ~9 px per character at the theme's 16 px title, ~7.5 at 13 px
    if (typeof t === "string" || Array.isArray(t)) { spec.title = wrapLines(t, Math.floor(box / 9)); }
    else if (t && typeof t === "object") {
      t.text = wrapLines(t.text, Math.floor(box / 9));
      if (t.subtitle) { t.subtitle = wrapLines(t.subtitle, Math.floor(box / 7.5)); }
    }
    function grow(s) { if (typeof s.height === "number") { s.height = Math.round(s.height * 1.5); } }
    // whether a view (with its layers and inner spec) had a nominal axis wrapped onto two lines
    function units(s) {
      if (!s || typeof s !== "object") { return false; }
      var wrapped = false;
      if (s.mark === "text" || (s.mark && s.mark.type === "text")) {
        // a value and its band ("0.369  (0.341-0.398)", two spaces apart) on two lines
        s.mark = Object.assign({ type: "text" }, typeof s.mark === "object" ? s.mark : {}, { lineBreak: "  " });
        if (box < TINY && s.encoding && s.encoding.text) { s.encoding.text = { value: "" }; }
      }
      var color = s.encoding && s.encoding.color;
      if (color && color.legend !== null) { color.legend = Object.assign({}, color.legend, { labelExpr: WRAP_LABEL }); }
      ["x", "y"].forEach(function (ch) {
        var enc = s.encoding && s.encoding[ch];
        if (!enc || enc.axis === null) { return; }
        if (enc.title) { enc.title = wrapLines(enc.title, Math.floor(box / 9)); }
        if (ch === "y" && enc.type === "nominal") {
          enc.axis = Object.assign({}, enc.axis, { labelExpr: WRAP_LABEL });
          wrapped = true;
        }
      });
      (s.layer || []).forEach(function (u) { if (units(u)) { wrapped = true; } });
      if (units(s.spec)) { wrapped = true; }
      // the panels of a concatenated chart (the debrief's class chart) each grow on their own
      (s.vconcat || s.hconcat || s.concat || []).forEach(function (u) { if (units(u)) { grow(u); } });
      return wrapped;
    }
    if (units(spec)) { grow(spec); }
    return spec;
  }
  // the plot width fitWidth may narrow: a single view's, or the one width every panel of a
  // vertically concatenated chart shares (Vega-Lite gives them one width signal)
  function designedWidth(spec) {
    if (typeof spec.width === "number") { return spec.width; }
    var widths = (spec.vconcat || []).map(function (u) { return u.width; });
    return widths.length && widths.every(function (w) { return typeof w === "number" && w === widths[0]; }) ? widths[0] : undefined;
  }
  function fitWidth(view, vis, designed, passes) {
    var svg = vis.querySelector("svg");
    if (!svg || typeof designed !== "number" || !vis.clientWidth) { return; }  // no box (hidden): nothing to fit
    var w = view.width(), over = svg.getBoundingClientRect().width - vis.clientWidth;
    var target = Math.round(Math.max(MIN_PLOT, Math.min(designed, w - over)));
    // again after each redraw: a title centred under the plot moves by half of what the plot gives up
    if (Math.abs(target - w) >= 1) {
      view.width(target).runAsync().then(function () { if (passes > 1) { fitWidth(view, vis, designed, passes - 1); } });
    }
  }

  /* Vega (the ~0.9 MB vendored bundle) is not on a chapter's page: it is loaded once, when the
   * first explorable comes within a viewport of the screen, and each explorable is embedded as it
   * does (a chart with nothing to move: when a pointer reaches it, see smiEmbed). Until then its
   * fallback image and its numbers stand in (and stay in print). BUNDLE is
   * the bundle's URL relative to this script, fingerprinted at build time (smi_charts/sphinx_ext.py);
   * a page that has window.vegaEmbed already (a notebook's output) uses it. */
  var BUNDLE = "vendor/vega-embed-bundle.js";
  var SCRIPT_SRC = document.currentScript && document.currentScript.src;
  var loading = {};  // script URL -> its promise, so each script is requested once
  function loadScript(url) {
    if (!loading[url]) {
      loading[url] = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = url;
        script.onload = function () { resolve(); };
        script.onerror = function () { delete loading[url]; reject(new Error("could not load " + url)); };
        document.head.appendChild(script);
      });
    }
    return loading[url];
  }
  function loadVega() {
    return window.vegaEmbed ? Promise.resolve() : loadScript(new URL(BUNDLE, SCRIPT_SRC || location.href).href);
  }
  /* An explorable's spec: in the page (a notebook's output), or in a script of its own that the
   * built site's page names (data-src, smi_charts/specs.py), loaded here with Vega. */
  function loadSpec(id) {
    var el = document.getElementById(id + "-spec"), src = el.getAttribute("data-src");
    if (!src) { return Promise.resolve(JSON.parse(el.textContent)); }
    return loadScript(new URL(src, location.href).href).then(function () {
      var spec = window.smiSpecs && window.smiSpecs[id];
      if (!spec) { throw new Error(src + " did not define the spec of " + id); }
      return JSON.parse(JSON.stringify(spec));  // a copy: narrowing changes it
    });
  }
  window.smiLoadSpec = loadSpec;  // for tests
  window.smiLoadVega = loadVega;  // the health check and the debrief load it on the first answers
  var nearView = null, whenNear = [];  // whenNear: [element, callback] not yet near the view
  function onceNear(el, callback) {
    if (!("IntersectionObserver" in window)) { callback(); return; }
    if (!nearView) {
      nearView = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (!entry.isIntersecting) { return; }
          nearView.unobserve(entry.target);
          whenNear = whenNear.filter(function (w) {
            if (w[0] !== entry.target) { return true; }
            w[1]();
            return false;
          });
        });
      }, { rootMargin: "100% 0px 100% 0px" });  // a viewport above and below the screen
    }
    whenNear.push([el, callback]);
    nearView.observe(el);
  }
  var queued = {};
  // smi_charts.book.narrow_spec draws the narrow fallback the same way (the two are compared in
  // tests/browser/test_first_visit.py)
  window.smiNarrowSpec = narrowSpec;
  window.smiEmbed = function (id) {
    var fig = document.getElementById(id);
    if (!fig || queued[id]) { return; }
    queued[id] = true;
    var go = function () {
      Promise.all([loadSpec(id), loadVega()]).then(function (got) { embed(id, got[0]); }, function (err) {
        queued[id] = false;
        console.error("explorable " + id + ": " + err.message);
      });
    };
    // a chart with no parameter (data-live="pointer", figure.html.j2): its image is the same chart
    // and Vega would add only its tooltips, so Vega waits for a pointer (a mouse or a finger) on it
    // rather than costing a phone half a second of main thread at load
    if (fig.getAttribute("data-live") === "pointer") { fig.addEventListener("pointerover", go, { once: true }); }
    else { onceNear(fig, go); }
  };

  // smi.js is deferred (smi_charts/head.py): the figures' inline smiEmbed calls ran before it did
  // and found no smiEmbed, so every explorable of the page is queued here, once the page is parsed
  function embedAll() {
    document.querySelectorAll(".smi-figure[id]").forEach(function (fig) {
      if (document.getElementById(fig.id + "-spec")) { window.smiEmbed(fig.id); }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", embedAll); } else { embedAll(); }

  /* A chart embedded as a phone needs it (narrowSpec in a box under NARROW px, then fitWidth now
   * and on every resize); the explorables and the health check's and debrief's charts use it.
   * The result's finalize() also stops the resize fitting. */
  function embedFitted(vis, spec) {
    var designed = designedWidth(spec);
    if (vis.clientWidth && vis.clientWidth < NARROW) { spec = narrowSpec(spec, vis.clientWidth); }
    return window.vegaEmbed(vis, spec, { actions: false, renderer: "svg" }).then(function (res) {
      var fit = function () { fitWidth(res.view, vis, designed, 4); };
      fit();
      var pending = false, onResize = function () {
        if (!pending) { pending = true; requestAnimationFrame(function () { pending = false; fit(); }); }
      };
      window.addEventListener("resize", onResize);
      var finalize = res.finalize;
      res.finalize = function () { window.removeEventListener("resize", onResize); return finalize.apply(res, arguments); };
      return res;
    });
  }
  window.smiEmbedFitted = embedFitted;

  function embed(id, spec) {
    var fig = document.getElementById(id);
    var live = JSON.parse(document.getElementById(id + "-live").textContent);
    var vis = document.getElementById(id + "-vis");
    embedFitted(vis, spec).then(function (res) {
      fig.classList.add("smi-live");
      focusScrollableSoon();  // a live chart may make its output region scroll (or stop)
      // the placeholder controls held the place of Vega's (smi.css): Vega's stand there now
      var placeholder = fig.querySelector(".smi-controls-placeholder");
      if (placeholder) { placeholder.parentNode.removeChild(placeholder); }
      (window.smiViews = window.smiViews || {})[id] = res.view;  // for tests and benchmarks
      vis.removeAttribute("aria-hidden");
      var update = function () { roundReadouts(vis); };
      var table = live.table || (live.outputs.length ? {
        key: ["output"], rows: live.outputs.length, columns: live.band ? live.band.columns : ["value"] } : null);
      if (table) {
        // rows found by their data attribute, never by a selector built from a label (a label may hold quotes)
        var byKey = {};
        fig.querySelectorAll("tbody tr[data-output]").forEach(function (tr) { byKey[tr.getAttribute("data-output")] = tr; });
        var keyOf = live.table
          ? function (row) { return table.key.map(function (f) { return String(row[f]); }).join("|"); }
          : function (row) { return live.labels[row.output]; };
        var offset = live.table ? table.key.length : 1;  // cells before the numbers
        var dataset = liveDataset(res.view, table.rows, table.key.concat(table.columns));
        update = function () {
          roundReadouts(vis);
          (dataset ? res.view.data(dataset) : []).forEach(function (row) {
            var tr = byKey[keyOf(row)];
            if (!tr) { return; }
            table.columns.forEach(function (c, j) {
              var text = Number(row[c]).toFixed(3), cell = tr.cells[j + offset];
              if (cell && cell.textContent !== text) { cell.textContent = text; }  // no DOM work for unchanged numbers
            });
          });
        };
      }
      var params = (spec.params || []).map(function (p) { return p.name; });
      Object.keys(res.view.getState({ signals: function () { return true; } }).signals || {}).forEach(function (s) {
        if (params.indexOf(s) >= 0) {
          res.view.addSignalListener(s, function () { res.view.runAsync().then(update); });
        }
      });
      // case presets: Load sets every parameter the preset names (bound controls follow their signal)
      var menu = fig.querySelector(".smi-presets");
      if (menu && live.presets) {
        var select = menu.querySelector("select"), status = menu.querySelector(".smi-preset-status");
        menu.querySelector(".smi-load").addEventListener("click", function () {
          var p = live.presets[select.value];
          if (!p) { return; }
          // set inside a run's prerun callback, as Vega's own bindings do: never while the dataflow runs
          res.view.runAsync(null, function () {
            Object.keys(p.values).forEach(function (n) {
              if (params.indexOf(n) >= 0) { res.view.signal(n, p.values[n]); }
            });
          }).then(function () {
            update();
            status.textContent = "Loaded: " + p.title + ".";
            fig.dispatchEvent(new CustomEvent("smi:preset", { bubbles: true, detail: select.value }));
          });
        });
        select.disabled = false;
        menu.querySelector(".smi-load").disabled = false;
        menu.hidden = false;
      }
      update();
      fig.dispatchEvent(new CustomEvent("smi:ready", { bubbles: true }));
    }).catch(function (err) { console.error("explorable " + id + ": " + err); });
  }

  function initPredict(box) {
    var key = box.dataset.key, answer = box.dataset.answer;
    var button = box.querySelector(".smi-reveal"), expl = box.querySelector(".smi-explanation");
    var verdict = box.querySelector(".smi-verdict");
    var radios = box.querySelectorAll("input[type=radio]");
    function show(state) {
      radios.forEach(function (r) { r.checked = state && r.value === String(state.choice); });
      button.disabled = !state;
      if (state && state.revealed) {
        expl.hidden = false;
        verdict.textContent = String(state.choice) === answer
          ? "Your prediction matches what the studies and the model say."
          : "Your prediction differs from what the studies and the model say: read why below.";
        button.textContent = "Revealed";
        button.disabled = true;
      }
    }
    radios.forEach(function (r) {
      r.addEventListener("change", function () {
        var state = load(key) || {};
        state.choice = Number(r.value);
        save(key, state);
        button.disabled = false;
      });
    });
    button.addEventListener("click", function () {
      var state = load(key);
      if (!state) { return; }
      state.revealed = true;
      save(key, state);
      show(state);
    });
    show(load(key));
  }

  function initCheck(box) {
    var key = box.dataset.key, feedback = box.querySelector(".smi-feedback");
    var radios = box.querySelectorAll("input[type=radio]");
    function show(choice) {
      radios.forEach(function (r) {
        r.checked = r.value === String(choice);
        if (r.checked) {
          var ok = r.dataset.correct === "true";
          feedback.className = "smi-feedback " + (ok ? "smi-right" : "smi-wrong");
          feedback.innerHTML = "<strong>" + (ok ? "Correct." : "Not quite.") + "</strong> " + r.dataset.feedback;
        }
      });
    }
    radios.forEach(function (r) {
      r.addEventListener("change", function () { save(key, { choice: Number(r.value) }); show(r.value); });
    });
    var state = load(key);
    if (state) { show(state.choice); }
  }

  function addReset(boxes) {
    if (!boxes.length) { return; }
    var last = boxes[boxes.length - 1];
    var btn = document.createElement("button");
    btn.type = "button";
    btn.className = "smi-reset";
    btn.textContent = "Reset my answers on this page";
    btn.addEventListener("click", function () {
      boxes.forEach(function (b) { forget(b.dataset.key); });
      location.reload();
    });
    last.parentNode.insertBefore(btn, last.nextSibling);
  }

  /* The theme draws each sidebar toggle twice (the top navbar's, which sphinx-book-theme hides, and
   * the article header's), but pydata-sphinx-theme and sphinx-book-theme bind only the first in the
   * page: a click on another is handed to it, or the sidebar never opens on a phone. */
  function forwardSidebarToggles() {
    [".primary-toggle", ".secondary-toggle"].forEach(function (sel) {
      var all = document.querySelectorAll(sel);
      Array.prototype.slice.call(all, 1).forEach(function (btn) {
        btn.addEventListener("click", function (e) { e.preventDefault(); all[0].click(); });
      });
    });
  }

  /* A region that scrolls (a wide table on a phone, a long code line) must be reachable by
   * keyboard (WCAG 2.1.1, axe's scrollable-region-focusable). pydata-sphinx-theme does this by
   * reading each region's size just after setting the previous one's tabindex: one layout of the
   * whole page per region, a second of a phone's main thread on the model reference. Its version
   * is switched off (smi_charts/head.py). Here a region takes focus until it is measured, and it
   * is measured when it comes within a screen of the view: an IntersectionObserver reports after
   * layout, so the read costs no layout of its own, and a table far off screen, which the
   * browser does not lay out (content-visibility, smi.css), is not laid out for it. A resize
   * makes every region not near the view focusable again until it is measured anew. */
  var SCROLLABLE = "pre, .nboutput > .output_area, .cell_output > .output, .jp-RenderedHTMLCommon, " +
    ".pst-scrollable-table-container";
  var regionsNear = [];
  function measureRegions(regions) {
    var scrolls = regions.map(function (el) { return el.scrollWidth > el.clientWidth || el.scrollHeight > el.clientHeight; });
    regions.forEach(function (el, i) {
      var index = scrolls[i] ? 0 : -1;
      if (el.tabIndex !== index) { el.tabIndex = index; }
    });
  }
  function focusScrollable() {
    var regions = Array.prototype.slice.call(document.querySelectorAll(SCROLLABLE));
    if (!("IntersectionObserver" in window)) { measureRegions(regions); return; }
    regions.forEach(function (el) { if (el.tabIndex !== 0) { el.tabIndex = 0; } });
    var view = new IntersectionObserver(function (entries) {
      var near = [];
      entries.forEach(function (entry) {
        var i = regionsNear.indexOf(entry.target);
        if (entry.isIntersecting) {
          near.push(entry.target);
          if (i < 0) { regionsNear.push(entry.target); }
        } else if (i >= 0) { regionsNear.splice(i, 1); }
      });
      measureRegions(near);
    }, { rootMargin: "100% 0px 100% 0px" });  // a screen above and below the view
    regions.forEach(function (el) { view.observe(el); });
    window.smiRegionsNear = regionsNear;  // for tests
  }
  function remeasureRegions() {
    Array.prototype.slice.call(document.querySelectorAll(SCROLLABLE)).forEach(function (el) {
      if (regionsNear.indexOf(el) < 0 && el.tabIndex !== 0) { el.tabIndex = 0; }
    });
    measureRegions(regionsNear.slice());
  }
  var focusTimer = null;
  function focusScrollableSoon() { clearTimeout(focusTimer); focusTimer = setTimeout(remeasureRegions, 300); }
  window.addEventListener("resize", focusScrollableSoon);

  document.addEventListener("DOMContentLoaded", function () {
    focusScrollable();
    forwardSidebarToggles();
    var predicts = document.querySelectorAll(".smi-predict"), checks = document.querySelectorAll(".smi-selfcheck");
    predicts.forEach(initPredict);
    checks.forEach(initCheck);
    addReset(Array.prototype.slice.call(predicts).concat(Array.prototype.slice.call(checks)));
  });
})();
