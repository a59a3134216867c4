// OKPay — the card form of /account/methods/cards/new (no inline scripts:
// the CSP forbids them).
//
// The card number, expiry and security code go to the payment provider's
// token endpoint only (data-token-url, the built-in sandbox's
// /sandbox/v1/tokens), as JSON; OKPay's own form (data-add-form) then
// receives nothing but the token the provider answered with (CRD-01). The
// card inputs are emptied before that form is sent. Without JavaScript the
// card form itself posts to the provider, which sends the browser back to
// the page with the token.
(function () {
  'use strict';
  function init() {
    var form = document.querySelector('[data-card-form]');
    if (!form || !window.fetch || !window.JSON) {
      return;
    }
    var addForm = document.getElementById(form.getAttribute('data-add-form'));
    var tokenInput = addForm && addForm.querySelector('[data-card-token]');
    var alertBox = document.querySelector('[data-card-alert]');
    var button = form.querySelector('button[type="submit"]');
    if (!addForm || !tokenInput) {
      return;
    }
    var inputs = { number: form.elements.number, expiry: form.elements.exp, cvc: form.elements.cvc };

    function clearErrors() {
      form.querySelectorAll('[data-card-error]').forEach(function (el) {
        el.textContent = '';
        el.hidden = true;
      });
      form.querySelectorAll('[data-card-field]').forEach(function (el) {
        el.classList.remove('field-invalid');
      });
      Object.keys(inputs).forEach(function (k) {
        inputs[k].removeAttribute('aria-invalid');
      });
      if (alertBox) {
        alertBox.textContent = '';
        alertBox.hidden = true;
      }
    }

    function fail(message) {
      if (alertBox) {
        alertBox.textContent = message || form.getAttribute('data-failed');
        alertBox.hidden = false;
        alertBox.setAttribute('tabindex', '-1');
        alertBox.focus();
      }
    }

    // showErrors puts the provider's messages next to their fields; it
    // reports whether there was any.
    function showErrors(errors) {
      var first = null;
      Object.keys(inputs).forEach(function (k) {
        if (!errors || !errors[k]) {
          return;
        }
        var el = form.querySelector('[data-card-error="' + k + '"]');
        if (el) {
          el.textContent = String(errors[k]);
          el.hidden = false;
        }
        var wrap = form.querySelector('[data-card-field="' + k + '"]');
        if (wrap) {
          wrap.classList.add('field-invalid');
        }
        inputs[k].setAttribute('aria-invalid', 'true');
        if (!first) {
          first = inputs[k];
        }
      });
      if (first) {
        first.focus();
        return true;
      }
      return false;
    }

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      clearErrors();
      button.disabled = true;
      var body = JSON.stringify({
        number: inputs.number.value,
        exp: inputs.expiry.value,
        cvc: inputs.cvc.value
      });
      fetch(form.getAttribute('data-token-url'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
        body: body,
        credentials: 'same-origin',
        cache: 'no-store',
        redirect: 'error'
      }).then(function (res) {
        return res.json().then(function (json) {
          return { status: res.status, json: json };
        }, function () {
          return { status: res.status, json: null };
        });
      }).then(function (r) {
        if (r.status === 201 && r.json && typeof r.json.token === 'string') {
          // Nothing of the card stays in the page, nor goes to OKPay.
          inputs.number.value = '';
          inputs.expiry.value = '';
          inputs.cvc.value = '';
          tokenInput.value = r.json.token;
          addForm.submit();
          return;
        }
        button.disabled = false;
        if (!showErrors(r.json && r.json.errors)) {
          fail(r.json && r.json.title);
        }
      }, function () {
        button.disabled = false;
        fail();
      });
    });
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
