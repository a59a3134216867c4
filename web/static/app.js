// OKPay — the little JavaScript the pages use. No inline scripts (the CSP
// forbids them); every page works without it.
//
// Password show/hide (PWD-07): a button with data-pw-toggle="<input id>"
// switches that input between type=password and type=text. The buttons are
// rendered hidden and shown here, so without JavaScript no dead button
// appears. Nothing here blocks pasting into any field.
(function () {
  'use strict';
  function setup(button) {
    var input = document.getElementById(button.getAttribute('data-pw-toggle'));
    if (!input) {
      return;
    }
    button.hidden = false;
    button.addEventListener('click', function () {
      var show = input.type === 'password';
      input.type = show ? 'text' : 'password';
      button.setAttribute('aria-pressed', show ? 'true' : 'false');
      button.textContent = button.getAttribute(show ? 'data-hide' : 'data-show');
      input.focus();
    });
  }
  // Show the password as dots again before the form is sent, so the
  // browser's password manager sees a password field.
  function hideOnSubmit(form) {
    form.addEventListener('submit', function () {
      form.querySelectorAll('[data-pw-toggle]').forEach(function (button) {
        var input = document.getElementById(button.getAttribute('data-pw-toggle'));
        if (input && input.type === 'text') {
          input.type = 'password';
          button.setAttribute('aria-pressed', 'false');
          button.textContent = button.getAttribute('data-show');
        }
      });
    });
  }
  function init() {
    document.querySelectorAll('[data-pw-toggle]').forEach(setup);
    document.querySelectorAll('form').forEach(hideOnSubmit);
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
