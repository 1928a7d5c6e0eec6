// The delivery dashboard, live: follows the alert's event stream, updates the counts in
// place and fetches each message's chart again. Without this script the page is the same,
// as of when it was loaded; refreshing it updates it.
(function () {
  "use strict";
  var root = document.querySelector("[data-dashboard]");
  if (!root || !window.EventSource) {
    return;
  }
  var live = root.querySelector("[data-live]");

  function percent(share) {
    return Math.round(share * 100) + " %";
  }

  function setText(selector, value) {
    var cell = root.querySelector(selector);
    if (!cell) {
      return false;
    }
    if (cell.textContent !== value) {
      cell.textContent = value;
    }
    return true;
  }

  function replaceChart(messageId) {
    var figure = root.querySelector('[data-chart-for="' + messageId + '"]');
    if (!figure) {
      return;
    }
    fetch(root.dataset.chart + "?message=" + messageId, {credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (svg) { if (svg) { figure.innerHTML = svg; } });
  }

  // True when the page shows every message and channel of the snapshot; a new one
  // (an Update, a channel's first delivery) needs the page rendered again.
  function update(snapshot) {
    var complete = true;
    snapshot.messages.forEach(function (message) {
      Object.keys(message.channels).forEach(function (channel) {
        var counts = message.channels[channel];
        var key = message.message_id + ":" + channel + ":";
        Object.keys(counts).forEach(function (column) {
          var shown = column === "delivered_share" ? percent(counts[column]) : String(counts[column]);
          complete = setText('[data-cell="' + key + column + '"]', shown) && complete;
        });
      });
      replaceChart(message.message_id);
    });
    snapshot.districts.forEach(function (node) {
      node.messages.forEach(function (message) {
        var said = message.acked ? root.dataset.acked : root.dataset.notAcked;
        complete = setText('[data-node-cell="' + node.code + ":" + message.message_id + '"]',
                           said + " (" + message.status + ")") && complete;
      });
    });
    setText("[data-failed-total]", "(" + snapshot.failed.total + ")");
    return complete;
  }

  var first = true;
  var stream = new EventSource(root.dataset.events);
  stream.addEventListener("snapshot", function (event) {
    if (live) {
      live.hidden = false;
    }
    var complete = update(JSON.parse(event.data));
    // The first snapshot is what the page already shows, unless it changed meanwhile.
    if (!complete && !first) {
      stream.close();
      window.location.reload();
    }
    first = false;
  });
  stream.addEventListener("error", function () {
    if (live) {
      live.hidden = true;
    }
  });
})();
