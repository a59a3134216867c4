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
    sock.onclose = function (ev) {
      if (ws !== sock) {
        return;
      }
      ws = null;
      if (ev.code === 4002) {
        // The session ended (signed out, revoked, the agent disabled or
        // its role changed: chat.CloseSessionEnded). Loading the page
        // again shows why: the sign-in page, or what the agent may see.
        location.reload();
        return;
      }
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

  // fetchPage reads this page again, parsed: the inbox's list and a
  // conversation's details update from it.
  function fetchPage() {
    return fetch(location.href, { credentials: 'same-origin', headers: { 'Accept': 'text/html' } }).then(function (res) {
      if (!res.ok) { throw new Error(String(res.status)); }
      return res.text();
    }).then(function (html) { return new DOMParser().parseFromString(html, 'text/html'); });
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

  // ---- keyboard shortcuts, on both pages (not while typing in a field) ----

  var help = document.querySelector('[data-testid="desk-help"]');
  var keys = {};

  function typingInField(el) {
    if (!el || !el.tagName) { return false; }
    var tag = el.tagName.toLowerCase();
    return tag === 'input' || tag === 'textarea' || tag === 'select' || el.isContentEditable;
  }

  function showHelp(show) {
    if (!help) { return; }
    help.hidden = !show;
    if (show) {
      var close = help.querySelector('[data-testid="desk-help-close"]');
      if (close) { close.focus(); }
    }
  }
  if (help) {
    help.querySelector('[data-testid="desk-help-close"]').addEventListener('click', function () { showHelp(false); });
    help.addEventListener('click', function (ev) { if (ev.target === help) { showHelp(false); } });
  }

  document.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape' && help && !help.hidden) {
      showHelp(false);
      ev.preventDefault();
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented || typingInField(ev.target)) {
      return;
    }
    if (ev.key === '?') {
      showHelp(help && help.hidden);
      ev.preventDefault();
      return;
    }
    if (help && !help.hidden) { return; }
    var f = keys[ev.key];
    if (f) {
      ev.preventDefault();
      f();
    }
  });

  // ---- the inbox: reload the list when a conversation starts or changes ----

  if (inbox) {
    var reloadTimer = 0;
    var reload = function () {
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(function () {
        fetchPage().then(function (doc) {
          var fresh = doc.querySelector('[data-testid="desk-inbox-list"]');
          var old = inbox.querySelector('[data-testid="desk-inbox-list"]');
          if (fresh && old) {
            // what was unread or selected stays so, and the unread rows
            // (moved up by their new messages) stay on top, in their
            // order: the server lists newest first
            var unread = [];
            Array.prototype.forEach.call(old.querySelectorAll('tr[data-unread="true"]'), function (tr) {
              unread.push(tr.dataset.conversation);
            });
            var chosen = selectedRow();
            old.replaceWith(document.importNode(fresh, true));
            unread.reverse().forEach(function (ref) {
              var tr = rowOf(ref);
              if (!tr) { return; }
              markUnread(tr);
              var body = tr.parentNode;
              if (body.firstElementChild !== tr) { body.insertBefore(tr, body.firstElementChild); }
            });
            if (chosen) { select(rowOf(chosen.dataset.conversation)); }
            inbox.dataset.reloads = String((parseInt(inbox.dataset.reloads, 10) || 0) + 1);
          }
        }).catch(function () { /* the next event tries again */ });
      }, 250);
    };
    var rows = function () {
      return Array.prototype.slice.call(inbox.querySelectorAll('[data-testid="desk-inbox-row"]'));
    };
    var rowOf = function (ref) {
      var found = null;
      rows().forEach(function (tr) { if (tr.dataset.conversation === ref) { found = tr; } });
      return found;
    };
    var selectedRow = function () { return inbox.querySelector('tr[data-selected="true"]'); };
    var select = function (tr) {
      var old = selectedRow();
      if (old) { old.removeAttribute('data-selected'); }
      if (!tr) { return; }
      tr.dataset.selected = 'true';
      tr.scrollIntoView({ block: 'nearest' });
    };
    var move = function (by) {
      var all = rows();
      if (!all.length) { return; }
      var i = all.indexOf(selectedRow());
      i = i < 0 ? (by > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, i + by));
      select(all[i]);
    };
    var markUnread = function (tr) {
      tr.dataset.unread = 'true';
      if (!tr.querySelector('.desk-unread-badge')) {
        var b = document.createElement('span');
        b.className = 'badge badge-warn desk-unread-badge';
        b.setAttribute('data-testid', 'desk-unread');
        b.textContent = inbox.dataset.tUnread;
        var cell = tr.querySelector('td');
        cell.appendChild(document.createTextNode(' '));
        cell.appendChild(b);
      }
    };
    // A new message moves its conversation to the top and, unless it is
    // the agent's own, marks it unread; a conversation not on the page
    // reloads the list (the server knows whether it belongs here).
    var bump = function (f) {
      var tr = rowOf(f.conversation);
      if (!tr) {
        reload();
        return;
      }
      if ((parseInt(tr.dataset.lastSeq, 10) || 0) >= f.seq) {
        return;
      }
      tr.dataset.lastSeq = String(f.seq);
      var body = tr.parentNode;
      if (body.firstElementChild !== tr) { body.insertBefore(tr, body.firstElementChild); }
      if (!(f.author === 'agent' && f.author_id === inbox.dataset.me)) { markUnread(tr); }
      var t = tr.querySelector('td:last-child time');
      if (t && f.at) {
        t.dateTime = f.at;
        t.textContent = new Date(f.at).toLocaleString(document.documentElement.lang);
      }
    };
    keys.j = function () { move(1); };
    keys.k = function () { move(-1); };
    keys.Enter = function () {
      var tr = selectedRow();
      var a = tr && tr.querySelector('[data-testid="desk-open"]');
      if (a) { location.href = a.href; }
    };
    onOpen = function (sock) { sock.send(JSON.stringify({ type: 'inbox' })); };
    onFrame = function (f) {
      switch (f.type) {
        case 'inbox_message':
          bump(f);
          break;
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
        refreshFacts();
        break;
    }
  };

  // refreshFacts brings the conversation's details (status, assignee…)
  // and the "Assign to me" button up to date after another agent or the
  // customer changed them: it reads the page again and swaps those parts
  // only (what the agent is typing or choosing stays).
  var factsTimer = 0;
  function refreshFacts() {
    clearTimeout(factsTimer);
    factsTimer = setTimeout(function () {
      fetchPage().then(function (doc) {
        var fresh = doc.querySelector('[data-testid="desk-facts"]');
        var old = document.querySelector('[data-testid="desk-facts"]');
        if (!fresh || !old) { return; }
        old.replaceWith(document.importNode(fresh, true));
        var freshAssign = doc.querySelector('[data-testid="desk-assign"]');
        var oldAssign = document.querySelector('[data-testid="desk-assign"]');
        if (oldAssign && !freshAssign) {
          oldAssign.remove();
        } else if (freshAssign && !oldAssign) {
          var facts = document.querySelector('[data-testid="desk-facts"]');
          facts.parentNode.insertBefore(document.importNode(freshAssign, true), facts.nextSibling);
        }
        var box = document.querySelector('[data-testid="desk-conversation"]');
        box.dataset.refreshes = String((parseInt(box.dataset.refreshes, 10) || 0) + 1);
      }).catch(function () { /* the next event tries again */ });
    }, 250);
  }

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

  // ---- collision notice: who else has this conversation open ----

  var collision = document.querySelector('[data-testid="desk-collision"]');
  var others = {}; // agent ref -> {name, seen, typing}
  var lastViewingSent = 0;

  function sendViewing(state) {
    lastViewingSent = Date.now();
    return postForm('/staff/desk/viewing', { id: conv, state: state || 'viewing' }).catch(function () { /* the next beat */ });
  }

  function fmt(text, name) { return text.replace('%s', name); }

  function showOthers() {
    if (!collision) { return; }
    var now = Date.now();
    var lines = [];
    Object.keys(others).forEach(function (ref) {
      var o = others[ref];
      if (now - o.seen > 30000) {
        delete others[ref];
        return;
      }
      var name = o.name || T.tAnother;
      lines.push(now - o.typing < 6000 ? fmt(T.tReplying, name) : fmt(T.tViewing, name));
    });
    collision.textContent = lines.join(' ');
    collision.hidden = lines.length === 0;
    collision.dataset.agents = String(lines.length);
  }

  function otherSeen(ref, name, typingNow) {
    if (!ref || ref === me) { return; }
    var o = others[ref];
    var isNew = !o;
    if (isNew) { o = others[ref] = { name: '', seen: 0, typing: 0 }; }
    if (name) { o.name = name; }
    o.seen = Date.now();
    if (typingNow) { o.typing = o.seen; }
    showOthers();
    // a newcomer learns at once that we are here too
    if (isNew && Date.now() - lastViewingSent > 1000) { sendViewing('viewing'); }
  }

  setInterval(function () {
    if (document.visibilityState === 'visible' && ws && ws.readyState === 1) { sendViewing('viewing'); }
    showOthers();
  }, 10000);
  window.addEventListener('pagehide', function () {
    if (navigator.sendBeacon) {
      navigator.sendBeacon('/staff/desk/viewing', new URLSearchParams({ id: conv, state: 'left' }));
    }
  });

  var baseFrame = onFrame;
  onFrame = function (f) {
    if (f.conversation && f.conversation !== conv) {
      return;
    }
    if (f.type === 'viewing') {
      if (f.state === 'left') {
        delete others[f.agent_id];
        showOthers();
      } else {
        otherSeen(f.agent_id, f.name, f.state === 'replying');
      }
      return;
    }
    if (f.type === 'typing' && f.author === 'agent') {
      otherSeen(f.author_id, '', true);
      return;
    }
    if (f.type === 'subscribed') { sendViewing('viewing'); }
    baseFrame(f);
  };

  // ---- canned responses: "/" and a shortcut in the reply ----

  var reply = document.querySelector('[data-testid="desk-reply-body"]');
  var suggest = document.querySelector('[data-testid="desk-canned-suggest"]');
  var cannedSelect = document.querySelector('[data-testid="desk-canned-select"]');
  var canned = [];
  if (cannedSelect) {
    Array.prototype.forEach.call(cannedSelect.options, function (o) {
      canned.push({ shortcut: o.dataset.shortcut, body: o.dataset.body, label: o.textContent });
    });
  }
  var choice = 0;
  var shown = [];

  function slashToken() {
    var before = reply.value.slice(0, reply.selectionStart);
    var m = /(^|\s)\/([a-z0-9-]*)$/.exec(before);
    return m ? { start: before.length - m[2].length - 1, word: m[2] } : null;
  }

  function closeSuggest() {
    shown = [];
    if (suggest) {
      suggest.hidden = true;
      suggest.textContent = '';
    }
  }

  function insertBody(body, start) {
    var end = reply.selectionStart;
    if (start === undefined) { start = end; }
    reply.value = reply.value.slice(0, start) + body + reply.value.slice(end);
    var caret = start + body.length;
    reply.focus();
    reply.setSelectionRange(caret, caret);
    closeSuggest();
    reply.dispatchEvent(new Event('input', { bubbles: true }));
  }

  function drawSuggest() {
    suggest.textContent = '';
    shown.forEach(function (c, i) {
      var li = document.createElement('li');
      li.setAttribute('role', 'option');
      li.setAttribute('data-testid', 'desk-canned-option');
      li.dataset.shortcut = c.shortcut;
      li.setAttribute('aria-selected', i === choice ? 'true' : 'false');
      li.textContent = c.label;
      li.addEventListener('mousedown', function (ev) {
        ev.preventDefault();
        var tok = slashToken();
        insertBody(c.body, tok ? tok.start : undefined);
      });
      suggest.appendChild(li);
    });
    suggest.hidden = shown.length === 0;
  }

  if (reply && suggest && canned.length) {
    reply.addEventListener('input', function () {
      var tok = slashToken();
      if (!tok) {
        closeSuggest();
        return;
      }
      shown = canned.filter(function (c) { return c.shortcut.indexOf(tok.word) === 0; }).slice(0, 8);
      choice = 0;
      drawSuggest();
    });
    reply.addEventListener('keydown', function (ev) {
      if (!shown.length) { return; }
      if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
        choice = (choice + (ev.key === 'ArrowDown' ? 1 : shown.length - 1)) % shown.length;
        drawSuggest();
        ev.preventDefault();
      } else if (ev.key === 'Enter' || ev.key === 'Tab') {
        var tok = slashToken();
        insertBody(shown[choice].body, tok ? tok.start : undefined);
        ev.preventDefault();
      } else if (ev.key === 'Escape') {
        closeSuggest();
        ev.preventDefault();
      }
    });
    reply.addEventListener('blur', function () { setTimeout(closeSuggest, 150); });
    // the select's form (for pages without JavaScript) inserts in place
    cannedSelect.form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      insertBody(cannedSelect.options[cannedSelect.selectedIndex].dataset.body);
    });
  }

  // ---- keyboard shortcuts of the conversation ----

  function focusField(id) {
    var el = document.getElementById(id);
    if (el) { el.focus(); }
  }
  keys.r = function () { focusField('reply-body'); };
  keys.n = function () { focusField('note-body'); };
  keys.e = function () {
    var sel = document.querySelector('[data-testid="desk-status-select"]');
    if (!sel || !sel.querySelector('option[value="resolved"]')) { return; }
    postForm('/staff/desk/status', { id: conv, status: 'resolved' }).then(function () {
      location.reload();
    }).catch(function (err) { window.alert(err.message || T.tError); });
  };
  keys.a = function () {
    if (!document.querySelector('[data-testid="desk-assign"]')) { return; }
    postForm('/staff/desk/assign', { id: conv }).then(function () {
      location.reload();
    }).catch(function (err) { window.alert(err.message || T.tError); });
  };

  setLive('connecting', T.tConnecting);
  connect();
  markRead();
}());
