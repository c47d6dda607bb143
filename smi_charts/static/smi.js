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

  /* Find the dataset that carries the explorable's outputs (one row each, with every column the
   * numbers table shows), so the table follows the sliders. */
  function liveDataset(view, live, columns) {
    var names = Object.keys(view.getState({ data: function () { return true; }, signals: function () { return false; } }).data || {});
    for (var i = 0; i < names.length; i++) {
      var rows;
      try { rows = view.data(names[i]); } catch (e) { continue; }
      if (rows && rows.length === live.outputs.length && "output" in rows[0] && !("datum" in rows[0]) &&
          columns.every(function (c) { return c in rows[0]; })) { return names[i]; }
    }
    return null;
  }

  window.smiEmbed = function (id) {
    var fig = document.getElementById(id);
    if (!fig || !window.vegaEmbed) { return; }
    var spec = JSON.parse(document.getElementById(id + "-spec").textContent);
    var live = JSON.parse(document.getElementById(id + "-live").textContent);
    var vis = document.getElementById(id + "-vis");
    window.vegaEmbed(vis, spec, { actions: false, renderer: "svg" }).then(function (res) {
      fig.classList.add("smi-live");
      (window.smiViews = window.smiViews || {})[id] = res.view;  // for tests and benchmarks
      vis.removeAttribute("aria-hidden");
      if (!live.outputs.length) { return; }
      // table columns after the output's name: the value, then the band's statistics if any
      var columns = live.band ? live.band.columns : ["value"];
      var dataset = liveDataset(res.view, live, columns);
      var update = function () {
        (dataset ? res.view.data(dataset) : []).forEach(function (row) {
          var tr = fig.querySelector("tr[data-output='" + live.labels[row.output] + "']");
          if (!tr) { return; }
          columns.forEach(function (c, j) {
            var text = Number(row[c]).toFixed(3), cell = tr.cells[j + 1];
            if (cell.textContent !== text) { cell.textContent = text; }  // no DOM work for unchanged numbers
          });
        });
      };
      Object.keys(res.view.getState({ signals: function () { return true; } }).signals || {}).forEach(function (s) {
        if (spec.params && spec.params.some(function (p) { return p.name === s; })) {
          res.view.addSignalListener(s, function () { res.view.runAsync().then(update); });
        }
      });
      update();
      fig.dispatchEvent(new CustomEvent("smi:ready", { bubbles: true }));
    }).catch(function (err) { console.error("explorable " + id + ": " + err); });
  };

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

  document.addEventListener("DOMContentLoaded", function () {
    var predicts = document.querySelectorAll(".smi-predict"), checks = document.querySelectorAll(".smi-selfcheck");
    predicts.forEach(initPredict);
    checks.forEach(initCheck);
    addReset(Array.prototype.slice.call(predicts).concat(Array.prototype.slice.call(checks)));
  });
})();
