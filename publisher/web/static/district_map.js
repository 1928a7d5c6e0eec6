// The area picker (publisher/web/district_map.py): a click on a district's shape toggles
// the checkbox of that district, which is what the form submits; the shape follows
// the checkbox. Without this script the checkboxes work alone.
(function () {
  "use strict";

  function bind(map) {
    if (map.dataset.bound) {
      return;
    }
    map.dataset.bound = "true";
    var boxes = {};
    map.querySelectorAll("input[type=checkbox]").forEach(function (box) {
      boxes[box.value] = box;
    });
    map.querySelectorAll("path[data-code]").forEach(function (shape) {
      var box = boxes[shape.dataset.code];
      if (!box) {
        return;
      }
      shape.addEventListener("click", function () {
        box.checked = !box.checked;
        box.dispatchEvent(new Event("change", { bubbles: true }));
      });
      box.addEventListener("change", function () {
        shape.classList.toggle("selected", box.checked);
      });
    });
  }

  function bindAll() {
    document.querySelectorAll(".district-map").forEach(bind);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", bindAll);
  } else {
    bindAll();
  }
}());
