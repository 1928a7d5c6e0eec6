// The staff pages work without this script. With it, the compose form says, before anything
// is sent, which districts, devices, subscribers and district nodes the area reaches
// (POST /api/areas/reach, with the session's CSRF token), and the Exercise/Test banner
// follows the status chosen.
(function () {
  "use strict";

  function chosen(form, name) {
    return Array.prototype.map.call(form.querySelectorAll("input[name=" + name + "]:checked"),
      function (box) { return box.value; });
  }

  function describe(output, reach) {
    var words = output.dataset;
    var devices = Object.keys(reach.devices).map(function (kind) {
      return kind + " " + reach.devices[kind];
    }).join(", ") || "0";
    var names = reach.districts.map(function (district) {
      return district.name[document.documentElement.lang] || district.code;
    }).join(", ") || "-";
    output.textContent = words.districts + ": " + names + " · " + words.devices + ": " +
      devices + " · " + words.subscribers + ": " + reach.subscribers + " · " + words.nodes +
      ": " + (reach.nodes.length ? reach.nodes.join(", ") : "0");
  }

  function measure(form, output) {
    var districts = chosen(form, "districts");
    var status = (chosen(form, "status")[0]) || "Actual";
    if (!districts.length) {
      output.textContent = output.dataset.none;
      return;
    }
    fetch("/api/areas/reach", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": output.dataset.csrf},
      body: JSON.stringify({districts: districts, status: status})
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (reach) {
      if (reach) { describe(output, reach); }
    }).catch(function () { output.textContent = ""; });
  }

  function followStatus(form) {
    var banner = document.querySelector(".live-banner");
    if (!banner) { return; }
    var status = chosen(form, "status")[0] || "";
    banner.hidden = !(status === "Exercise" || status === "Test");
    banner.className = "banner live-banner banner-" + status.toLowerCase();
    banner.dataset.banner = banner.hidden ? "" : status;
    banner.textContent = banner.dataset[status.toLowerCase()] || "";
  }

  function bind(form) {
    var output = form.querySelector("output.reach");
    form.addEventListener("change", function (event) {
      var name = event.target.name;
      if (output && (name === "districts" || name === "status")) { measure(form, output); }
      if (name === "status") { followStatus(form); }
    });
    if (output) { measure(form, output); }
  }

  function start() {
    document.querySelectorAll("form.alert-form").forEach(bind);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
