/* Sales & Marketing, Connected: the SMI health check and the class debrief.
 *
 * Everything runs in this browser. The health check keeps the reader's answers in localStorage
 * (key smi:<page>:<component key>), computes the profile from data the book emits at build
 * time (smi_charts/healthcheck.py: the question -> input mapping, labels, propositions, the
 * Vega-Lite spec of the model's chain and a Vega spec of the model that also probes, ranks and
 * estimates dysfunction risk -- model_spec) and exports answers as a JSON file (a Blob URL) or a
 * short code. The debrief reads exported files with FileReader; nothing is sent anywhere, so
 * codes and files are checked here, mirroring smi_charts.questionnaire_io (the browser tests
 * hold the two to the same cases).
 *
 * The model and the charts need the book's offline Vega bundle: smi.js loads it when the first
 * complete set of answers (typed, stored or read from files) needs them, not with the page.
 */
(function () {
  "use strict";
  if (window.smiHealth) { return; }

  var PAGE = location.pathname.replace(/index\.html$/, "");
  function storeKey(key) { return "smi:" + PAGE + ":" + key; }
  function load(key) { try { return JSON.parse(localStorage.getItem(storeKey(key))); } catch (e) { return null; } }
  function save(key, value) { try { localStorage.setItem(storeKey(key), JSON.stringify(value)); } catch (e) { /* private mode */ } }
  function forget(key) { try { localStorage.removeItem(storeKey(key)); } catch (e) { /* ignore */ } }

  /* A DOM element; children are nodes or strings (set as text, never parsed as HTML). */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function fmt(v, digits) { return Number(v).toFixed(digits === undefined ? 3 : digits); }
  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }
  function questionsText(numbers) {
    if (!numbers.length) { return ""; }
    return (numbers.length === 1 ? "question " : "questions ") + numbers.join(", ");
  }

  // ------------------------------------------------------------------ answers -> inputs

  function validAnswer(v, points) {
    return typeof v === "number" && isFinite(v) && Math.floor(v) === v && v >= 1 && v <= points;
  }

  /* Problems with a set of answers, naming every offending question id (as smi.questionnaire does). */
  function answerProblems(data, answers) {
    if (!answers || typeof answers !== "object" || Array.isArray(answers)) {
      return ["answers must map each question id to an answer 1-" + data.points];
    }
    var known = {}, missing = [], invalid = [], unknown = [];
    data.questions.forEach(function (q) {
      known[q.id] = true;
      if (!(q.id in answers)) { missing.push(q.id); }
      else if (!validAnswer(answers[q.id], data.points)) { invalid.push(q.id + " (value " + JSON.stringify(answers[q.id]) + ")"); }
    });
    Object.keys(answers).forEach(function (k) { if (!known[k]) { unknown.push(JSON.stringify(k)); } });
    var out = [];
    if (missing.length) { out.push("no answer for question" + (missing.length > 1 ? "s " : " ") + missing.join(", ")); }
    if (invalid.length) { out.push("answer must be a whole number 1-" + data.points + " for " + invalid.join(", ")); }
    if (unknown.length) { out.push("unknown question id" + (unknown.length > 1 ? "s " : " ") + unknown.join(", ")); }
    return out;
  }

  function rescale(answer, sign, points) {
    var v = (answer - 1) / (points - 1);
    return sign === "-" ? 1 - v : v;
  }

  /* Each input the questions set: the mean of its questions' rescaled answers. */
  function mappedInputs(data, answers) {
    var out = {};
    Object.keys(data.weights).forEach(function (name) {
      var pairs = data.weights[name], sum = 0;
      pairs.forEach(function (p) { sum += rescale(answers[p[0]], p[1], data.points); });
      out[name] = sum / pairs.length;
    });
    return out;
  }

  function ordered(data, answers) {
    var out = {};
    data.questions.forEach(function (q) { out[q.id] = answers[q.id]; });
    return out;
  }

  // ------------------------------------------------------------------ short codes and exports

  function b64url(s) { return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""); }
  function unb64url(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    return atob(s);
  }

  function encodeCode(data, answers) {
    var digits = data.questions.map(function (q) { return String(answers[q.id]); }).join("");
    return data.codePrefix + "." + data.fingerprint + "." + b64url(digits);
  }

  function decodeCode(data, code) {
    var parts = String(code).trim().split(".");
    if (parts.length !== 3 || parts[0] !== data.codePrefix) {
      throw new Error("not a health-check code (expected " + data.codePrefix + ".<fingerprint>.<answers>)");
    }
    if (parts[1] !== data.fingerprint) {
      throw new Error("made with a different version of the questionnaire (fingerprint '" + parts[1] +
                      "', this book's is '" + data.fingerprint + "')");
    }
    var digits;
    try { digits = unb64url(parts[2]); } catch (e) { throw new Error("its answers are not valid base64"); }
    var re = new RegExp("^[1-" + data.points + "]*$");
    if (digits.length !== data.questions.length || !re.test(digits)) {
      throw new Error("it must carry " + data.questions.length + " answers, each 1-" + data.points);
    }
    var answers = {};
    data.questions.forEach(function (q, i) { answers[q.id] = Number(digits[i]); });
    return answers;
  }

  function exportDoc(data, answers) {
    return { format: data.format, version: data.version, answers: ordered(data, answers), inputs: mappedInputs(data, answers) };
  }

  /* The answers of an exported document, or an Error saying what is wrong with it. */
  function readExport(data, doc) {
    if (!doc || typeof doc !== "object" || Array.isArray(doc)) { throw new Error("not a health-check export (expected a JSON object)"); }
    if (doc.format !== data.format) {
      throw new Error("not a health-check export (format " + JSON.stringify(doc.format) + ", expected '" + data.format + "')");
    }
    if (doc.version !== data.version) { throw new Error("unsupported version " + JSON.stringify(doc.version) + " (this book reads version " + data.version + ")"); }
    var problems = answerProblems(data, doc.answers);
    if (problems.length) { throw new Error("health check answers: " + problems.join("; ")); }
    if (!doc.inputs || typeof doc.inputs !== "object" || Array.isArray(doc.inputs)) { throw new Error("field 'inputs' must be an object of input values"); }
    var mapped = mappedInputs(data, doc.answers);
    Object.keys(mapped).forEach(function (name) {
      var s = doc.inputs[name];
      if (typeof s !== "number" || !(Math.abs(s - mapped[name]) <= 1e-6)) {
        throw new Error("its inputs do not follow from its answers under this questionnaire (input '" + name +
                        "': stated " + JSON.stringify(s) + ", answers give " + mapped[name] + ")");
      }
    });
    return ordered(data, doc.answers);
  }

  // ------------------------------------------------------------------ the model in the browser

  /* A headless Vega view of the model spec smi_charts.healthcheck.model_spec generates: set the
   * inputs (its signals), read the firm's outputs, what to work on first, the weakest links, the
   * alerts and the dysfunction-risk estimate, all computed by the view from expressions generated from the model -- nothing of
   * the model, the probing or the ranking is restated here. (vega-embed into an element that is
   * never shown, with no renderer: the bundle publishes vegaEmbed, not a usable `vega` global.) */
  function Model(spec) {
    var self = this;
    this.params = paramNames(spec.signals);
    this.risk = spec.data.some(function (d) { return d.name === "risk"; });  // the debrief's has none
    this.queue = vega().then(function () {
      return window.vegaEmbed(document.createElement("div"), spec, { actions: false, renderer: "none", mode: "vega" });
    }).then(function (res) { self.view = res.view; });
  }

  /* Vega (the ~0.9 MB bundle) is loaded by smi.js when the first complete set of answers needs the
   * model, not with the page; in a notebook's output the page has it already. */
  function vega() {
    if (window.vegaEmbed) { return Promise.resolve(); }
    return window.smiLoadVega ? window.smiLoadVega() : Promise.reject(new Error("Vega is not on this page"));
  }

  /* The names of a spec's parameters (Vega-Lite params or Vega signals), as a set. */
  function paramNames(list) {
    var out = {};
    (list || []).forEach(function (p) { out[p.name] = true; });
    return out;
  }

  function applyInputs(view, params, inputs) {
    Object.keys(inputs).forEach(function (n) { if (params[n]) { view.signal(n, inputs[n]); } });
  }

  /* The numeric fields of a row (the firm's outputs, without the probe bookkeeping). */
  function numericFields(row) {
    var out = {};
    Object.keys(row).forEach(function (k) { if (typeof row[k] === "number") { out[k] = row[k]; } });
    return out;
  }

  Model.prototype.run = function (inputs) {
    var self = this;
    var job = this.queue.then(function () {
      applyInputs(self.view, self.params, inputs);
      return self.view.runAsync();
    }).then(function () {
      var v = self.view;
      return { now: numericFields(v.data("now")[0]), work: v.data("work"), weakest: v.data("weakest"),
               alerts: v.data("alerts"), risk: self.risk ? v.data("risk")[0] : null };
    });
    this.queue = job.catch(function () { /* the caller reports it */ });
    return job;
  };

  /* The whole profile, as smi.questionnaire.profile computes it: one run of the model view. */
  function computeProfile(model, inputs) {
    return model.run(inputs).then(function (r) {
      return {
        inputs: inputs, now: r.now, weakest: r.weakest, dysfunction: r.risk,
        work: r.work.map(function (w) { return { input: w.name, value: w.value, gain: w.gain, move: w.move }; }),
        alerts: r.alerts.map(function (a) { return a.name; })
      };
    });
  }

  function embed(vis, spec) {
    return vega().then(function () {
      // smi.js's embedding: narrowed and fitted to a phone's box, as the book's explorables are
      return window.smiEmbedFitted(vis, spec);
    }).then(function (res) {
      (window.smiViews = window.smiViews || {})[vis.id.replace(/-vis$/, "")] = res.view;
      return res;
    });
  }

  function setValue(table, name, value) {
    var tr = Array.prototype.find.call(table.querySelectorAll("tr[data-output]"), function (row) {
      return row.getAttribute("data-output") === name;  // compared, not put in a selector: any name is safe
    });
    if (!tr) { return; }
    var td = tr.querySelector("td");
    td.textContent = fmt(value);
    td.setAttribute("data-value", String(value));
  }

  // ------------------------------------------------------------------ the health check: the profile

  var CHAIN_ROWS = ["language", "structure", "process", "social", "philosophical", "smi_connection",
                    "lever_integration", "smi_functioning", "synergy"];

  function renderNumbers(ctx, p) {
    var data = ctx.data, chain = document.getElementById(ctx.id + "-chain");
    CHAIN_ROWS.concat(data.capabilities).forEach(function (name) { setValue(chain, name, p.now[name]); });
    var levers = document.getElementById(ctx.id + "-levers");
    data.levers.forEach(function (lv) { setValue(levers, lv, p.inputs[lv]); });
    var dys = document.getElementById(ctx.id + "-dysfunction");
    data.dysfunctions.forEach(function (d) { setValue(dys, d.input, p.inputs[d.input]); });
    Object.keys(p.dysfunction).forEach(function (k) { setValue(dys, k, p.dysfunction[k]); });
  }

  function renderAlerts(ctx, p) {
    var box = ctx.root.querySelector(".smi-hc-alerts-box"), list = ctx.root.querySelector(".smi-hc-alerts");
    clear(list);
    p.alerts.forEach(function (name) {
      var meta = ctx.data.inputs[name];
      list.appendChild(el("li", { "data-input": name, "data-value": String(p.inputs[name]) }, [
        el("strong", {}, [meta.label]), ": " + fmt(p.inputs[name], 2) + " (" + questionsText(meta.questions) + "). " + meta.cite + "."]));
    });
    box.hidden = !p.alerts.length;
  }

  function renderWorkFirst(ctx, p) {
    var list = ctx.root.querySelector(".smi-hc-first");
    clear(list);
    p.work.forEach(function (w) {
      var meta = ctx.data.inputs[w.input];
      var end = w.move === "lower" ? "the bottom" : "the top";
      list.appendChild(el("li", { "data-input": w.input, "data-gain": String(w.gain) }, [
        el("strong", {}, [meta.label]), ": " + (w.move === "lower" ? "lower" : "raise") + " it (now " + fmt(w.value, 2) +
        "). Moved alone to " + end + " of its range, it would raise SMI functioning by " + fmt(w.gain) + ". Asked in " +
        questionsText(meta.questions) + ". " + meta.cite + "."]));
    });
    if (!p.work.length) {
      list.appendChild(el("li", {}, ["No single input would raise SMI functioning: everything you can move is already at its best."]));
    }
  }

  function weakestItem(data, w) {
    var children;
    if (w.layer === "linkage") {
      var lk = data.linkages[w.name], held = data.inputs[w.held];
      children = [el("strong", {}, [lk.label]), ": " + fmt(w.value) + ". Held back most by " + held.label.toLowerCase() +
        " (" + fmt(w.heldValue, 2) + "; " + questionsText(held.questions) + "). " + lk.cite + "; " + held.cite + "."];
    } else {
      var lv = data.inputs[w.name];
      children = [el("strong", {}, [lv.label]), " (lever): " + fmt(w.value, 2) + " (" + questionsText(lv.questions) + "). " + lv.cite + "."];
    }
    return el("li", { "data-layer": w.layer, "data-name": w.name, "data-value": String(w.value), "data-held": w.held }, children);
  }

  function renderProfile(ctx, p) {
    renderNumbers(ctx, p);
    renderAlerts(ctx, p);
    renderWorkFirst(ctx, p);
    var weakest = ctx.root.querySelector(".smi-hc-weakest");
    clear(weakest);
    p.weakest.forEach(function (w) { weakest.appendChild(weakestItem(ctx.data, w)); });
  }

  // ------------------------------------------------------------------ the health check: state and controls

  /* The reader's stored answers, keeping only valid ones. */
  function storedAnswers(data) {
    var answers = {}, stored = load(data.key);
    if (stored && stored.answers && typeof stored.answers === "object") {
      data.questions.forEach(function (q) {
        if (validAnswer(stored.answers[q.id], data.points)) { answers[q.id] = stored.answers[q.id]; }
      });
    }
    return answers;
  }

  function syncRadios(ctx) {
    ctx.root.querySelectorAll(".smi-hc-q").forEach(function (fs) {
      var a = ctx.answers[fs.dataset.qid];
      fs.querySelectorAll("input[type=radio]").forEach(function (r) { r.checked = Number(r.value) === a; });
    });
  }

  function missingQuestions(ctx) { return ctx.data.questions.filter(function (q) { return !(q.id in ctx.answers); }); }

  function showStatus(ctx, missing) {
    var data = ctx.data, status = ctx.status;
    clear(status);
    if (!missing.length) {
      status.appendChild(el("p", {}, ["All " + data.questions.length + " questions answered: your profile is below."]));
      return;
    }
    var done = data.questions.length - missing.length;
    status.appendChild(el("p", {}, [done + " of " + data.questions.length + " questions answered. Your profile appears " +
      "once every question is answered. Still unanswered:"]));
    status.appendChild(el("ul", { "class": "smi-hc-missing" }, missing.map(function (q) {
      return el("li", { "data-qid": q.id }, [el("a", { href: "#" + ctx.id + "-q-" + q.id }, ["Question " + q.number])]);
    })));
  }

  /* The model (a headless view) and the visible chart, created on the first complete answer set. */
  function ensureModel(ctx) {
    if (!ctx.model) { ctx.model = new Model(ctx.data.model); }
    if (!ctx.chartReady) {
      ctx.chartReady = embed(document.getElementById(ctx.id + "-chart-vis"), ctx.data.chain)
        .then(function (res) { return res.view; });
    }
  }

  function refresh(ctx) {
    var missing = missingQuestions(ctx), complete = !missing.length, root = ctx.root;
    showStatus(ctx, missing);
    ctx.exportBtn.disabled = !complete;
    ctx.codeBtn.disabled = !complete;
    if (!complete) {
      ctx.profileBox.hidden = true;
      ctx.codeBox.hidden = true;
      root.removeAttribute("data-profile");
      return Promise.resolve(null);
    }
    ensureModel(ctx);
    var mine = ++ctx.seq, inputs = mappedInputs(ctx.data, ctx.answers);
    function stale() { return mine !== ctx.seq; }
    ctx.profileBox.hidden = false;
    root.setAttribute("data-profile", "computing");
    return computeProfile(ctx.model, inputs).then(function (p) {
      if (stale()) { return null; }
      renderProfile(ctx, p);
      return ctx.chartReady.then(function (view) {
        applyInputs(view, paramNames(ctx.data.chain.params), inputs);
        return view.runAsync();
      }).then(function () {
        if (stale()) { return null; }
        root.setAttribute("data-profile", "ready");
        root.dispatchEvent(new CustomEvent("smi:profile", { bubbles: true }));
        return p;
      });
    }).catch(function (err) { console.error("health check " + ctx.id + ": " + err); });
  }

  function persist(ctx) { save(ctx.data.key, { answers: ordered(ctx.data, ctx.answers) }); }

  function download(name, text) {
    var url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    var a = el("a", { href: url, download: name }, []);
    a.style.display = "none";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 2000);
  }

  function copyCode(ctx) {
    var field = ctx.codeField;
    function fallback() {
      field.focus();
      field.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      ctx.message.textContent = ok ? "Code copied." : "Select the code and copy it with Ctrl+C (Cmd+C on a Mac).";
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () { ctx.message.textContent = "Code copied."; }, fallback);
    } else {
      fallback();
    }
  }

  function onAnswer(ctx, radio) {
    ctx.answers[radio.closest(".smi-hc-q").dataset.qid] = Number(radio.value);
    persist(ctx);
    if (ctx.codeBox.hidden === false) { ctx.codeField.value = missingQuestions(ctx).length ? "" : encodeCode(ctx.data, ctx.answers); }
    refresh(ctx);
  }

  function onClear(ctx) {
    forget(ctx.data.key);
    ctx.answers = {};
    syncRadios(ctx);
    ctx.codeField.value = "";
    ctx.codeBox.hidden = true;
    ctx.message.textContent = "Your answers were cleared from this browser.";
    refresh(ctx);
  }

  function onExport(ctx) {
    if (missingQuestions(ctx).length) { return; }
    download("smi-healthcheck.json", JSON.stringify(exportDoc(ctx.data, ctx.answers), null, 2) + "\n");
    ctx.message.textContent = "Your answers were saved as smi-healthcheck.json in your downloads.";
  }

  function onMakeCode(ctx) {
    if (missingQuestions(ctx).length) { return; }
    ctx.codeField.value = encodeCode(ctx.data, ctx.answers);
    ctx.codeBox.hidden = false;
    ctx.codeField.focus();
    ctx.codeField.select();
  }

  function onRestore(ctx) {
    var field = ctx.root.querySelector(".smi-hc-restore-input");
    try {
      ctx.answers = decodeCode(ctx.data, field.value);
    } catch (err) {
      ctx.message.textContent = "That code could not be used: " + err.message + ".";
      return;
    }
    persist(ctx);
    syncRadios(ctx);
    field.value = "";
    ctx.message.textContent = "Answers restored from the code.";
    refresh(ctx);
  }

  function wireCheck(ctx) {
    var root = ctx.root;
    function on(node, event, handler) { node.addEventListener(event, function () { handler(ctx, node); }); }
    root.querySelectorAll(".smi-hc-q input[type=radio]").forEach(function (r) { on(r, "change", onAnswer); });
    on(root.querySelector(".smi-hc-clear"), "click", onClear);
    on(ctx.exportBtn, "click", onExport);
    on(ctx.codeBtn, "click", onMakeCode);
    on(root.querySelector(".smi-hc-copy"), "click", copyCode);
    on(root.querySelector(".smi-hc-restore-button"), "click", onRestore);
  }

  function initCheck(rootId) {
    var root = document.getElementById(rootId);
    if (!root || root.dataset.ready) { return; }
    root.dataset.ready = "1";
    var data = JSON.parse(document.getElementById(rootId + "-data").textContent);
    var ctx = {
      id: rootId, root: root, data: data, answers: storedAnswers(data), model: null, chartReady: null, seq: 0,
      status: document.getElementById(rootId + "-status"), message: document.getElementById(rootId + "-message"),
      profileBox: document.getElementById(rootId + "-profile"),
      exportBtn: root.querySelector(".smi-hc-export"), codeBtn: root.querySelector(".smi-hc-makecode"),
      codeBox: root.querySelector(".smi-hc-codebox"), codeField: root.querySelector(".smi-hc-code")
    };
    wireCheck(ctx);
    syncRadios(ctx);
    refresh(ctx);
    (window.smiHealthChecks = window.smiHealthChecks || {})[rootId] = {
      answers: function () { return ordered(data, ctx.answers); }, refresh: function () { return refresh(ctx); },
      // for tests: the profile of any answers, through this page's model view (nothing shown)
      profile: function (answers) {
        ctx.model = ctx.model || new Model(data.model);
        return computeProfile(ctx.model, mappedInputs(data, answers));
      }
    };
  }

  // ------------------------------------------------------------------ the class debrief: reading

  function basename(path) { return String(path).split("/").pop(); }
  function stem(path) { var b = basename(path); var i = b.lastIndexOf("."); return i > 0 ? b.slice(0, i) : b; }

  /* One file's health checks, or its error; a bad file never stops the others. */
  function parseFile(data, source, text) {
    var out = [];
    try {
      if (/\.txt$/i.test(source)) {
        var lines = text.split(/\r?\n/).map(function (s) { return s.trim(); }).filter(Boolean);
        if (!lines.length) { throw new Error("holds no codes"); }
        lines.forEach(function (ln, i) {
          var answers;
          try { answers = decodeCode(data, ln); } catch (err) { throw new Error("line " + (i + 1) + ": " + err.message); }
          out.push({ key: source + "#" + (i + 1), source: source, firm: lines.length > 1 ? stem(source) + " #" + (i + 1) : stem(source), answers: answers });
        });
      } else {
        var doc;
        try { doc = JSON.parse(text.replace(/^\ufeff/, "")); } catch (err) { throw new Error("not valid JSON (" + err.message + ")"); }
        out.push({ key: source, source: source, firm: stem(source), answers: readExport(data, doc) });
      }
    } catch (err) {
      return [{ key: source, source: source, error: err.message }];
    }
    return out;
  }

  /* Firms named by file stem; two files with the same stem (a/team.json, b/team.json) are two firms,
   * named by their paths so the chart, the list and the counts agree. */
  function firmNames(valid) {
    var count = {};
    valid.forEach(function (e) { count[e.firm] = (count[e.firm] || 0) + 1; });
    return valid.map(function (e) {
      if (count[e.firm] < 2) { return e; }
      var path = e.source.replace(/\.[^./]+$/, "");
      return Object.assign({}, e, { firm: e.key.indexOf("#") > 0 ? path + " #" + e.key.split("#").pop() : path });
    });
  }

  function put(ctx, list) {
    list.forEach(function (e) {
      var at = -1;
      ctx.entries.forEach(function (x, i) { if (x.key === e.key) { at = i; } });
      if (at >= 0) { ctx.entries[at] = e; } else { ctx.entries.push(e); }
    });
  }

  function readFiles(ctx, files) {
    var list = Array.prototype.slice.call(files).filter(function (f) {
      return basename(f.webkitRelativePath || f.name).charAt(0) !== ".";  // hidden files (e.g. .DS_Store)
    });
    return Promise.all(list.map(function (f) {
      var source = f.webkitRelativePath || f.name;
      // entries of a .txt file are keyed by line: drop the file's previous ones first
      ctx.entries = ctx.entries.filter(function (e) { return e.source !== source; });
      return f.text().then(function (text) { return parseFile(ctx.data, source, text); },
                           function (err) { return [{ key: source, source: source, error: "cannot be read (" + err + ")" }]; });
    })).then(function (results) {
      results.forEach(function (r) { put(ctx, r); });
      return renderClass(ctx);
    });
  }

  function addCodes(ctx, text) {
    ctx.entries = ctx.entries.filter(function (e) { return e.source.indexOf("pasted code ") !== 0; });
    text.split(/\r?\n/).map(function (s) { return s.trim(); }).filter(Boolean).forEach(function (code, i) {
      var source = "pasted code " + (i + 1);
      try {
        put(ctx, [{ key: source, source: source, firm: source, answers: decodeCode(ctx.data, code) }]);
      } catch (err) {
        put(ctx, [{ key: source, source: source, error: err.message }]);
      }
    });
  }

  // ------------------------------------------------------------------ the class debrief: showing

  function renderReport(report, valid, bad) {
    clear(report);
    if (!valid.length && !bad.length) { report.appendChild(el("p", {}, ["No health checks loaded yet."])); return; }
    report.appendChild(el("p", { "class": "smi-hc-count" }, [plural(valid.length, "health check") + " loaded" +
      (valid.length ? ": " + valid.map(function (e) { return e.firm; }).join(", ") : "") + "."]));
    if (bad.length) {
      report.appendChild(el("p", {}, [plural(bad.length, "file or code") + " skipped because " +
        (bad.length === 1 ? "it is" : "they are") + " malformed:"]));
      report.appendChild(el("ul", { "class": "smi-hc-skipped" }, bad.map(function (e) {
        return el("li", { "data-name": e.source }, [el("strong", {}, [e.source]), ": " + e.error]);
      })));
    }
  }

  function renderSummary(summary, measures, rows) {
    clear(summary);
    measures.forEach(function (m) {
      var vals = rows.filter(function (r) { return r.measure === m.measure; }).map(function (r) { return r.value; });
      vals.sort(function (a, b) { return a - b; });
      var n = vals.length, mean = vals.reduce(function (s, v) { return s + v; }, 0) / n;
      var median = n % 2 ? vals[(n - 1) / 2] : (vals[n / 2 - 1] + vals[n / 2]) / 2;
      summary.appendChild(el("tr", { "data-measure": m.measure }, [
        el("th", { scope: "row" }, [m.label]), el("td", {}, [String(n)]), el("td", { "data-value": String(mean) }, [fmt(mean)]),
        el("td", {}, [fmt(vals[0])]), el("td", {}, [fmt(median)]), el("td", {}, [fmt(vals[n - 1])])]));
    });
  }

  /* One row per firm and class measure, each firm run through the model in turn. */
  function classRows(data, model, valid) {
    var rows = [], chain = Promise.resolve();
    valid.forEach(function (e) {
      var inputs = mappedInputs(data, e.answers);
      chain = chain.then(function () { return model.run(inputs); }).then(function (r) {
        var now = r.now;
        data.classMeasures.forEach(function (m) {
          var v = m.measure in inputs ? inputs[m.measure] : now[m.measure];
          rows.push({ firm: e.firm, group: m.group, measure: m.measure, label: m.label, value: v });
        });
      });
    });
    return chain.then(function () { return rows; });
  }

  function drop(ctx) { if (ctx.current) { ctx.current.finalize(); ctx.current = null; } }

  function renderClass(ctx) {
    var root = ctx.root, data = ctx.data;
    var valid = firmNames(ctx.entries.filter(function (e) { return !e.error; }));
    renderReport(ctx.report, valid, ctx.entries.filter(function (e) { return e.error; }));
    var mine = ++ctx.seq;
    if (!valid.length) {
      ctx.classBox.hidden = true;
      root.removeAttribute("data-firms");
      return Promise.resolve();
    }
    ctx.model = ctx.model || new Model(data.model);
    return classRows(data, ctx.model, valid).then(function (rows) {
      if (mine !== ctx.seq) { return; }
      renderSummary(ctx.summary, data.classMeasures, rows);
      var spec = JSON.parse(JSON.stringify(data.classSpec));
      spec.datasets = { firms: rows };
      spec.title = { text: "Where the class's firms stand", subtitle: plural(valid.length, "firm") };
      ctx.classBox.hidden = false;
      drop(ctx);
      return embed(ctx.vis, spec).then(function (res) {
        if (mine !== ctx.seq) { res.finalize(); return; }
        ctx.current = res;
        root.setAttribute("data-firms", String(valid.length));
        root.dispatchEvent(new CustomEvent("smi:debrief", { bubbles: true }));
      });
    }).catch(function (err) { console.error("debrief " + ctx.id + ": " + err); });
  }

  function clearClass(ctx) {
    ctx.entries = [];
    ctx.root.querySelectorAll("input[type=file]").forEach(function (i) { i.value = ""; });
    ctx.root.querySelector(".smi-hc-codes").value = "";
    drop(ctx);
    renderClass(ctx);
  }

  function wireDebrief(ctx) {
    var root = ctx.root;
    function onFiles(ev) { readFiles(ctx, ev.target.files); }
    root.querySelector(".smi-hc-folder").addEventListener("change", onFiles);
    root.querySelector(".smi-hc-files").addEventListener("change", onFiles);
    root.querySelector(".smi-hc-addcodes").addEventListener("click", function () {
      addCodes(ctx, root.querySelector(".smi-hc-codes").value);
      renderClass(ctx);
    });
    root.querySelector(".smi-hc-clearall").addEventListener("click", function () { clearClass(ctx); });
  }

  function initDebrief(rootId) {
    var root = document.getElementById(rootId);
    if (!root || root.dataset.ready) { return; }
    root.dataset.ready = "1";
    var ctx = {
      id: rootId, root: root, data: JSON.parse(document.getElementById(rootId + "-data").textContent),
      report: document.getElementById(rootId + "-report"), classBox: root.querySelector(".smi-hc-class"),
      vis: document.getElementById(rootId + "-chart-vis"),
      summary: document.getElementById(rootId + "-summary").querySelector("tbody"),
      entries: [],  // {key, source, firm, answers} or {key, source, error}
      model: null, current: null, seq: 0
    };
    wireDebrief(ctx);
  }

  window.smiHealth = {
    initCheck: initCheck, initDebrief: initDebrief,
    // for tests: the same functions the components use
    mappedInputs: mappedInputs, encodeCode: encodeCode, decodeCode: decodeCode, readExport: readExport
  };
})();
