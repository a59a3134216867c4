// OKPay support chat widget (web/desk_widget.go). No framework, no inline
// code: the texts come from the widget's data-t-* attributes.
//
// Delivery: messages are sent over HTTP (POST .../messages) with an
// Idempotency-Key made once per message and kept for its retries; the
// WebSocket only pushes. Every message has a sequence number (1, 2, 3...
// without gaps). The widget keeps the messages it holds by number and
// knows the highest number it holds with nothing missing below it
// (contiguous); whenever the socket (re)connects it subscribes "after" that
// number and the server sends what was missed, so nothing shows twice or
// out of order, whatever happened to the connection in between.
(function () {
  'use strict';

  var root = document.getElementById('okpay-chat');
  if (!root || !window.fetch || !window.WebSocket) {
    return;
  }
  var T = root.dataset;
  var api = T.api;
  var maxFile = parseInt(T.maxFile, 10) || 5 * 1024 * 1024;
  function el(id) { return root.querySelector('[data-testid="' + id + '"]'); }
  var launcher = el('chat-open');
  var panel = el('chat-panel');
  var conn = el('chat-conn');
  var prechat = el('chat-prechat');
  var convBox = el('chat-conversation');
  var statusLine = el('chat-status');
  var queueLine = el('chat-queue');
  var list = el('chat-messages');
  var typing = el('chat-typing');
  var ended = el('chat-ended');
  var composer = el('chat-composer');
  var input = el('chat-input');
  var fileInput = el('chat-file');
  var errorLine = el('chat-error');
  var prechatError = el('chat-prechat-error');
  var unread = el('chat-unread');

  var state = {
    conv: null,        // the conversation shown (API object)
    msgs: {},          // seq -> message
    contiguous: 0,     // every message up to this number is held
    agentRead: 0,      // the agents have read up to this number
    myRead: 0,         // the receipt sent last
    ended: false,      // the customer's session ended (sessionEnded)
    ws: null,
    offline: false,
    retries: 0,
    retryTimer: 0,
    connects: 0,
    lastTyping: 0,
    typingTimer: 0,
    queueTimer: 0,
    startKey: ''
  };

  // ---- helpers ----

  function newKey() {
    if (window.crypto && crypto.randomUUID) {
      return crypto.randomUUID();
    }
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ('0' + x.toString(16)).slice(-2); }).join('');
  }

  function request(method, path, body, key) {
    var opts = { method: method, credentials: 'same-origin', headers: { 'Accept': 'application/json' } };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    if (key) {
      opts.headers['Idempotency-Key'] = key;
    }
    return fetch(api + path, opts).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (res.status === 401 && T.signedIn === 'true') {
          sessionEnded();
        } else if ((res.status === 401 || res.status === 404) && T.signedIn !== 'true' && state.conv &&
            path.indexOf('/conversations/' + state.conv.id) === 0) {
          // A visitor's own conversation is refused: the browser lost
          // the visitor cookie (the desk answers 404 to a caller it
          // cannot tell from a stranger).
          visitorLost();
        }
        if (!res.ok) {
          var err = new Error((data && data.detail) || T.tError);
          err.status = res.status;
          err.retryAfter = parseInt(res.headers.get('Retry-After'), 10) || 0;
          err.code = data && data.code;
          throw err;
        }
        return data;
      });
    });
  }

  function showError(line, err) {
    line.textContent = (err && err.status && err.message) || T.tError;
    if (err && err.status === 429) {
      // Too fast: say how long to wait (Retry-After), in the page's language.
      line.textContent = T.tRateLimited.replace('{s}', String(err.retryAfter || 60));
    }
    line.hidden = false;
  }

  function setConn(s) {
    if (state.ended) { s = 'ended'; } // until the page is loaded again
    conn.dataset.state = s;
    conn.textContent = { connecting: T.tConnecting, live: T.tLive, offline: T.tOffline, reconnecting: T.tReconnecting, ended: T.tEnded }[s] || '';
  }

  // sessionEnded: the customer's session ended while the chat was open
  // (signed out elsewhere, revoked, the account frozen). The widget says
  // so and stops: no reconnecting, no read receipts, until the page is
  // loaded again after signing in.
  function sessionEnded() {
    if (state.ended) { return; }
    state.ended = true;
    clearTimeout(readTimer);
    disconnect();
    setConn('ended');
  }

  // A visitor's browser lost its chat cookie (cleared, or expired): the
  // conversation shown is out of reach. Back to the start, saying why.
  function visitorLost() {
    showPrechat();
    prechatError.textContent = T.tVisitorLost;
    prechatError.hidden = false;
  }

  function formatTime(iso) {
    var d = new Date(iso);
    if (isNaN(d)) {
      return '';
    }
    return d.toLocaleTimeString(T.lang, { hour: '2-digit', minute: '2-digit' });
  }

  function mine(m) { return m.author === 'customer' || m.author === 'visitor'; }

  // ---- opening and closing ----

  function open() {
    showUnread(0);
    panel.hidden = false;
    launcher.setAttribute('aria-expanded', 'true');
    try { sessionStorage.setItem('okpay-chat-open', '1'); } catch (e) { /* private mode */ }
    load();
  }

  function close() {
    panel.hidden = true;
    launcher.setAttribute('aria-expanded', 'false');
    try { sessionStorage.removeItem('okpay-chat-open'); } catch (e) { /* private mode */ }
    disconnect();
    setConn('idle');
    launcher.focus();
    scheduleUnread();
  }

  // ---- replies waiting while the chat is closed ----

  // checkUnread counts, while the chat is closed, the replies of the
  // current conversation (the newest not closed) that the customer has
  // not read, and shows the number on the launcher. It runs when a page
  // loads with the chat closed and every 30 s after, while there is a
  // current conversation and the page is visible.
  var unreadTimer = 0;
  function checkUnread() {
    clearTimeout(unreadTimer);
    if (!panel.hidden || state.ended || document.visibilityState !== 'visible') {
      return;
    }
    request('GET', '/conversations?limit=10').then(function (page) {
      var c = null;
      (page.data || []).some(function (x) {
        if (x.status !== 'closed') { c = x; return true; }
        return false;
      });
      if (!c) {
        return -1; // nothing to follow
      }
      if (c.last_seq <= c.read_seq) {
        return 0;
      }
      return request('GET', '/conversations/' + c.id + '/messages?after_seq=' + c.read_seq).then(function (p) {
        return (p.data || []).filter(function (m) { return !mine(m); }).length;
      });
    }).then(function (n) {
      unread.dataset.checks = String((parseInt(unread.dataset.checks, 10) || 0) + 1);
      if (!panel.hidden) { return; }
      showUnread(Math.max(n, 0));
      if (n >= 0) { scheduleUnread(); }
    }).catch(function () { scheduleUnread(); });
  }

  function scheduleUnread() {
    unread.dataset.follow = '1';
    clearTimeout(unreadTimer);
    unreadTimer = setTimeout(checkUnread, 30000);
  }

  function showUnread(n) {
    unread.hidden = !n;
    unread.firstChild.textContent = n > 9 ? '9+' : String(n);
    unread.lastChild.textContent = n === 1 ? T.tUnreadOne : T.tUnreadOther.replace('{n}', String(n));
  }
  document.addEventListener('visibilitychange', function () {
    if (panel.hidden && unread.dataset.follow === '1' && document.visibilityState === 'visible') { checkUnread(); }
  });

  launcher.addEventListener('click', function () {
    if (panel.hidden) { open(); } else { close(); }
  });
  el('chat-close').addEventListener('click', close);

  // linked is the conversation a link names (?chat=cnv_…: the link of an
  // unread-reply email), shown once, whichever it is.
  var linked = (function () {
    var m = /[?&]chat=(cnv_[0-9a-z]+)/.exec(location.search);
    return m ? m[1] : '';
  }());

  // load finds the conversation to show: the one a link names, else the
  // newest one not closed, else the pre-chat step.
  function load() {
    if (linked) {
      var ref = linked;
      linked = '';
      request('GET', '/conversations/' + ref).then(show, loadLatest);
      return;
    }
    loadLatest();
  }

  function loadLatest() {
    request('GET', '/conversations?limit=10').then(function (page) {
      var current = null;
      (page.data || []).some(function (c) {
        if (c.status !== 'closed') { current = c; return true; }
        return false;
      });
      if (current) {
        show(current);
      } else {
        showPrechat();
      }
    }).catch(function (err) {
      showPrechat();
      showError(prechatError, err);
    });
  }

  function reset() {
    disconnect();
    state.conv = null;
    state.msgs = {};
    state.contiguous = 0;
    state.agentRead = 0;
    state.myRead = 0;
    list.textContent = '';
    root.dataset.conversation = '';
  }

  function showPrechat() {
    reset();
    convBox.hidden = true;
    prechat.hidden = false;
    setConn('idle');
  }

  // ---- before the chat ----

  prechat.addEventListener('submit', function (ev) {
    ev.preventDefault();
    prechatError.hidden = true;
    var picked = prechat.querySelector('input[name="category"]:checked');
    var body = el('chat-first').value.trim();
    if (!picked) {
      showError(prechatError, { status: 1, message: T.tCategoryRequired });
      return;
    }
    if (!body) {
      showError(prechatError, { status: 1, message: T.tBodyRequired });
      return;
    }
    if (!state.startKey) {
      state.startKey = newKey(); // kept until it succeeds: a retry is the same start
    }
    var button = el('chat-start');
    button.disabled = true;
    request('POST', '/conversations', { category: picked.value, body: body, lang: T.lang }, state.startKey).then(function (c) {
      state.startKey = '';
      el('chat-first').value = '';
      picked.checked = false;
      show(c);
    }).catch(function (err) {
      showError(prechatError, err);
    }).then(function () { button.disabled = false; });
  });

  el('chat-new').addEventListener('click', showPrechat);

  // ---- self-service before the chat (web/assistant.go) ----
  //
  // While the question is typed, matching help articles are suggested (a
  // debounced fetch, in the widget's language). Opening one shows its
  // summary; "This solved it" ends the attempt without a conversation and
  // counts it as deflected. "Ask the assistant" sends the question to the
  // assistant and shows its answer; "Talk to a person", an answer the
  // assistant hands over, or the one-click offer of an unsure answer
  // opens the desk conversation that holds the whole exchange.
  if (T.selfService === 'true' && el('chat-self')) {
    var first = el('chat-first');
    var sugBox = el('chat-suggestions');
    var sugList = el('chat-suggestion-list');
    var artBox = el('chat-article');
    var solvedLine = el('chat-solved-thanks');
    var askLog = el('chat-assistant-log');
    var sugTimer = 0;
    var sugSeq = 0;
    var openArticle = null;

    var suggest = function () {
      var q = first.value.trim();
      var n = ++sugSeq;
      if (q.length < 2) {
        sugBox.hidden = true;
        sugList.textContent = '';
        return;
      }
      request('GET', '/help/suggestions?q=' + encodeURIComponent(q) + '&lang=' + encodeURIComponent(T.lang)).then(function (res) {
        if (n !== sugSeq) { return; } // a newer question was typed meanwhile
        sugList.textContent = '';
        (res.data || []).forEach(function (a) {
          var li = document.createElement('li');
          var b = document.createElement('button');
          b.type = 'button';
          b.className = 'chat-suggestion';
          b.setAttribute('data-testid', 'chat-suggestion');
          b.dataset.slug = a.slug;
          b.dataset.id = a.id;
          b.textContent = a.title;
          b.addEventListener('click', function () { showArticle(a); });
          li.appendChild(b);
          sugList.appendChild(li);
        });
        sugBox.hidden = !sugList.children.length;
        root.dataset.suggestions = String(sugList.children.length);
      }).catch(function () { /* suggestions are a help, not a requirement */ });
    };

    var showArticle = function (a) {
      openArticle = a;
      el('chat-article-title').textContent = a.title;
      el('chat-article-snippet').textContent = a.snippet;
      el('chat-article-link').href = a.url;
      sugBox.hidden = true;
      artBox.hidden = false;
      el('chat-solved').focus();
    };

    first.addEventListener('input', function () {
      solvedLine.hidden = true;
      clearTimeout(sugTimer);
      sugTimer = setTimeout(suggest, 300);
    });

    el('chat-article-back').addEventListener('click', function () {
      artBox.hidden = true;
      openArticle = null;
      sugBox.hidden = !sugList.children.length;
    });

    el('chat-solved').addEventListener('click', function () {
      if (!openArticle) { return; }
      var a = openArticle;
      request('POST', '/help/articles/' + encodeURIComponent(a.id) + '/deflections', {}).then(function () {
        artBox.hidden = true;
        sugBox.hidden = true;
        sugList.textContent = '';
        first.value = '';
        openArticle = null;
        solvedLine.hidden = false;
        root.dataset.deflected = a.id;
      }).catch(function (err) { showError(prechatError, err); });
    });

    var logLine = function (who, text, links, testid) {
      var li = document.createElement('li');
      li.className = 'chat-message ' + (who === 'customer' ? 'chat-mine' : 'chat-theirs');
      li.setAttribute('data-testid', testid);
      var w = document.createElement('span');
      w.className = 'chat-who';
      w.textContent = who === 'customer' ? T.tYou : T.tAssistant;
      li.appendChild(w);
      var p = document.createElement('p');
      p.className = 'chat-body';
      p.textContent = text;
      li.appendChild(p);
      (links || []).forEach(function (l) {
        if (l.kind === 'handover') {
          // The assistant was unsure: one click hands the exchange over.
          var b = document.createElement('button');
          b.type = 'button';
          b.className = 'chat-link chat-offer';
          b.setAttribute('data-testid', 'chat-offer-human');
          b.textContent = l.label;
          b.addEventListener('click', function () { handOver(b); });
          li.appendChild(b);
          return;
        }
        var a = document.createElement('a');
        a.className = 'chat-link';
        a.href = l.href;
        a.dataset.kind = l.kind;
        a.setAttribute('data-testid', 'chat-assistant-link');
        a.textContent = l.label;
        li.appendChild(a);
      });
      askLog.appendChild(li);
      askLog.hidden = false;
      li.scrollIntoView({ block: 'nearest' });
    };

    var picked = function () {
      var c = prechat.querySelector('input[name="category"]:checked');
      return c ? c.value : undefined;
    };

    var askButton = el('chat-ask');
    askButton.addEventListener('click', function () {
      prechatError.hidden = true;
      var text = first.value.trim();
      if (!text) {
        showError(prechatError, { status: 1, message: T.tBodyRequired });
        return;
      }
      askButton.disabled = true;
      request('POST', '/assistant/messages', { text: text, lang: T.lang, category: picked() }).then(function (rep) {
        first.value = '';
        sugBox.hidden = true;
        artBox.hidden = true;
        logLine('customer', text, [], 'chat-asked');
        logLine('assistant', rep.text, rep.links, 'chat-answer');
        root.dataset.intent = rep.intent;
        if (rep.conversation) {
          show(rep.conversation);
        }
      }).catch(function (err) {
        showError(prechatError, err);
      }).then(function () { askButton.disabled = false; });
    });

    var handOver = function (button) {
      prechatError.hidden = true;
      button.disabled = true;
      request('POST', '/assistant/handover', { lang: T.lang, category: picked() }).then(function (c) {
        show(c);
      }).catch(function (err) {
        showError(prechatError, err);
      }).then(function () { button.disabled = false; });
    };

    var humanButton = el('chat-human');
    humanButton.addEventListener('click', function () { handOver(humanButton); });
  }

  // ---- the conversation ----

  function show(c) {
    if (!state.conv || state.conv.id !== c.id) {
      reset();
    }
    state.conv = c;
    root.dataset.conversation = c.id;
    prechat.hidden = true;
    convBox.hidden = false;
    update(c);
    catchUp().then(connect, function (err) { showError(errorLine, err); connect(); });
  }

  // ---- satisfaction survey ----

  var csatForm = el('chat-csat');
  var csatDone = el('chat-csat-done');
  var csatError = el('chat-csat-error');
  var csatAsked = '';

  // survey asks for a rating once the conversation is resolved (GET
  // .../rating says whether this resolution waits for one).
  function survey(c) {
    if (c.status !== 'resolved' && c.status !== 'closed') {
      csatForm.hidden = true;
      csatDone.hidden = true;
      csatAsked = '';
      return;
    }
    var key = c.id + '@' + (c.resolved_at || '');
    if (csatAsked === key) {
      return;
    }
    csatAsked = key;
    request('GET', '/conversations/' + c.id + '/rating').then(function (sv) {
      csatForm.hidden = !sv.due;
    }, function () { csatForm.hidden = true; });
  }

  csatForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var picked = csatForm.querySelector('input[name="rating"]:checked');
    csatError.hidden = true;
    if (!picked) {
      showError(csatError, { status: 1, message: T.tCsatChoose });
      return;
    }
    var body = { rating: parseInt(picked.value, 10), comment: el('chat-csat-comment').value };
    request('POST', '/conversations/' + state.conv.id + '/rating', body).then(function () {
      csatForm.hidden = true;
      csatDone.textContent = T.tCsatThanks;
      csatDone.hidden = false;
    }, function (err) {
      if (err.status === 409) {
        csatForm.hidden = true;
        csatDone.textContent = T.tCsatThanks;
        csatDone.hidden = false;
        return;
      }
      showError(csatError, err);
    });
  });

  // ---- a visitor's email for the replies (desk/visitor_email.go) ----

  var contactForm = el('chat-contact');
  var contactState = el('chat-contact-state');
  var contactFor = '';

  // contact offers a visitor's open conversation the email form, or says
  // where the replies go (GET .../contact; "email": null when none).
  function contact(c) {
    if (!contactForm) {
      return;
    }
    if (c.status === 'closed') {
      contactForm.hidden = true;
      contactState.hidden = true;
      return;
    }
    if (contactFor === c.id) {
      return;
    }
    contactFor = c.id;
    request('GET', '/conversations/' + c.id + '/contact').then(showContact, function () { contactFor = ''; });
  }

  function showContact(e) {
    el('chat-contact-error').hidden = true;
    if (!e || !e.email) {
      contactState.hidden = true;
      contactForm.hidden = false;
      return;
    }
    contactForm.hidden = true;
    contactState.dataset.confirmed = String(e.confirmed);
    contactState.firstChild.textContent = (e.confirmed ? T.tContactConfirmed : T.tContactPending).replace('{email}', e.email) + ' ';
    contactState.hidden = false;
  }

  if (contactForm) {
    contactForm.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var button = el('chat-contact-submit');
      button.disabled = true;
      request('PUT', '/conversations/' + state.conv.id + '/contact', { email: el('chat-contact-email').value }).then(showContact, function (err) {
        showError(el('chat-contact-error'), err);
      }).then(function () { button.disabled = false; });
    });
    el('chat-contact-change').addEventListener('click', function () {
      contactState.hidden = true;
      contactForm.hidden = false;
      el('chat-contact-email').focus();
    });
  }

  // update shows a conversation's status, queue and read receipts.
  function update(c) {
    state.conv = c;
    statusLine.textContent = c.status_label;
    statusLine.dataset.status = c.status;
    var closed = c.status === 'closed';
    ended.hidden = !closed;
    composer.hidden = closed;
    if (c.queue) {
      queueLine.textContent = c.queue.text;
      queueLine.hidden = false;
      queueLine.dataset.position = c.queue.position;
    } else {
      queueLine.hidden = true;
      queueLine.textContent = '';
      delete queueLine.dataset.position;
    }
    markSeen(c.agent_read_seq || 0);
    survey(c);
    contact(c);
    clearInterval(state.queueTimer);
    if (c.queue && !closed) {
      state.queueTimer = setInterval(refresh, 30000);
    }
  }

  function refresh() {
    if (!state.conv || state.offline) {
      return;
    }
    var id = state.conv.id;
    request('GET', '/conversations/' + id).then(function (c) {
      if (state.conv && state.conv.id === id) { update(c); }
    }).catch(function () { /* the next event or reconnect tries again */ });
  }

  // catchUp fetches, over HTTP, every message after the contiguous number.
  function catchUp() {
    var id = state.conv.id;
    function page() {
      return request('GET', '/conversations/' + id + '/messages?after_seq=' + state.contiguous).then(function (p) {
        if (!state.conv || state.conv.id !== id) { return null; }
        (p.data || []).forEach(add);
        return p.has_more ? page() : null;
      });
    }
    return page();
  }

  // add shows a message once, in its place.
  function add(m) {
    if (!m || !m.seq || state.msgs[m.seq]) {
      return;
    }
    state.msgs[m.seq] = m;
    while (state.msgs[state.contiguous + 1]) {
      state.contiguous++;
    }
    var li = render(m);
    var after = null;
    var items = list.children;
    for (var i = 0; i < items.length; i++) {
      var s = parseInt(items[i].dataset.seq, 10);
      if (!s || s > m.seq) { after = items[i]; break; }
    }
    list.insertBefore(li, after);
    root.dataset.lastSeq = state.contiguous;
    if (!mine(m)) {
      typing.hidden = true;
    }
    li.scrollIntoView({ block: 'nearest' });
    markRead();
  }

  function render(m) {
    var li = document.createElement('li');
    li.className = 'chat-message ' + (mine(m) ? 'chat-mine' : 'chat-theirs');
    li.dataset.seq = m.seq;
    li.dataset.author = m.author;
    li.setAttribute('data-testid', 'chat-message');
    var who = document.createElement('span');
    who.className = 'chat-who';
    who.textContent = mine(m) ? T.tYou : (m.author === 'agent' ? T.tAgent : T.tSystem);
    li.appendChild(who);
    if (m.body) {
      var body = document.createElement('p');
      body.className = 'chat-body';
      body.textContent = m.body;
      li.appendChild(body);
    }
    (m.attachments || []).forEach(function (a) {
      var link = document.createElement('a');
      link.className = 'chat-file';
      link.href = api + '/attachments/' + encodeURIComponent(a.id);
      link.setAttribute('download', a.name);
      link.textContent = a.name + ' (' + Math.max(1, Math.round(a.size / 1024)) + ' KB)';
      link.title = T.tDownload;
      li.appendChild(link);
    });
    var meta = document.createElement('span');
    meta.className = 'chat-meta';
    var time = document.createElement('time');
    time.dateTime = m.created_at;
    time.textContent = formatTime(m.created_at);
    meta.appendChild(time);
    if (mine(m)) {
      var seen = document.createElement('span');
      seen.className = 'chat-seen';
      seen.setAttribute('data-testid', 'chat-seen');
      seen.textContent = T.tSeen;
      seen.hidden = m.seq > state.agentRead;
      meta.appendChild(seen);
    }
    li.appendChild(meta);
    return li;
  }

  // markSeen shows "Seen" on the customer's messages the agents have read.
  function markSeen(seq) {
    if (seq <= state.agentRead) {
      return;
    }
    state.agentRead = seq;
    list.querySelectorAll('.chat-mine').forEach(function (li) {
      var s = li.querySelector('.chat-seen');
      if (s && parseInt(li.dataset.seq, 10) <= seq) { s.hidden = false; }
    });
  }

  // markRead tells the desk how far the customer has read, while the
  // panel is open and the page visible.
  var readTimer = 0;
  function markRead() {
    if (state.ended || panel.hidden || document.visibilityState !== 'visible' || !state.conv || state.contiguous <= state.myRead) {
      return;
    }
    clearTimeout(readTimer);
    readTimer = setTimeout(function () {
      var seq = state.contiguous;
      var id = state.conv && state.conv.id;
      if (!id || seq <= state.myRead) { return; }
      request('POST', '/conversations/' + id + '/read', { seq: seq }).then(function (r) {
        state.myRead = Math.max(state.myRead, r.seq);
      }).catch(function () { /* retried with the next message */ });
    }, 300);
  }
  document.addEventListener('visibilitychange', markRead);

  // ---- sending ----

  function pending(text) {
    var li = document.createElement('li');
    li.className = 'chat-message chat-mine chat-pending';
    li.setAttribute('data-testid', 'chat-pending');
    var body = document.createElement('p');
    body.className = 'chat-body';
    body.textContent = text;
    li.appendChild(body);
    var meta = document.createElement('span');
    meta.className = 'chat-meta';
    li.appendChild(meta);
    list.appendChild(li);
    li.scrollIntoView({ block: 'nearest' });
    return li;
  }

  // post sends one message with its key; a failure keeps the bubble with
  // a "send again" button that reuses the same key.
  function post(job) {
    var meta = job.li.querySelector('.chat-meta');
    meta.textContent = job.file ? T.tUploading : T.tSending;
    job.li.classList.remove('chat-failed');
    var id = state.conv.id;
    var path = job.file ? '/conversations/' + id + '/attachments' : '/conversations/' + id + '/messages';
    request('POST', path, job.payload, job.key).then(function (m) {
      job.li.remove();
      add(m);
    }).catch(function (err) {
      if (err.status && err.status !== 409 && err.status < 500) {
        job.li.remove();
        showError(errorLine, err);
        if (err.code === 'conversation_closed') { refresh(); }
        return;
      }
      job.li.classList.add('chat-failed');
      meta.textContent = T.tFailed + ' ';
      var again = document.createElement('button');
      again.type = 'button';
      again.className = 'chat-retry';
      again.textContent = T.tRetry;
      again.addEventListener('click', function () { post(job); });
      meta.appendChild(again);
    });
  }

  composer.addEventListener('submit', function (ev) {
    ev.preventDefault();
    errorLine.hidden = true;
    var text = input.value.trim();
    if (!text || !state.conv) {
      return;
    }
    input.value = '';
    post({ key: newKey(), payload: { body: text }, li: pending(text) });
  });

  input.addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      composer.requestSubmit();
    }
  });

  input.addEventListener('input', function () {
    var now = Date.now();
    if (state.ws && state.ws.readyState === 1 && now - state.lastTyping > 2000) {
      state.lastTyping = now;
      state.ws.send(JSON.stringify({ type: 'typing', conversation: state.conv.id }));
    }
  });

  fileInput.addEventListener('change', function () {
    var f = fileInput.files && fileInput.files[0];
    fileInput.value = '';
    errorLine.hidden = true;
    if (!f || !state.conv) {
      return;
    }
    if (f.size > maxFile) {
      showError(errorLine, { status: 1, message: T.tFileTooLarge });
      return;
    }
    var reader = new FileReader();
    reader.onload = function () {
      var data = String(reader.result);
      var payload = { name: f.name, data: data.slice(data.indexOf(',') + 1) };
      if (f.type) { payload.content_type = f.type; }
      post({ key: newKey(), payload: payload, file: true, li: pending(f.name) });
    };
    reader.readAsDataURL(f);
  });

  // ---- the socket ----

  function connect() {
    if (state.ws || !state.conv || state.offline || state.ended || panel.hidden) {
      return;
    }
    clearTimeout(state.retryTimer);
    setConn(state.retries ? 'reconnecting' : 'connecting');
    var ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + T.socket);
    state.ws = ws;
    ws.onopen = function () {
      ws.send(JSON.stringify({ type: 'subscribe', conversation: state.conv.id, after: state.contiguous }));
    };
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (state.ws === ws) { frame(f); }
    };
    ws.onclose = function (ev) {
      if (state.ws !== ws) {
        return;
      }
      state.ws = null;
      typing.hidden = true;
      if (ev.code === 4001) { // the visitor signed in: this conversation is the customer's now
        reset();
        load();
        return;
      }
      if (ev.code === 4002) { // the session ended (chat.CloseSessionEnded)
        sessionEnded();
        return;
      }
      if (state.offline || panel.hidden || !state.conv) {
        setConn(state.offline ? 'offline' : 'idle');
        return;
      }
      setConn('reconnecting');
      var wait = Math.min(30000, 1000 * Math.pow(1.5, state.retries)) * (0.8 + Math.random() * 0.4);
      state.retries++;
      state.retryTimer = setTimeout(connect, wait);
    };
  }

  function disconnect() {
    clearTimeout(state.retryTimer);
    clearInterval(state.queueTimer);
    var ws = state.ws;
    state.ws = null;
    if (ws) { ws.close(); }
  }

  function frame(f) {
    if (!state.conv || (f.conversation && f.conversation !== state.conv.id)) {
      return;
    }
    switch (f.type) {
      case 'message':
        add(f.message);
        break;
      case 'subscribed':
        state.retries = 0;
        state.connects++;
        root.dataset.connects = state.connects;
        setConn('live');
        (f.reads || []).forEach(function (r) { if (r.reader === 'agent') { markSeen(r.seq); } });
        refresh();
        break;
      case 'typing':
        typing.hidden = false;
        clearTimeout(state.typingTimer);
        state.typingTimer = setTimeout(function () { typing.hidden = true; }, 5000);
        break;
      case 'read':
        if (f.reader === 'agent') { markSeen(f.seq); }
        break;
      case 'status':
      case 'assigned':
        refresh();
        break;
      case 'error':
        if (f.code === 'not_found') { reset(); load(); }
        break;
    }
  }

  // The browser says the network is gone: close the socket and wait for
  // it to come back, then subscribe after the last number held.
  window.addEventListener('offline', function () {
    state.offline = true;
    disconnect();
    setConn('offline');
  });
  window.addEventListener('online', function () {
    state.offline = false;
    state.retries = 0;
    if (!panel.hidden && state.conv) {
      refresh();
      connect();
    }
  });

  var opened = false;
  try {
    // ?chat=cnv_… (the link of an unread-reply email) opens the chat.
    if (sessionStorage.getItem('okpay-chat-open') === '1' || /[?&]chat=cnv_/.test(location.search)) {
      open();
      opened = true;
    }
  } catch (e) { /* private mode */ }
  // Closed: a customer, or a browser that chatted as a visitor, may have
  // replies waiting.
  if (!opened && (T.signedIn === 'true' || /(?:^|;\s*)__Host-chat=1(?:;|$)/.test(document.cookie))) {
    unread.dataset.follow = '1';
    checkUnread();
  }

  // This browser chatted as a visitor and is now signed in: any chat call
  // makes the visitor's conversations the customer's (and clears the
  // cookies), so make one now, not only when the chat is opened.
  if (T.signedIn === 'true' && /(?:^|;\s*)__Host-chat=1(?:;|$)/.test(document.cookie) && panel.hidden) {
    request('GET', '/conversations?limit=1').catch(function () { /* tried again on the next page */ });
  }
}());
