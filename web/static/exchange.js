// OKPay — the countdown of an exchange or remittance quote (no inline
// scripts: the CSP forbids them; the page works without this file).
//
// A [data-fx-quote] element carries data-seconds, the seconds the quote
// was still valid when the server rendered the page (counted from the
// page's load, so a wrong clock in the browser does not matter), and
// data-left, the text of the countdown with {time} for m:ss. When the time
// runs out, the page's [data-fx-live] elements (the confirm button) hide
// and its [data-fx-expired] ones (the banner, the "new quote" button)
// show.
(function () {
  'use strict';
  function pad(n) {
    return n < 10 ? '0' + n : String(n);
  }
  function setup(box) {
    var seconds = parseInt(box.getAttribute('data-seconds'), 10);
    if (isNaN(seconds)) {
      return;
    }
    var started = Date.now();
    var out = box.querySelector('[data-fx-countdown]');
    var text = box.getAttribute('data-left') || '{time}';
    var timer = null;
    function expire() {
      document.querySelectorAll('[data-fx-live]').forEach(function (el) {
        el.hidden = true;
      });
      document.querySelectorAll('[data-fx-expired]').forEach(function (el) {
        el.hidden = false;
      });
      document.body.setAttribute('data-fx-state', 'expired');
    }
    function tick() {
      var left = seconds - Math.floor((Date.now() - started) / 1000);
      if (left <= 0) {
        if (timer !== null) {
          clearInterval(timer);
        }
        expire();
        return;
      }
      if (out) {
        out.textContent = text.replace('{time}', Math.floor(left / 60) + ':' + pad(left % 60));
      }
    }
    document.body.setAttribute('data-fx-state', 'live');
    tick();
    if (seconds > 0) {
      timer = setInterval(tick, 1000);
    }
  }
  function init() {
    document.querySelectorAll('[data-fx-quote]').forEach(setup);
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
