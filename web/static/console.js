// OKPay agent console (web/staff_desk.go): live updates over the staff
// WebSocket (/staff/desk/ws) and composers that send without reloading.
// The pages work without it. No inline code: texts come from data-t-*
// attributes of the page.
(function () {
  'use strict';

  if (!window.fetch || !window.WebSocket) {
    return;
  }
  var thread = document.querySelector('[data-testid="desk-conversation"]');
  var inbox = document.querySelector('[data-testid="desk-inbox"]');
  var live = document.querySelector('[data-testid="desk-live"]');
  if (!thread && !inbox) {
    return;
  }

  // ---- the socket, shared by both pages ----

  var ws = null;
  var retries = 0;
  var retryTimer = 0;
  var onOpen = function () {};
  var onFrame = function () {};

  function setLive(state, text) {
    if (!live) { return; }
    live.dataset.state = state;
    live.textContent = text || '';
  }

  function connect() {
    if (ws) {
      return;
    }
    clearTimeout(retryTimer);
    var sock = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/staff/desk/ws');
    ws = sock;
    sock.onopen = function () { onOpen(sock); };
    sock.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (ws === sock) { onFrame(f); }
    };
    sock.onclose = function () {
      if (ws !== sock) {
        return;
      }
      ws = null;
      setLive('reconnecting', thread ? thread.dataset.tReconnecting : '');
      var wait = Math.min(30000, 1000 * Math.pow(1.5, retries)) * (0.8 + Math.random() * 0.4);
      retries++;
      retryTimer = setTimeout(connect, wait);
    };
  }

  window.addEventListener('online', function () { retries = 0; connect(); });

  function newKey() {
    if (window.crypto && crypto.randomUUID) {
      return crypto.randomUUID();
    }
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ('0' + x.toString(16)).slice(-2); }).join('');
  }

  function postForm(action, data) {
    return fetch(action, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Accept': 'application/json', 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(data).toString()
    }).then(function (res) {
      return res.text().then(function (text) {
        var out = null;
        try { out = text ? JSON.parse(text) : null; } catch (e) { out = null; }
        if (!res.ok) {
          var err = new Error((out && out.error) || '');
          err.status = res.status;
          throw err;
        }
        return out;
      });
    });
  }

  // ---- the inbox: reload the list when a conversation starts or changes ----

  if (inbox) {
    var reloadTimer = 0;
    var reload = function () {
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(function () {
        fetch(location.href, { credentials: 'same-origin', headers: { 'Accept': 'text/html' } }).then(function (res) {
          if (!res.ok) { throw new Error(String(res.status)); }
          return res.text();
        }).then(function (html) {
          var doc = new DOMParser().parseFromString(html, 'text/html');
          var fresh = doc.querySelector('[data-testid="desk-inbox-list"]');
          var old = inbox.querySelector('[data-testid="desk-inbox-list"]');
          if (fresh && old) {
            old.replaceWith(document.importNode(fresh, true));
            inbox.dataset.reloads = String((parseInt(inbox.dataset.reloads, 10) || 0) + 1);
          }
        }).catch(function () { /* the next event tries again */ });
      }, 250);
    };
    onOpen = function (sock) { sock.send(JSON.stringify({ type: 'inbox' })); };
    onFrame = function (f) {
      switch (f.type) {
        case 'subscribed':
          retries = 0;
          setLive('live', '');
          reload(); // what changed while the socket was down
          break;
        case 'created':
        case 'conversation':
        case 'resync':
          reload();
          break;
      }
    };
    connect();
    return;
  }

  // ---- one conversation ----

  var T = thread.dataset;
  var conv = T.conversation;
  var me = T.me;
  var list = thread.querySelector('[data-testid="desk-messages"]');
  var typing = thread.querySelector('[data-testid="desk-typing"]');
  var have = {};
  var contiguous = 0;
  var customerRead = parseInt(T.customerRead, 10) || 0;
  var readSent = 0;
  var typingTimer = 0;
  var lastTyping = 0;

  Array.prototype.forEach.call(list.querySelectorAll('[data-seq]'), function (li) {
    have[parseInt(li.dataset.seq, 10)] = true;
  });
  // The page shows the last messages: everything up to data-last-seq is
  // there or was left out on purpose (older than the page).
  contiguous = parseInt(T.lastSeq, 10) || 0;

  function authorLabel(m) {
    if (m.author === 'agent') { return m.author_id === me ? T.tYou : T.tAgent; }
    if (m.author === 'customer' || m.author === 'visitor') { return T.tCustomer; }
    return T.tSystem;
  }

  function render(m) {
    var li = document.createElement('li');
    var fromCustomer = m.author === 'customer' || m.author === 'visitor';
    li.className = 'desk-message ' + (m.internal ? 'desk-note' : (fromCustomer ? 'desk-customer' : 'desk-agent'));
    li.id = 'm-' + m.seq;
    li.setAttribute('data-testid', 'desk-message');
    li.dataset.seq = m.seq;
    li.dataset.internal = m.internal ? 'true' : 'false';
    var who = document.createElement('span');
    who.className = 'desk-who';
    who.textContent = authorLabel(m);
    li.dataset.author = who.textContent;
    if (m.internal) {
      var badge = document.createElement('span');
      badge.className = 'badge badge-warn';
      badge.textContent = T.tNote;
      who.appendChild(document.createTextNode(' '));
      who.appendChild(badge);
    }
    li.appendChild(who);
    if (m.body) {
      var p = document.createElement('p');
      p.className = 'desk-body';
      p.textContent = m.body;
      li.appendChild(p);
    }
    (m.attachments || []).forEach(function (a) {
      var link = document.createElement('a');
      link.className = 'desk-file';
      link.href = '/staff/desk/attachment?id=' + encodeURIComponent(a.id);
      link.setAttribute('download', a.name);
      link.textContent = a.name + ' (' + Math.max(1, Math.round(a.size / 1024)) + ' KB)';
      li.appendChild(link);
    });
    var meta = document.createElement('span');
    meta.className = 'desk-meta';
    var time = document.createElement('time');
    time.dateTime = m.created_at;
    time.textContent = new Date(m.created_at).toLocaleString(document.documentElement.lang);
    meta.appendChild(time);
    if (!fromCustomer && !m.internal) {
      var seen = document.createElement('span');
      seen.className = 'desk-seen';
      seen.setAttribute('data-testid', 'desk-seen');
      seen.textContent = T.tSeen;
      seen.hidden = m.seq > customerRead;
      meta.appendChild(document.createTextNode(' '));
      meta.appendChild(seen);
    }
    li.appendChild(meta);
    return li;
  }

  function add(m) {
    if (!m || !m.seq || have[m.seq]) {
      return;
    }
    have[m.seq] = true;
    while (have[contiguous + 1]) {
      contiguous++;
    }
    var empty = list.querySelector('[data-testid="desk-no-messages"]');
    if (empty) { empty.remove(); }
    var li = render(m);
    var before = null;
    var items = list.children;
    for (var i = 0; i < items.length; i++) {
      var s = parseInt(items[i].dataset.seq, 10);
      if (s > m.seq) { before = items[i]; break; }
    }
    list.insertBefore(li, before);
    thread.dataset.lastSeq = contiguous;
    if (m.author === 'customer' || m.author === 'visitor') {
      typing.hidden = true;
    }
    li.scrollIntoView({ block: 'nearest' });
    markRead();
  }

  function markSeen(seq) {
    if (seq <= customerRead) { return; }
    customerRead = seq;
    thread.dataset.customerRead = seq;
    Array.prototype.forEach.call(list.querySelectorAll('.desk-agent'), function (li) {
      var s = li.querySelector('.desk-seen');
      if (s && parseInt(li.dataset.seq, 10) <= seq) { s.hidden = false; }
    });
  }

  var readTimer = 0;
  function markRead() {
    if (document.visibilityState !== 'visible' || contiguous <= readSent) {
      return;
    }
    clearTimeout(readTimer);
    readTimer = setTimeout(function () {
      var seq = contiguous;
      postForm('/staff/desk/read', { id: conv, seq: String(seq) }).then(function () {
        readSent = Math.max(readSent, seq);
      }).catch(function () { /* retried with the next message */ });
    }, 300);
  }
  document.addEventListener('visibilitychange', markRead);

  onOpen = function (sock) {
    sock.send(JSON.stringify({ type: 'subscribe', conversation: conv, after: contiguous }));
  };
  onFrame = function (f) {
    if (f.conversation && f.conversation !== conv) {
      return;
    }
    switch (f.type) {
      case 'message':
        add(f.message);
        break;
      case 'subscribed':
        retries = 0;
        setLive('live', T.tLive);
        (f.reads || []).forEach(function (r) { if (r.reader !== 'agent') { markSeen(r.seq); } });
        break;
      case 'typing':
        if (f.author === 'agent') { break; } // the indicator is the customer's
        typing.hidden = false;
        clearTimeout(typingTimer);
        typingTimer = setTimeout(function () { typing.hidden = true; }, 5000);
        break;
      case 'read':
        if (f.reader !== 'agent') { markSeen(f.seq); }
        break;
      case 'status':
      case 'assigned':
        var status = document.querySelector('[data-testid="desk-status"]');
        if (status && f.status) { status.dataset.status = f.status; }
        break;
    }
  };

  // The composers send without reloading; the answer is the message
  // frame, shown at once (the socket's copy is then a duplicate, ignored).
  Array.prototype.forEach.call(document.querySelectorAll('form.desk-composer'), function (form) {
    var area = form.querySelector('textarea');
    var error = form.querySelector('.desk-form-error');
    var key = form.querySelector('input[name="key"]');
    var button = form.querySelector('button[type="submit"]');
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      if (!area.value.trim()) {
        return;
      }
      error.hidden = true;
      button.disabled = true;
      var data = {};
      new FormData(form).forEach(function (v, k) { data[k] = v; });
      postForm(form.action, data).then(function (f) {
        key.value = newKey(); // the next message gets its own key
        area.value = '';
        add(f && f.message);
      }).catch(function (err) {
        // A network failure keeps the text and the key: sending again
        // cannot send twice.
        error.textContent = err.message || T.tError;
        error.hidden = false;
      }).then(function () { button.disabled = false; });
    });
    area.addEventListener('input', function () {
      var now = Date.now();
      if (ws && ws.readyState === 1 && now - lastTyping > 2000) {
        lastTyping = now;
        ws.send(JSON.stringify({ type: 'typing', conversation: conv, internal: form.dataset.kind === 'note' }));
      }
    });
  });

  setLive('connecting', T.tConnecting);
  connect();
  markRead();
}());
