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

// Passkeys (WebAuthn). The server renders a form with data-passkey="create"
// (add a passkey) or "get" (use one) and the options for
// navigator.credentials in data-passkey-options, as JSON whose binary
// fields are base64url strings. On submit this turns those fields into
// ArrayBuffers, runs the browser's ceremony, writes the resulting
// PublicKeyCredential back as JSON (binary fields in base64url) into the
// hidden "response" input, and posts the form. Elements marked
// data-passkey-entry (the buttons that start a ceremony) are shown only
// where the browser supports passkeys.
(function () {
  'use strict';
  function supported() {
    return typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;
  }
  function toBuffer(s) {
    var b64 = String(s).replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) {
      b64 += '=';
    }
    var bin = atob(b64);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      bytes[i] = bin.charCodeAt(i);
    }
    return bytes.buffer;
  }
  function toBase64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = '';
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function descriptors(list) {
    return (list || []).map(function (d) {
      var out = { type: d.type, id: toBuffer(d.id) };
      if (d.transports) {
        out.transports = d.transports;
      }
      return out;
    });
  }
  // publicKey returns the PublicKeyCredentialCreationOptions or
  // PublicKeyCredentialRequestOptions of the server's JSON.
  function publicKey(json, mode) {
    var o = JSON.parse(json);
    var pk = o.publicKey || o;
    pk.challenge = toBuffer(pk.challenge);
    if (mode === 'create') {
      pk.user.id = toBuffer(pk.user.id);
      pk.excludeCredentials = descriptors(pk.excludeCredentials);
    } else {
      pk.allowCredentials = descriptors(pk.allowCredentials);
    }
    return pk;
  }
  // credentialJSON is the server's JSON form of a PublicKeyCredential.
  function credentialJSON(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toBase64url(r.clientDataJSON) }
    };
    if (cred.authenticatorAttachment) {
      out.authenticatorAttachment = cred.authenticatorAttachment;
    }
    if (r.attestationObject) {
      out.response.attestationObject = toBase64url(r.attestationObject);
      if (r.getTransports) {
        out.response.transports = r.getTransports();
      }
    } else {
      out.response.authenticatorData = toBase64url(r.authenticatorData);
      out.response.signature = toBase64url(r.signature);
      if (r.userHandle && r.userHandle.byteLength > 0) {
        out.response.userHandle = toBase64url(r.userHandle);
      }
    }
    return JSON.stringify(out);
  }
  function setup(form) {
    var mode = form.getAttribute('data-passkey');
    var button = form.querySelector('[data-passkey-submit]');
    var status = form.querySelector('[data-passkey-status]');
    var response = form.querySelector('[data-passkey-response]');
    if (!supported()) {
      var note = form.querySelector('[data-passkey-unsupported]');
      if (note) {
        note.hidden = false;
      }
      return;
    }
    if (button) {
      button.hidden = false;
    }
    var busy = false;
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      if (busy) {
        return;
      }
      busy = true;
      if (button) {
        button.disabled = true;
      }
      if (status) {
        status.hidden = true;
      }
      var ceremony;
      try {
        var options = publicKey(form.getAttribute('data-passkey-options'), mode);
        ceremony = mode === 'create' ?
          navigator.credentials.create({ publicKey: options }) :
          navigator.credentials.get({ publicKey: options });
      } catch (err) {
        ceremony = Promise.reject(err);
      }
      ceremony.then(function (cred) {
        if (!cred) {
          throw new Error('no credential');
        }
        response.value = credentialJSON(cred);
        HTMLFormElement.prototype.submit.call(form);
      }).catch(function () {
        busy = false;
        if (button) {
          button.disabled = false;
        }
        if (status) {
          status.textContent = form.getAttribute('data-passkey-error');
          status.hidden = false;
        }
      });
    });
  }
  function init() {
    if (supported()) {
      document.querySelectorAll('[data-passkey-entry]').forEach(function (el) {
        el.hidden = false;
      });
    }
    document.querySelectorAll('form[data-passkey]').forEach(setup);
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();

// Menus in the navigation (the staff's "Manage", a <details>): a click
// elsewhere or Escape closes an open one, as a menu does; without
// JavaScript it still opens and closes by its summary.
(function () {
  'use strict';
  function openMenus() {
    return document.querySelectorAll('.nav-more details[open]');
  }
  document.addEventListener('click', function (e) {
    openMenus().forEach(function (d) {
      if (!d.contains(e.target)) {
        d.open = false;
      }
    });
  });
  document.addEventListener('keydown', function (e) {
    if (e.key !== 'Escape') {
      return;
    }
    openMenus().forEach(function (d) {
      d.open = false;
      var s = d.querySelector('summary');
      if (s && d.contains(document.activeElement)) {
        s.focus();
      }
    });
  });
})();
