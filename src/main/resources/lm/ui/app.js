// License Manager dashboard: a read-only view over the same REST API as lm-cli, with the
// bearer token a person gives it. Plain JavaScript, no build step; every text goes into the page
// as a text node (never as HTML), so no value from the API can inject markup.
(function () {
  'use strict';

  var TOKEN = 'lm.token';
  // the API is the parent of /ui/ (behind a proxy the prefix may differ from /lm)
  var API = location.pathname.replace(/\/ui\/.*$/, '');
  var main = document.getElementById('main');
  var numbers = new Intl.NumberFormat();

  // ------------------------------------------------------------------ token

  // An address with #token=… (what earlier releases took, for kiosks) is not a login: the
  // browser writes every address it opens into its history database, replaceState or not
  // (issue 20, case 8), so a token never belongs in one. The token is dropped unread from the
  // address bar and the page says why; true if the address held one.
  function dropTokenFromAddress() {
    var m = /^#token=[^&]*(?:&page=(.*))?$/.exec(location.hash);
    if (m) {
      history.replaceState(null, '', location.pathname + location.search + '#/' + (m[1] || 'pools'));
    }
    return !!m;
  }

  function token() {
    return sessionStorage.getItem(TOKEN);
  }

  function claims(t) {
    try {
      var part = t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      return JSON.parse(atob(part + '==='.slice((part.length + 3) % 4)));
    } catch (e) {
      return null;
    }
  }

  // ------------------------------------------------------------------ login at the identity provider

  // lm-server's ui_client_id: the authorization code flow with PKCE, a public client (no secret
  // in the page); the code comes back to this page and is exchanged for a token here
  function oidc() {
    var issuer = document.querySelector('meta[name=lm-oidc-issuer]').content;
    var client = document.querySelector('meta[name=lm-oidc-client]').content;
    return issuer && client ? { issuer: issuer, client: client } : null;
  }

  function base64url(bytes) {
    return btoa(String.fromCharCode.apply(null, new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function randomString() {
    return base64url(crypto.getRandomValues(new Uint8Array(32)));
  }

  function discovery(o) {
    return fetch(o.issuer.replace(/\/$/, '') + '/.well-known/openid-configuration').then(function (r) {
      if (!r.ok) {
        throw new Error('the identity provider answered ' + r.status);
      }
      return r.json();
    });
  }

  function redirectUri() {
    return location.origin + location.pathname;
  }

  function startLogin(page) {
    var o = oidc();
    var verifier = randomString();
    var state = randomString();
    return Promise.all([discovery(o), crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))]).then(function (x) {
      sessionStorage.setItem('lm.pkce', JSON.stringify({ verifier: verifier, state: state, page: page, token_endpoint: x[0].token_endpoint }));
      location.assign(x[0].authorization_endpoint + '?' + new URLSearchParams({
        response_type: 'code', client_id: o.client, redirect_uri: redirectUri(), scope: 'openid',
        state: state, code_challenge: base64url(x[1]), code_challenge_method: 'S256' }).toString());
    });
  }

  // back from the identity provider with ?code=…&state=…: the token, then the page asked for
  function finishLogin() {
    var q = new URLSearchParams(location.search);
    if (!q.has('state') || !(q.has('code') || q.has('error'))) {
      return null;
    }
    var saved = JSON.parse(sessionStorage.getItem('lm.pkce') || 'null');
    sessionStorage.removeItem('lm.pkce');
    var page = (saved && saved.page) || 'pools';
    history.replaceState(null, '', location.pathname + '#/' + page);
    if (!saved || saved.state !== q.get('state')) {
      return Promise.reject(new LoginNeeded('The login did not come back from the login this page started; try again.'));
    }
    if (q.has('error')) {
      return Promise.reject(new LoginNeeded('The identity provider refused the login: ' + (q.get('error_description') || q.get('error'))));
    }
    return fetch(saved.token_endpoint, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: q.get('code'), redirect_uri: redirectUri(),
        client_id: oidc().client, code_verifier: saved.verifier }).toString() })
      .then(function (r) {
        return r.json().then(function (t) {
          if (!r.ok || !t.access_token) {
            throw new LoginNeeded('The identity provider gave no token: ' + (t.error_description || t.error || r.status));
          }
          sessionStorage.setItem(TOKEN, t.access_token);
        });
      });
  }

  // ------------------------------------------------------------------ API

  function LoginNeeded(message) {
    this.message = message;
  }

  function ApiError(status, body) {
    this.status = status;
    this.code = body && body.code;
    this.message = (body && body.message) || ('HTTP ' + status);
  }

  function api(path) {
    return fetch(API + path, { headers: { Authorization: 'Bearer ' + token(), Accept: 'application/json' } })
      .then(function (res) {
        return res.text().then(function (text) {
          var body = null;
          try {
            body = text ? JSON.parse(text) : null;
          } catch (e) {
            body = null;
          }
          if (res.status === 401) {
            sessionStorage.removeItem(TOKEN);
            throw new LoginNeeded('The server refused the token (' + ((body && body.message) || 'unauthorized') + '). Give a new one.');
          }
          if (!res.ok) {
            throw new ApiError(res.status, body);
          }
          return { body: body, total: Number(res.headers.get('X-Total-Count')) };
        });
      });
  }

  // ------------------------------------------------------------------ building the page

  function el(tag, attrs) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') {
        e.textContent = attrs[k];
      } else if (k === 'className') {
        e.className = attrs[k];
      } else if (k.slice(0, 2) === 'on') {
        e.addEventListener(k.slice(2), attrs[k]);
      } else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) {
        e.setAttribute(k, attrs[k] === true ? '' : attrs[k]);
      }
    });
    for (var i = 2; i < arguments.length; i++) {
      [arguments[i]].flat(Infinity).forEach(function (c) {
        if (c !== null && c !== undefined) {
          e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
        }
      });
    }
    return e;
  }

  // show(node, [nodes, [nodes]], …): the page's content, in order
  function show() {
    main.replaceChildren.apply(main, [].slice.call(arguments).flat(Infinity).filter(function (c) { return c !== null && c !== undefined; }));
  }

  function message(text, error) {
    return el('p', { className: 'message' + (error ? ' error' : ''), role: error ? 'alert' : 'status', text: text });
  }

  function number(n) {
    return n === null || n === undefined ? '–' : numbers.format(n);
  }

  function offset(d) {
    var m = -d.getTimezoneOffset();
    var a = Math.abs(m);
    return 'UTC' + (m < 0 ? '−' : '+') + String(Math.floor(a / 60)).padStart(2, '0') + ':' + String(a % 60).padStart(2, '0');
  }

  // times in the browser's zone, with its offset shown
  function when(iso) {
    if (!iso) {
      return '–';
    }
    var d = new Date(iso);
    return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }) + ' ' + offset(d);
  }

  // the same in a table's cell: to the minute, the full time when hovered
  function at(iso) {
    if (!iso) {
      return '–';
    }
    var d = new Date(iso);
    return el('time', { datetime: iso, title: when(iso), text: d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' }) + ' ' + offset(d) });
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 120) {
      return seconds + ' s';
    }
    if (seconds < 7200) {
      return Math.round(seconds / 60) + ' min';
    }
    if (seconds < 172800) {
      return Math.round(seconds / 3600) + ' h';
    }
    return Math.round(seconds / 86400) + ' d';
  }

  /**
   * A table sortable by any column (buttons in the headers, so the keyboard sorts too) and
   * filtered by a search box over the columns marked searchable.
   * columns: [{key, label, num, search, cell(row) → node or text, sortValue(row)}]
   */
  function table(id, columns, rows, initialSort) {
    var sort = initialSort || { key: columns[0].key, ascending: true };
    var filter = '';
    var tbody = el('tbody');
    var count = el('span', { className: 'muted', id: id + '-count' });
    var heads = columns.map(function (c) {
      return el('th', { scope: 'col', className: c.num ? 'num' : null, 'data-key': c.key },
        el('button', { type: 'button', text: c.label, onclick: function () {
          sort = { key: c.key, ascending: sort.key === c.key ? !sort.ascending : true };
          fill();
        } }));
    });

    function value(c, r) {
      return c.sortValue ? c.sortValue(r) : r[c.key];
    }

    function fill() {
      var col = columns.filter(function (c) { return c.key === sort.key; })[0];
      var shown = rows.filter(function (r) {
        return !filter || columns.some(function (c) {
          return c.search && String(r[c.key] || '').toLowerCase().indexOf(filter) >= 0;
        });
      }).sort(function (a, b) {
        var x = value(col, a);
        var y = value(col, b);
        var d = x === y ? 0 : x === null || x === undefined ? 1 : y === null || y === undefined ? -1 : x < y ? -1 : 1;
        return sort.ascending ? d : -d;
      });
      heads.forEach(function (h) {
        h.setAttribute('aria-sort', h.getAttribute('data-key') === sort.key ? (sort.ascending ? 'ascending' : 'descending') : 'none');
      });
      tbody.replaceChildren.apply(tbody, shown.map(function (r) {
        return el('tr', null, columns.map(function (c) {
          var v = c.cell ? c.cell(r) : r[c.key];
          var td = el('td', { className: (c.num ? 'num' : '') + (c.cellClass ? ' ' + c.cellClass(r) : '') },
            c.num && typeof v === 'number' ? number(v) : v);
          return td;
        }));
      }));
      count.textContent = (shown.length === rows.length ? '' : number(shown.length) + ' of ') + number(rows.length) + (rows.length === 1 ? ' row' : ' rows');
    }

    var search = el('input', { type: 'search', id: id + '-filter', placeholder: 'Filter', 'aria-label': 'Filter rows',
      oninput: function () {
        filter = search.value.trim().toLowerCase();
        fill();
      } });
    fill();
    return [el('div', { className: 'toolbar' }, search, count),
      el('div', { className: 'scroll' }, el('table', { id: id }, el('thead', null, el('tr', null, heads)), tbody))];
  }

  // ------------------------------------------------------------------ pages

  function loginPage(reason) {
    var input = el('textarea', { id: 'token-input', 'aria-label': 'Bearer token', autocomplete: 'off', spellcheck: 'false' });
    var problem = el('div');
    var form = el('form', { className: 'card login', onsubmit: function (e) {
      e.preventDefault();
      var t = input.value.trim();
      var c = claims(t);
      if (!c) {
        problem.replaceChildren(message('That is not a token (a JWT has three parts separated by dots).', true));
        return;
      }
      if (c.exp && c.exp * 1000 < Date.now()) {
        problem.replaceChildren(message('That token expired ' + when(new Date(c.exp * 1000).toISOString()) + '.', true));
        return;
      }
      sessionStorage.setItem(TOKEN, t);
      location.hash = '#/' + (wanted && wanted !== 'login' ? wanted : 'pools');
      route();
    } },
    el('h1', { text: 'Log in' }),
    reason ? message(reason, true) : null,
    oidc() ? el('p', null, el('button', { type: 'button', id: 'oidc-login', text: 'Log in at ' + new URL(oidc().issuer).host,
      onclick: function () {
        startLogin(wanted && wanted !== 'login' ? wanted : 'pools').catch(function (e) {
          problem.replaceChildren(message('Cannot reach the identity provider: ' + e.message, true));
        });
      } }), ' or:') : null,
    el('p', null, 'Paste a bearer token: ', el('code', { text: 'lm-cli show-token' }),
      ' prints yours. It stays in this browser tab only (sessionStorage) and is sent to this server alone.'),
    el('label', { for: 'token-input', className: 'muted', text: 'Token' }), input, problem,
    el('p', null, el('button', { type: 'submit', id: 'token-submit', text: 'Use this token' })));
    nav(false);
    show(form);
    input.focus();
  }

  function poolsPage() {
    return api('/pools?limit=1000&sort_field=product_feature').then(function (r) {
      var rows = r.body;
      var columns = [
        { key: 'product_feature', label: 'License', search: true, cell: function (p) {
          return el('a', { href: '#/pools/' + p.id, text: p.product_feature });
        } },
        { key: 'servers', label: 'Servers', search: true },
        { key: 'clusters', label: 'Clusters', search: true },
        { key: 'total', label: 'Total', num: true },
        { key: 'used', label: 'Used', num: true },
        { key: 'reserved', label: 'Reserved', num: true },
        { key: 'booked', label: 'Booked', num: true },
        { key: 'available', label: 'Available', num: true,
          cellClass: function (p) { return p.available < 0 ? 'negative' : ''; } },
        { key: 'state', label: 'State', sortValue: function (p) { return (p.held ? 2 : 0) + (p.stale ? 1 : 0); },
          cell: function (p) {
            return p.held ? el('span', { className: 'badge held', title: 'No reading newer than the outage grace: no job gets these licenses', text: 'held' })
              : p.stale ? el('span', { className: 'badge stale', title: 'The license server did not answer; the last reading is in use', text: 'stale' })
              : el('span', { className: 'badge ok', text: 'ok' });
          } },
        { key: 'expires_at', label: 'Expires', cell: expiry,
          cellClass: function (p) { return p.expires_at && daysLeft(p.expires_at) <= 14 ? 'negative' : ''; } },
        { key: 'bar', label: 'Use', sortValue: function (p) { return p.total ? (p.used + p.booked + p.reserved) / p.total : 0; },
          cell: bar }
      ];
      nav('pools');
      show(el('h1', { text: 'Pools' }),
        el('p', { className: 'muted', text: 'One row per license pool: the same product.feature on the same license server, whichever clusters share it. Available = total − reserved − used − booked.' }),
        legend(), table('pools', columns, rows));
    });
  }

  // days from today (the browser's) to a license's expiry day (UTC, as the license server prints it)
  function daysLeft(day) {
    var now = new Date();
    return Math.round((Date.parse(day + 'T00:00:00Z') - Date.UTC(now.getFullYear(), now.getMonth(), now.getDate())) / 86400e3);
  }

  // the nearest expiry and the days left; within 14 days (the alert's threshold) in red
  function expiry(p) {
    if (!p.expires_at) {
      return el('span', { className: 'muted', text: '–' });
    }
    var left = daysLeft(p.expires_at);
    return el('time', { datetime: p.expires_at, text: p.expires_at + (left < 0 ? ' (expired)' : ' (' + number(left) + ' d)') });
  }

  function legend() {
    return el('div', { className: 'legend', 'aria-hidden': 'true' },
      ['used', 'booked', 'reserved', 'free'].map(function (k) { return el('span', null, el('i', { className: k }), k); }));
  }

  function bar(p) {
    var total = Math.max(p.total || 0, (p.used || 0) + (p.booked || 0) + (p.reserved || 0), 1);
    function part(k) {
      var s = el('span', { className: k });
      s.style.width = (100 * Math.max(0, p[k] || 0) / total) + '%';
      return s;
    }
    return el('div', { className: 'bar', role: 'img',
      'aria-label': number(p.used) + ' used, ' + number(p.booked) + ' booked, ' + number(p.reserved) + ' reserved of ' + number(p.total) },
    part('used'), part('booked'), part('reserved'));
  }

  function clustersPage() {
    return api('/cluster_statuses?limit=1000').then(function (r) {
      var now = Date.now();
      var rows = r.body.map(function (c) {
        var age = (now - new Date(c.last_reported).getTime()) / 1000;
        return { cluster_client_id: c.cluster_client_id, interval: c.interval, last_reported: c.last_reported, age: age,
          late: age > 3 * c.interval, failing: c.failing_servers || [] };
      });
      nav('clusters');
      show(el('h1', { text: 'Clusters' }),
        el('p', { className: 'muted', text: 'Each cluster\'s lm-agent and when it last reported. Late: no report for three intervals.'
          + ' Failing: license servers whose newest poll failed or that were never read (their pools are stale, then held).' }),
        table('clusters', [
          { key: 'cluster_client_id', label: 'Cluster', search: true },
          { key: 'last_reported', label: 'Last report', cell: function (c) { return when(c.last_reported); } },
          { key: 'age', label: 'Age', num: true, cell: function (c) { return duration(c.age); } },
          { key: 'interval', label: 'Interval', num: true, cell: function (c) { return duration(c.interval); } },
          { key: 'late', label: 'State', cell: function (c) {
            return c.late ? el('span', { className: 'badge held', text: 'late' }) : el('span', { className: 'badge ok', text: 'ok' });
          } },
          { key: 'failing', label: 'Failing servers', sortValue: function (c) { return c.failing.length; }, cell: function (c) {
            return c.failing.length ? c.failing.map(function (s) {
              return el('span', { className: 'badge held', title: 'configuration ' + s.configuration + '; last good reading: '
                + (s.reported_at ? when(s.reported_at) : 'never'), text: s.host + ':' + s.port });
            }) : el('span', { className: 'muted', text: 'none' });
          } }
        ], rows));
    });
  }

  // ------------------------------------------------------------------ a pool

  var RANGES = { '24h': { label: 'Last 24 h', hours: 24 }, '7d': { label: 'Last 7 days', hours: 168 }, '30d': { label: 'Last 30 days', hours: 720 } };
  // one colour per series, the Pools bar's where they mean the same
  var SERIES = [
    { key: 'total', label: 'Total', color: '#17223b' },
    { key: 'used_max', label: 'Used', color: '#4f6fad' },
    { key: 'booked_max', label: 'Booked', color: '#d08a1e' },
    { key: 'external_max', label: 'External', color: '#8e44ad' },
    { key: 'demand_max', label: 'Demand', color: '#b3261e' },
    { key: 'queued_max', label: 'Queued', color: '#1e7b34' }
  ];

  // the period the pool page charts: a named range ending now, or since/until from the form
  function period(params) {
    var until = params.get('until') ? new Date(params.get('until')) : new Date();
    var range = RANGES[params.get('range')] || (params.get('since') ? null : RANGES['24h']);
    var since = range ? new Date(until.getTime() - range.hours * 3600e3) : new Date(params.get('since'));
    if (isNaN(since.getTime()) || isNaN(until.getTime())) {
      since = new Date(until.getTime() - 24 * 3600e3);
      range = RANGES['24h'];
    }
    // hours up to a week, days beyond (30 days of hours would be 720 crowded points)
    var by = until - since > 7 * 86400e3 + 60e3 ? 'day' : 'hour';
    return { since: since, until: until, by: by, name: range ? params.get('range') || '24h' : 'custom' };
  }

  function localInput(d) {
    var p = function (n) { return String(n).padStart(2, '0'); };
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes());
  }

  // a part of a page that loads on its own: a refusal (403) of one API call shows there, not instead of the page
  function section(id, title, load) {
    var body = el('div', { id: id + '-section' }, el('p', { className: 'muted', text: 'Loading…' }));
    load().then(function (nodes) {
      body.replaceChildren.apply(body, [nodes].flat(Infinity));
    }, function (e) {
      if (e instanceof LoginNeeded) {
        loginPage(e.message);
      } else {
        body.replaceChildren(message(e instanceof ApiError && e.status === 403 ? 'Not allowed: ' + e.message : 'Could not load: ' + (e.message || e), true));
      }
    });
    return [el('h2', { id: id + '-title', text: title }), body];
  }

  function poolPage(id, params) {
    if (!/^[0-9]+$/.test(id || '')) {
      return Promise.reject(new ApiError(404, { message: 'no pool ' + id }));
    }
    var p = period(params);
    return api('/pools/' + id).then(function (r) {
      var pool = r.body;
      var pf = pool.product_feature;
      nav('pools');
      var ranges = el('nav', { className: 'ranges', 'aria-label': 'Period' }, Object.keys(RANGES).map(function (k) {
        return el('a', { href: '#/pools/' + id + '?range=' + k, 'aria-current': p.name === k ? 'true' : null, text: RANGES[k].label });
      }));
      var from = el('input', { type: 'datetime-local', id: 'range-since', value: localInput(p.since) });
      var to = el('input', { type: 'datetime-local', id: 'range-until', value: localInput(p.until) });
      var problem = el('span', { role: 'alert' });
      var custom = el('form', { className: 'custom-range', onsubmit: function (e) {
        e.preventDefault();
        var s = new Date(from.value);
        var u = new Date(to.value);
        if (isNaN(s.getTime()) || isNaN(u.getTime()) || s >= u) {
          problem.textContent = 'The start must be a time before the end.';
          return;
        }
        location.hash = '#/pools/' + id + '?since=' + encodeURIComponent(s.toISOString()) + '&until=' + encodeURIComponent(u.toISOString());
      } }, el('label', { for: 'range-since', text: 'From' }), from, el('label', { for: 'range-until', text: 'to' }), to,
      el('button', { type: 'submit', id: 'range-apply', 'aria-current': p.name === 'custom' ? 'true' : null, text: 'Show' }), problem);

      show(el('p', { className: 'crumbs' }, el('a', { href: '#/pools', text: 'Pools' }), ' › ' + pf),
        el('h1', { text: pf }),
        summary(pool),
        el('h2', { text: 'Usage' }),
        el('div', { className: 'toolbar' }, ranges, custom),
        chart(pf, p),
        section('checkouts', 'Checked out now', function () {
          return api('/checkouts?limit=10000&search=' + encodeURIComponent(pf)).then(function (c) {
            return [table('checkouts', [
              { key: 'username', label: 'User', search: true },
              { key: 'host', label: 'Host', search: true },
              { key: 'quantity', label: 'Quantity', num: true },
              { key: 'matched', label: 'Matched to jobs', num: true },
              { key: 'jobs', label: 'Slurm jobs', search: true },
              { key: 'cluster_client_id', label: 'Reported by', search: true },
              { key: 'since', label: 'Since', cell: function (k) { return at(k.since); } },
              { key: 'seen_at', label: 'Seen', cell: function (k) { return at(k.seen_at); } }
            ], c.body.filter(function (k) { return k.pool_id === pool.id; }).map(function (k) {
              k.jobs = k.slurm_job_ids.join(', ');
              return k;
            }), { key: 'quantity', ascending: false }),
            el('p', null, el('a', { href: '#/users?search=' + encodeURIComponent(pf), text: 'License-hours per user of ' + pf + ' →' }))];
          });
        }),
        section('bookings', 'Active bookings', function () {
          return api('/jobs?limit=10000&pool_id=' + pool.id).then(function (j) {
            var rows = [];
            j.body.forEach(function (job) {
              job.bookings.forEach(function (b) {
                if (pool.feature_ids.indexOf(b.feature_id) >= 0 && b.active) {
                  rows.push({ slurm_job_id: job.slurm_job_id, cluster_client_id: job.cluster_client_id, username: job.username,
                    account: job.account, lead_host: job.lead_host, quantity: b.quantity, created_at: b.created_at,
                    expires_at: b.expires_at, offline: b.offline });
                }
              });
            });
            return table('bookings', [
              { key: 'slurm_job_id', label: 'Job', search: true, sortValue: function (b) { return Number(b.slurm_job_id); } },
              { key: 'cluster_client_id', label: 'Cluster', search: true },
              { key: 'username', label: 'User', search: true },
              { key: 'account', label: 'Account', search: true },
              { key: 'lead_host', label: 'Lead host', search: true },
              { key: 'quantity', label: 'Quantity', num: true },
              { key: 'created_at', label: 'Booked', cell: function (b) { return at(b.created_at); } },
              { key: 'expires_at', label: 'Grace ends', cell: function (b) {
                return [at(b.expires_at), b.offline ? el('span', { className: 'badge stale', text: 'offline' }) : null];
              } }
            ], rows, { key: 'created_at', ascending: true });
          });
        }),
        section('denials', 'Recent denials', function () {
          return api('/denials?limit=100&sort_field=last_at&sort_ascending=false&search=' + encodeURIComponent(pf)).then(function (d) {
            var rows = d.body.filter(function (x) { return x.product_feature === pf; }).slice(0, 10);
            return [table('pool-denials', denialColumns().filter(function (c) { return c.key !== 'product_feature'; }).map(clientColumn),
              rows, { key: 'last_at', ascending: false }),
            el('p', null, el('a', { href: '#/denials?search=' + encodeURIComponent(pf), text: 'All denials of ' + pf + ' →' }))];
          });
        }),
        owners(pool));
    });
  }

  function summary(pool) {
    function item(label, value, cls) {
      return el('div', null, el('dt', { text: label }), el('dd', { className: cls || null, text: number(value) }));
    }
    return el('div', { className: 'summary' },
      el('dl', null, item('Total', pool.total), item('Used', pool.used), item('Reserved', pool.reserved), item('Booked', pool.booked),
        item('Available', pool.available, pool.available < 0 ? 'negative' : null)),
      el('div', null, bar(pool), legend(),
        el('p', { className: 'muted' }, 'Servers ' + (pool.servers || '–') + ' · clusters ' + (pool.clusters || '–') + ' ',
          pool.held ? el('span', { className: 'badge held', text: 'held' }) : pool.stale ? el('span', { className: 'badge stale', text: 'stale' }) : null)));
  }

  // the fair-share distribution (lm.pool_distribution), when there is one to show: several owners or project shares
  function owners(pool) {
    var rows = pool.owners || [];
    if (rows.length < 2 && !rows.some(function (o) { return o.account !== null; })) {
      return null;
    }
    return [el('h2', { text: 'Share distribution' }),
      el('p', { className: 'muted', text: 'Per cluster, and per project where the cluster has project shares (* stands for the projects without a share of their own): what admission decides on now.' }),
      table('owners', [
        // the cluster's own row first, then its projects
        { key: 'cluster_client_id', label: 'Cluster', search: true,
          sortValue: function (o) { return o.cluster_client_id + '\u0000' + (o.account === null ? '' : '\u0001' + o.account); } },
        { key: 'account', label: 'Project', search: true, cell: function (o) { return o.account === null ? '(cluster)' : o.account; } },
        { key: 'share', label: 'Share', num: true },
        { key: 'max_use', label: 'Max use', num: true, cell: function (o) { return o.max_use === null ? 'none' : number(o.max_use); } },
        { key: 'entitled', label: 'Entitled', num: true },
        { key: 'in_use', label: 'In use', num: true },
        { key: 'demand', label: 'Demand', num: true },
        { key: 'waiting', label: 'Waiting', num: true }
      ], rows)];
  }

  var cleanups = [];

  // uPlot over GET /reports/usage: one point per hour or day; data-points on the box says how
  // many (the tests read it, and the uPlot instance is the box's uplot property)
  function chart(pf, p) {
    var box = el('div', { id: 'usage-chart', className: 'chart', 'data-points': '' });
    var note = el('p', { className: 'muted', id: 'usage-note', text: 'Loading…' });
    api('/reports/usage?by=' + p.by + '&product_feature=' + encodeURIComponent(pf) + '&since=' + encodeURIComponent(p.since.toISOString())
      + '&until=' + encodeURIComponent(p.until.toISOString())).then(function (r) {
      var rows = r.body;
      box.setAttribute('data-points', String(rows.length));
      var span = when(p.since.toISOString()) + ' – ' + when(p.until.toISOString());
      if (!rows.length) {
        note.textContent = 'No usage recorded from ' + span + '.';
        return;
      }
      note.textContent = 'Maxima per ' + p.by + ' (UTC ' + p.by + 's), ' + span + '. External: used by no job License Manager knows; demand: what pending and refused jobs ask for; queued: the license server\'s queue.';
      var data = [rows.map(function (x) { return new Date(x.period_start).getTime() / 1000; })].concat(SERIES.map(function (s) {
        return rows.map(function (x) { return x[s.key] === null || x[s.key] === undefined ? null : Number(x[s.key]); });
      }));
      var fmt = function (u, v) { return v === null || v === undefined ? '–' : numbers.format(v); };
      var u = new uPlot({
        width: Math.max(280, box.clientWidth || main.clientWidth - 40), height: 300,
        series: [{ label: 'Time', value: function (u, v) { return v === null ? '–' : when(new Date(v * 1000).toISOString()); } }]
          .concat(SERIES.map(function (s) {
            return { label: s.label, stroke: s.color, width: 2, value: fmt, points: { show: rows.length < 60 } };
          })),
        axes: [{}, { size: 60, values: function (u, splits) { return splits.map(function (v) { return numbers.format(v); }); } }],
        scales: { y: { range: function (u, min, max) { return [0, Math.max(1, (max || 0) * 1.05)]; } } }
      }, data, box);
      box.uplot = u;
      var resize = function () {
        u.setSize({ width: Math.max(280, box.clientWidth), height: 300 });
      };
      window.addEventListener('resize', resize);
      cleanups.push(function () {
        window.removeEventListener('resize', resize);
        u.destroy();
      });
    }, function (e) {
      box.setAttribute('data-points', '0');
      if (e instanceof LoginNeeded) {
        loginPage(e.message);
      } else {
        note.replaceChildren(message(e instanceof ApiError && e.status === 403 ? 'Not allowed: ' + e.message : 'Could not load the usage: ' + e.message, true));
      }
    });
    return [note, box];
  }

  // ------------------------------------------------------------------ lists paged by the server

  /**
   * A table over a list route of the API: its search, sort (sort_field, sort_ascending) and
   * paging (limit, offset) happen on the server, and their state is in the address
   * (#/denials?search=…&sort=…&asc=…&page=…), so the back button and bookmarks keep it.
   * columns: [{key, label, num, sort: the API's sort_field or none, cell(row)}]. A From and a
   * To day (from=, to= in the address, days of the browser's time zone, To included) become the
   * route's since and until; left empty, the route's own default period applies.
   */
  function pagedTable(pageName, route, params, columns, defaultSort) {
    var size = 25;
    var search = params.get('search') || '';
    var from = day(params.get('from'));
    var to = day(params.get('to'));
    var sort = params.get('sort') || defaultSort.key;
    var ascending = params.has('asc') ? params.get('asc') === 'true' : defaultSort.ascending;
    var page = Math.max(1, parseInt(params.get('page'), 10) || 1);
    function link(changes) {
      var q = { search: search, from: from, to: to, sort: sort, asc: String(ascending), page: String(page) };
      Object.keys(changes).forEach(function (k) { q[k] = changes[k]; });
      ['search', 'from', 'to'].forEach(function (k) {
        if (!q[k]) {
          delete q[k];
        }
      });
      return '#/' + pageName + '?' + new URLSearchParams(q).toString();
    }
    var query = '?limit=' + size + '&offset=' + (page - 1) * size + '&sort_field=' + encodeURIComponent(sort)
      + '&sort_ascending=' + ascending + (search ? '&search=' + encodeURIComponent(search) : '')
      + (from ? '&since=' + encodeURIComponent(new Date(from + 'T00:00').toISOString()) : '')
      + (to ? '&until=' + encodeURIComponent(new Date(new Date(to + 'T00:00').getTime() + 86400e3).toISOString()) : '');
    return api(route + query).then(function (r) {
      var total = r.total;
      var pages = Math.max(1, Math.ceil(total / size));
      var heads = columns.map(function (c) {
        return el('th', { scope: 'col', className: c.num ? 'num' : null, 'data-key': c.key,
          'aria-sort': c.sort === sort ? (ascending ? 'ascending' : 'descending') : c.sort ? 'none' : null },
        c.sort ? el('button', { type: 'button', id: pageName + '-sort-' + c.key, text: c.label, onclick: function () {
          location.hash = link({ sort: c.sort, asc: String(c.sort === sort ? !ascending : true), page: '1' });
        } }) : c.label);
      });
      var rows = r.body.map(function (x) {
        return el('tr', null, columns.map(function (c) {
          var v = c.cell ? c.cell(x) : x[c.key];
          return el('td', { className: c.num ? 'num' + (v < 0 ? ' negative' : '') : null },
            c.num && typeof v === 'number' ? number(v) : v === null || v === undefined ? '–' : v);
        }));
      });
      var input = el('input', { type: 'search', id: pageName + '-search', value: search, placeholder: 'Search', 'aria-label': 'Search' });
      var fromInput = el('input', { type: 'date', id: pageName + '-from', value: from, 'aria-label': 'From (day)' });
      var toInput = el('input', { type: 'date', id: pageName + '-to', value: to, 'aria-label': 'To (day, included)' });
      var first = total ? (page - 1) * size + 1 : 0;
      var position = el('span', { className: 'muted', id: pageName + '-position', 'aria-live': 'polite',
        text: (total ? 'Rows ' + number(first) + '–' + number(first + r.body.length - 1) + ' of ' + number(total) : 'No rows')
          + ' · page ' + number(page) + ' of ' + number(pages) });
      function go(n) {
        return function () {
          location.hash = link({ page: String(n) });
        };
      }
      var pager = el('div', { className: 'pager' },
        el('button', { type: 'button', id: pageName + '-first', text: '« First', disabled: page <= 1, onclick: go(1) }),
        el('button', { type: 'button', id: pageName + '-previous', text: '‹ Previous', disabled: page <= 1, onclick: go(page - 1) }),
        position,
        el('button', { type: 'button', id: pageName + '-next', text: 'Next ›', disabled: page >= pages, onclick: go(page + 1) }),
        el('button', { type: 'button', id: pageName + '-last', text: 'Last »', disabled: page >= pages, onclick: go(pages) }));
      return [el('form', { className: 'toolbar', role: 'search', onsubmit: function (e) {
        e.preventDefault();
        search = input.value.trim();
        from = day(fromInput.value);
        to = day(toInput.value);
        location.hash = link({ page: '1' });
      } }, input, el('label', null, 'From ', fromInput), el('label', null, 'To ', toInput),
      el('button', { type: 'submit', id: pageName + '-search-button', text: 'Search' })),
      el('div', { className: 'scroll' }, el('table', { id: pageName }, el('thead', null, el('tr', null, heads)), el('tbody', null, rows))),
      pager];
    });
  }

  // a YYYY-MM-DD day, or '' for anything else (an address edited by hand)
  function day(v) {
    return v && /^\d{4}-\d{2}-\d{2}$/.test(v) && !isNaN(new Date(v + 'T00:00')) ? v : '';
  }

  // a paged table's column in the client-side table()
  function clientColumn(c) {
    return { key: c.key, label: c.label, num: c.num, search: !c.num, cell: c.cell,
      cellClass: c.num ? function (x) { return x[c.key] < 0 ? 'negative' : ''; } : null,
      sortValue: c.key === 'slurm_job_id' ? function (x) { return Number(x.slurm_job_id); } : null };
  }

  function denialColumns() {
    return [
      { key: 'last_at', label: 'Last refused', sort: 'last_at', cell: function (d) { return at(d.last_at); } },
      { key: 'product_feature', label: 'License', sort: 'product_feature' },
      { key: 'cluster_client_id', label: 'Cluster', sort: 'cluster_client_id' },
      { key: 'slurm_job_id', label: 'Job', sort: 'slurm_job_id' },
      { key: 'username', label: 'User', sort: 'username' },
      { key: 'account', label: 'Account', sort: 'account' },
      { key: 'requested', label: 'Requested', num: true, sort: 'requested' },
      { key: 'available', label: 'Available', num: true, sort: 'available' },
      { key: 'reason', label: 'Reason', sort: 'reason' },
      { key: 'count', label: 'Times', num: true, sort: 'count' },
      { key: 'first_at', label: 'First refused', sort: 'first_at', cell: function (d) { return at(d.first_at); } }
    ];
  }

  function denialsPage(arg, params) {
    return pagedTable('denials', '/denials', params, denialColumns(), { key: 'last_at', ascending: false }).then(function (t) {
      nav('denials');
      show(el('h1', { text: 'Denials' }),
        el('p', { className: 'muted', text: 'Every refusal of a job\'s licenses, one row per job and license; a job refused again counts again. Reason pool: not enough free; share or max_use: the fair-share rule. Search covers cluster, job, user, account, license and reason.' }),
        t);
    });
  }

  function jobHistoryPage(arg, params) {
    return pagedTable('jobs', '/job_history', params, [
      { key: 'released_at', label: 'Ended', sort: 'released_at', cell: function (j) { return at(j.released_at); } },
      { key: 'cluster_client_id', label: 'Cluster', sort: 'cluster_client_id' },
      { key: 'slurm_job_id', label: 'Job', sort: 'slurm_job_id' },
      { key: 'username', label: 'User', sort: 'username' },
      { key: 'account', label: 'Account', sort: 'account' },
      { key: 'lead_host', label: 'Lead host', sort: 'lead_host' },
      { key: 'bookings', label: 'Licenses', cell: function (j) {
        return j.bookings.map(function (b) { return b.product_feature + ' × ' + number(b.quantity); }).join(', ');
      } },
      { key: 'booked_at', label: 'Started', sort: 'booked_at', cell: function (j) { return at(j.booked_at); } },
      { key: 'duration', label: 'Ran', num: true, cell: function (j) {
        return duration((new Date(j.released_at) - new Date(j.booked_at)) / 1000);
      } },
      { key: 'reason', label: 'Ended by', sort: 'reason' }
    ], { key: 'released_at', ascending: false }).then(function (t) {
      nav('jobs');
      show(el('h1', { text: 'Job history' }),
        el('p', { className: 'muted', text: 'Jobs that ended, with the licenses they booked. Ended by epilog: the job\'s epilog; ended: the agent saw it gone; requeue, forced, offline: see lm-server(8). Search covers cluster, job, user, account, host, reason and licenses.' }),
        t);
    });
  }

  function usersPage(arg, params) {
    return pagedTable('users', '/reports/users', params, [
      { key: 'username', label: 'User', sort: 'username' },
      { key: 'product_feature', label: 'License', sort: 'product_feature' },
      { key: 'license_hours', label: 'License-hours', num: true, sort: 'license_hours' }
    ], { key: 'license_hours', ascending: false }).then(function (t) {
      nav('users');
      show(el('h1', { text: 'Usage by user' }),
        el('p', { className: 'muted', text: 'License-hours each user had checked out per license, as the license servers reported them (in jobs or not), most first. Without From and To: the last 7 days. Search covers user and license.' }),
        t);
    });
  }

  // ------------------------------------------------------------------ routing

  // #/name[/arg][?query]
  var pages = { pools: function (arg, params) { return arg ? poolPage(arg, params) : poolsPage(); },
    clusters: clustersPage, denials: denialsPage, jobs: jobHistoryPage, users: usersPage };
  var wanted = null;

  function nav(page) {
    document.getElementById('nav').hidden = !page;
    document.getElementById('logout').hidden = !page;
    document.querySelectorAll('#nav a[data-page]').forEach(function (a) {
      if (a.getAttribute('data-page') === page) {
        a.setAttribute('aria-current', 'page');
      } else {
        a.removeAttribute('aria-current');
      }
    });
  }

  function route() {
    var tokenInAddress = dropTokenFromAddress();
    while (cleanups.length) {
      cleanups.pop()();
    }
    wanted = location.hash.replace(/^#\/?/, '') || 'pools';
    var path = wanted.split('?')[0].split('/');
    var name = path[0] || 'pools';
    var params = new URLSearchParams(wanted.split('?')[1] || '');
    if (tokenInAddress) {
      loginPage('That address held a token. Addresses are kept in the browser\'s history, so this page does not take'
        + ' tokens from them: paste the token below instead, and have it revoked (lm-server token revoke) if others'
        + ' may read this browser\'s history.');
      return;
    }
    if (!token() || name === 'login') {
      loginPage(token() ? null : (name === 'login' ? null : 'Log in to see this page.'));
      return;
    }
    var c = claims(token());
    if (c && c.exp && c.exp * 1000 < Date.now()) {
      sessionStorage.removeItem(TOKEN);
      loginPage('Your token expired ' + when(new Date(c.exp * 1000).toISOString()) + '. Give a new one.');
      return;
    }
    var page = pages[name];
    if (!page) {
      nav('none');
      show(message('There is no page "' + name + '".', true));
      return;
    }
    // a control that changed the address (a sort header, Next) keeps the focus on the new page
    var focused = document.activeElement && document.activeElement.id;
    show(el('p', { className: 'muted', text: 'Loading…' }));
    page(path[1], params).then(function () {
      var again = focused && document.getElementById(focused);
      if (again && !again.disabled) {
        again.focus();
      } else if (again) {
        // Next on the last page: disabled now, so the page itself (the next Tab reaches Previous)
        main.focus();
      }
    }, function (e) {
      if (e instanceof LoginNeeded) {
        loginPage(e.message);
      } else if (e instanceof ApiError && e.status === 403) {
        nav(name);
        show(el('h1', { text: 'Not allowed' }),
          message('Your token may not read this page: ' + e.message + '. Ask an administrator for a token with that permission (the reader role has every read permission).', true));
      } else {
        nav(name);
        show(message('Could not load this page: ' + (e.message || e), true));
      }
    });
  }

  document.getElementById('logout').addEventListener('click', function () {
    sessionStorage.removeItem(TOKEN);
    location.hash = '#/login';
  });
  document.getElementById('zone').textContent = 'Times are in your time zone (' + offset(new Date()) + ').';
  window.addEventListener('hashchange', route);
  var returning = finishLogin();
  if (returning) {
    returning.then(route, function (e) {
      loginPage(e.message || String(e));
    });
  } else {
    route();
  }
}());
