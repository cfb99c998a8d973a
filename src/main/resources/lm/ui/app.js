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

  // #token=… (kiosks, tests): into sessionStorage, and out of the address bar and history
  function takeTokenFromFragment() {
    var m = /^#token=([^&]*)(?:&page=(.*))?$/.exec(location.hash);
    if (m) {
      sessionStorage.setItem(TOKEN, decodeURIComponent(m[1]));
      history.replaceState(null, '', location.pathname + location.search + '#/' + (m[2] || 'pools'));
    }
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
      [].concat(arguments[i]).forEach(function (c) {
        if (c !== null && c !== undefined) {
          e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
        }
      });
    }
    return e;
  }

  // show(node, [nodes], …): the page's content, in order
  function show() {
    main.replaceChildren.apply(main, [].concat.apply([], arguments));
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
      count.textContent = shown.length === rows.length ? rows.length + ' rows' : shown.length + ' of ' + rows.length + ' rows';
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
        { key: 'product_feature', label: 'License', search: true },
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
        { key: 'bar', label: 'Use', sortValue: function (p) { return p.total ? (p.used + p.booked + p.reserved) / p.total : 0; },
          cell: bar }
      ];
      nav('pools');
      show(el('h1', { text: 'Pools' }),
        el('p', { className: 'muted', text: 'One row per license pool: the same product.feature on the same license server, whichever clusters share it. Available = total − reserved − used − booked.' }),
        legend(), table('pools', columns, rows));
    });
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
          late: age > 3 * c.interval };
      });
      nav('clusters');
      show(el('h1', { text: 'Clusters' }),
        el('p', { className: 'muted', text: 'Each cluster\'s lm-agent and when it last reported. Late: no report for three intervals.' }),
        table('clusters', [
          { key: 'cluster_client_id', label: 'Cluster', search: true },
          { key: 'last_reported', label: 'Last report', cell: function (c) { return when(c.last_reported); } },
          { key: 'age', label: 'Age', num: true, cell: function (c) { return duration(c.age); } },
          { key: 'interval', label: 'Interval', num: true, cell: function (c) { return duration(c.interval); } },
          { key: 'late', label: 'State', cell: function (c) {
            return c.late ? el('span', { className: 'badge held', text: 'late' }) : el('span', { className: 'badge ok', text: 'ok' });
          } }
        ], rows));
    });
  }

  // ------------------------------------------------------------------ routing

  var pages = { pools: poolsPage, clusters: clustersPage };
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
    takeTokenFromFragment();
    var name = location.hash.replace(/^#\/?/, '').split('?')[0] || 'pools';
    wanted = name;
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
    show(el('p', { className: 'muted', text: 'Loading…' }));
    page().catch(function (e) {
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
  route();
}());
