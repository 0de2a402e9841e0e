// Strongroom console: the little the pages need beyond HTML (no inline script: the CSP
// forbids it). "Add row" buttons of the key/value and tag editors.
"use strict";
document.addEventListener("click", function (ev) {
  var b = ev.target.closest("button[data-rows]");
  if (!b) return;
  var rows = document.getElementById(b.dataset.rows);
  var i = rows.querySelectorAll(".row").length;
  // Next free index (rows are numbered key0, key1, ... by the server).
  while (rows.querySelector('[name="' + b.dataset.key + i + '"]')) i++;
  var row = document.createElement("div");
  row.className = "row";
  var k = document.createElement("input");
  k.name = b.dataset.key + i;
  k.placeholder = "key";
  var v = document.createElement("input");
  v.name = b.dataset.value + i;
  v.placeholder = "value";
  v.autocomplete = "off";
  row.append(k, " ", v);
  rows.appendChild(row);
  k.focus();
});
