// Strongroom console: the little the pages need beyond HTML (no inline script: the CSP
// forbids it). "Add row" buttons of the key/value and tag editors; the new-secret form's
// switch between its key/value editor and JSON text, with the JSON checked as it is typed
// (the server checks it again).
"use strict";

// A row of an editor: inputs named key<i> / value<i> (as the server numbers them).
function editorRow(keyName, valueName, k, v) {
  var row = document.createElement("div");
  row.className = "row";
  var key = document.createElement("input");
  key.name = keyName;
  key.placeholder = "key";
  key.setAttribute("aria-label", "key");
  key.value = k;
  var value = document.createElement("input");
  value.name = valueName;
  value.placeholder = "value";
  value.setAttribute("aria-label", "value");
  value.autocomplete = "off";
  value.value = v;
  row.append(key, " ", value);
  return row;
}

document.addEventListener("click", function (ev) {
  var b = ev.target.closest("button[data-rows]");
  if (!b) return;
  var rows = document.getElementById(b.dataset.rows);
  var i = rows.querySelectorAll(".row").length;
  // Next free index (rows are numbered key0, key1, ... by the server).
  while (rows.querySelector('[name="' + b.dataset.key + i + '"]')) i++;
  var row = editorRow(b.dataset.key + i, b.dataset.value + i, "", "");
  rows.appendChild(row);
  row.querySelector("input").focus();
});

// Why the JSON text is not what the key/value editor or the server can take ("" if it is).
function jsonProblem(text) {
  try {
    JSON.parse(text);
    return "";
  } catch (e) {
    return "The secret value is not valid JSON: " + e.message;
  }
}

function showJsonProblem(problem) {
  var area = document.getElementById("json");
  var out = document.getElementById("json-error");
  out.textContent = problem;
  out.hidden = problem === "";
  if (problem) area.setAttribute("aria-invalid", "true");
  else area.removeAttribute("aria-invalid");
}

function choose(kind) {
  var radio = document.getElementById("kind-" + kind);
  if (radio) radio.checked = true;
}

// Key/value rows -> JSON text (keys in the order typed, empty keys dropped).
document.addEventListener("click", function (ev) {
  var b = ev.target.closest("button[data-to-json]");
  if (!b) return;
  var obj = {};
  document.querySelectorAll("#kv-rows .row").forEach(function (row) {
    var inputs = row.querySelectorAll("input");
    var k = inputs[0].value.trim();
    if (k !== "") obj[k] = inputs[1].value;
  });
  var area = document.getElementById(b.dataset.toJson);
  area.value = JSON.stringify(obj, null, 2);
  showJsonProblem("");
  choose("json");
  area.focus();
});

// JSON text -> key/value rows, when it is an object of text values (anything else would
// change the value: it stays JSON, and the page says why).
document.addEventListener("click", function (ev) {
  var b = ev.target.closest("button[data-to-pairs]");
  if (!b) return;
  var text = document.getElementById("json").value;
  var problem = jsonProblem(text);
  var obj = null;
  if (!problem) {
    obj = JSON.parse(text);
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
      problem = "Only a JSON object can be edited as key/value pairs.";
    } else if (Object.values(obj).some(function (v) { return typeof v !== "string"; })) {
      problem = "Only text values can be edited as key/value pairs; keep editing this value as JSON.";
    }
  }
  showJsonProblem(problem);
  if (problem) return;
  var rows = document.getElementById(b.dataset.toPairs);
  rows.replaceChildren();
  var keys = Object.keys(obj);
  keys.forEach(function (k, i) {
    var row = editorRow("key" + i, "value" + i, k, obj[k]);
    row.querySelector("input").classList.add("kv-key");
    row.querySelectorAll("input")[1].classList.add("kv-value");
    rows.appendChild(row);
  });
  if (keys.length === 0) rows.appendChild(editorRow("key0", "value0", "", ""));
  choose("kv");
});

document.addEventListener("input", function (ev) {
  if (ev.target.id === "json") showJsonProblem(ev.target.value === "" ? "" : jsonProblem(ev.target.value));
});

// A JSON secret that is not JSON is not sent.
document.addEventListener("submit", function (ev) {
  var json = ev.target.querySelector("#kind-json");
  if (!json || !json.checked) return;
  var problem = jsonProblem(document.getElementById("json").value);
  if (problem) {
    ev.preventDefault();
    showJsonProblem(problem);
    document.getElementById("json").focus();
  }
});
