/* Kashi console, progressive enhancement only: sortable table columns (the rows of the page shown;
   pages themselves come from the API's cursors). Every page works without this script. */
(function () {
  "use strict";
  function value(cell, kind) {
    var text = (cell.getAttribute("data-value") || cell.textContent).trim();
    if (kind === "num") {
      var n = parseFloat(text.replace(/[^0-9.\-]/g, ""));
      return isNaN(n) ? -Infinity : n;
    }
    return text.toLocaleLowerCase();
  }
  function sortBy(table, index, kind, th) {
    var body = table.tBodies[0];
    if (!body) return;
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a.cells[index], kind), y = value(b.cells[index], kind);
      return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table.sortable thead th[data-sort]").forEach(function (th) {
      var table = th.closest("table"), index = th.cellIndex, kind = th.getAttribute("data-sort");
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = th.textContent;
      button.setAttribute("aria-label", "Sort by " + th.textContent.trim());
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, index, kind, th); });
    });
  });
})();
